package telegram

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/gotd/td/rpc"
	"github.com/gotd/td/tgerr"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/outbox"
)

// holdForOutbox queues a Matrix event in the outbox while the Telegram connection is down or
// earlier events wait there; a non-nil result is the PENDING status to return to bridgev2.
func (c *Client) holdForOutbox(ctx context.Context, p *bridgev2.Portal, evt *event.Event) error {
	online := c.linkUp.Load() && c.currentAPI() != nil
	return outbox.For(c.main.Bridge).Hold(ctx, c.login, p, evt, online, c.selfUserID())
}

// requeueOnDisconnect (deferred by the handlers) puts the event in the outbox when its send failed
// because the connection broke rather than because Telegram refused it.
func (c *Client) requeueOnDisconnect(ctx context.Context, p *bridgev2.Portal, evt *event.Event, err *error) {
	if *err != nil && c.isConnectionError(*err) {
		if errors.Is(*err, ErrNotConnected) {
			*err = outbox.For(c.main.Bridge).Requeue(ctx, c.login, p, evt, c.selfUserID(), *err)
		} else {
			// The request may have reached Telegram before the connection broke.
			*err = outbox.For(c.main.Bridge).RequeueUncertain(ctx, c.login, p, evt, c.selfUserID(), *err)
		}
	}
}

// isConnectionError: Telegram's own refusals are RPC errors; a failure without one while the
// link is down (or the request could not reach Telegram) is the connection's. So is a request
// canceled under way: gotd ends a request waiting for a dead connection with "client closed:
// context canceled" when the client is restarted (after a failed update hand-off), which happens
// before the link is marked down; taken for a refusal, the message was lost (a CI soak).
func (c *Client) isConnectionError(err error) bool {
	if errors.Is(err, outbox.ErrQueued) {
		return false
	}
	var rpcErr *tgerr.Error
	if errors.As(err, &rpcErr) {
		return false
	}
	return errors.Is(err, ErrNotConnected) || errors.Is(err, rpc.ErrEngineClosed) ||
		errors.Is(err, context.Canceled) || !c.linkUp.Load()
}

// linkGrace is how long a request in flight waits for a lost connection to come back before it
// is given up to the outbox. gotd holds a request across reconnects, so without this a send cut
// off by an outage would wait, with no status in Matrix and the portal's other events behind it,
// until the network returned.
const linkGrace = 5 * time.Second

// whileLinked returns ctx, canceled once the link to Telegram has been down for linkGrace. The
// handler's error then counts as a connection error (the link is down) whose request may have
// left, so the event is queued as uncertain (RequeueUncertain). Call the stop function when done.
func (c *Client) whileLinked(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(linkGrace / 20)
		defer tick.Stop()
		var downSince time.Time
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				switch {
				case c.linkUp.Load():
					downSince = time.Time{}
				case downSince.IsZero():
					downSince = now
				case now.Sub(downSince) >= linkGrace:
					c.log.Info().Msg("The connection to Telegram is down with a request in flight; giving it to the outbox")
					cancel()
					return
				}
			}
		}
	}()
	return ctx, func() {
		close(done)
		cancel()
	}
}

// onConnected marks the link up and replays the outbox; called wherever CONNECTED is sent.
func (c *Client) onConnected() {
	c.linkUp.Store(true)
	outbox.For(c.main.Bridge).Connected(c.login)
}

// eventRandomID derives a send's random_id from the Matrix event ID, so Telegram refuses
// (RANDOM_ID_DUPLICATE) a second copy of the same event, e.g. one replayed after a crash.
func eventRandomID(evt *event.Event) int64 {
	if evt == nil || evt.ID == "" {
		return randomID()
	}
	sum := sha256.Sum256([]byte(evt.ID))
	return int64(binary.LittleEndian.Uint64(sum[:8]))
}
