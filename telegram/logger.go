package telegram

import (
	"context"

	gotdlog "github.com/gotd/log"
	"github.com/rs/zerolog"
)

// gotdLogger feeds gotd's logging port into the bridge's zerolog, one level lower than gotd
// asks (gotd logs every reconnect at info), so the bridge log stays readable.
type gotdLogger struct{ l zerolog.Logger }

func newGotdLogger(l zerolog.Logger) gotdlog.Logger { return gotdLogger{l: l} }

func zerologLevel(level gotdlog.Level) zerolog.Level {
	switch {
	case level < gotdlog.LevelInfo:
		return zerolog.TraceLevel
	case level < gotdlog.LevelWarn:
		return zerolog.DebugLevel
	case level < gotdlog.LevelError:
		return zerolog.WarnLevel
	default:
		return zerolog.ErrorLevel
	}
}

func (g gotdLogger) Enabled(_ context.Context, level gotdlog.Level) bool {
	lvl := zerologLevel(level)
	return lvl >= g.l.GetLevel() && lvl >= zerolog.GlobalLevel()
}

func (g gotdLogger) Log(_ context.Context, level gotdlog.Level, msg string, attrs ...gotdlog.Attr) {
	ev := g.l.WithLevel(zerologLevel(level))
	if ev == nil {
		return
	}
	for _, a := range attrs {
		if a.Key != "" {
			ev = ev.Str(a.Key, a.Value.String())
		}
	}
	ev.Msg(msg)
}
