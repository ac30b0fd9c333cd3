package whatsapp

import (
	"context"
	"errors"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/socket"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/outbox"
	"github.com/passerelle-bridge/passerelle/portal"
)

// holdForOutbox queues a Matrix event in the outbox while the WhatsApp connection is down (or
// not logged in yet after a restart) or earlier events wait there; a non-nil result is the
// PENDING status to return to bridgev2.
func (c *Client) holdForOutbox(ctx context.Context, p *bridgev2.Portal, evt *event.Event) error {
	online := c.WA != nil && c.WA.IsLoggedIn()
	return outbox.For(c.Main.Bridge).Hold(ctx, c.UserLogin, p, evt, online, portal.WAUserID(c.ownJID()))
}

// requeueOnDisconnect (deferred by the handlers) puts the event in the outbox when its send failed
// because the connection broke rather than because WhatsApp refused it.
func (c *Client) requeueOnDisconnect(ctx context.Context, p *bridgev2.Portal, evt *event.Event, err *error) {
	if *err != nil && isConnectionError(*err) {
		*err = outbox.For(c.Main.Bridge).Requeue(ctx, c.UserLogin, p, evt, portal.WAUserID(c.ownJID()), *err)
	}
}

// isConnectionError tells a send that could not reach WhatsApp from a refusal.
func isConnectionError(err error) bool {
	var disconnected *whatsmeow.DisconnectedError
	return !errors.Is(err, outbox.ErrQueued) && (errors.Is(err, errNotConnected) ||
		errors.Is(err, whatsmeow.ErrNotConnected) || errors.Is(err, socket.ErrSocketClosed) ||
		errors.As(err, &disconnected))
}

// onConnected replays the outbox; called when WhatsApp reports the connection ready.
func (c *Client) onConnected() { outbox.For(c.Main.Bridge).Connected(c.UserLogin) }
