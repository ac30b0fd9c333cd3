package telegram

import (
	"context"

	"github.com/gotd/contrib/middleware/floodwait"
	"github.com/gotd/td/bin"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// floodObserver reports every FLOOD_WAIT answer before the waiter outside it waits it out:
// the flood-wait metric and a long wait's message status come from here.
func floodObserver(report func(ctx context.Context, wait floodwait.FloodWait)) telegram.Middleware {
	return telegram.MiddlewareFunc(func(next tg.Invoker) telegram.InvokeFunc {
		return func(ctx context.Context, input bin.Encoder, output bin.Decoder) error {
			err := next.Invoke(ctx, input, output)
			if d, ok := tgerr.AsFloodWait(err); ok {
				report(ctx, floodwait.FloodWait{Duration: d})
			}
			return err
		}
	})
}
