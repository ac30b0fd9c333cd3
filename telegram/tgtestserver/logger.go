package tgtestserver

import (
	"context"

	gotdlog "github.com/gotd/log"
	"github.com/rs/zerolog"
)

// gotdLogger feeds gotd's logging port into zerolog, so encoding failures
// inside tgtest (which otherwise fail silently) show in the test log.
type gotdLogger struct {
	l zerolog.Logger
}

func newGotdLogger(l zerolog.Logger) gotdlog.Logger { return gotdLogger{l: l} }

func zerologLevel(level gotdlog.Level) zerolog.Level {
	switch {
	case level < gotdlog.LevelInfo:
		return zerolog.DebugLevel
	case level < gotdlog.LevelWarn:
		return zerolog.InfoLevel
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
		if a.Key == "" {
			continue
		}
		ev = ev.Str(a.Key, a.Value.String())
	}
	ev.Msg(msg)
}
