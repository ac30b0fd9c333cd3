package devicestore

import (
	"context"
	"sync"

	"github.com/passerelle-bridge/passerelle/delivery"
)

// whatsmeow encrypts a message for each of the recipient's devices in turn and skips a device
// whose encryption failed, with a warning, unless the send's context has ended; when every device
// failed it still sends the message, with no recipient. A database that is unreachable for a
// moment (restarting) thus made a send "succeed" while reaching nobody (seen in e2e's
// TestSoakWhatsApp: one Matrix message of a thousand lost across three PostgreSQL restarts). A
// guarded send ends its context at the first store failure for a transient reason, which makes
// whatsmeow give the send up, and the failure is reported as the send's error.

type sendGuardKey struct{}

// SendGuard watches the device store during one send.
type SendGuard struct {
	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
}

// GuardSend returns the context to send with and its guard; call Release when the send returned.
func GuardSend(ctx context.Context) (context.Context, *SendGuard) {
	ctx, cancel := context.WithCancel(ctx)
	g := &SendGuard{cancel: cancel}
	return context.WithValue(ctx, sendGuardKey{}, g), g
}

// Err is the first transient store failure during the send, nil when there was none.
func (g *SendGuard) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Release frees the send's context.
func (g *SendGuard) Release() { g.cancel() }

// guarded passes err through, ending the guarded send it happened in when it is transient.
func guarded(ctx context.Context, err error) error {
	if err == nil || !delivery.Transient(err) {
		return err
	}
	if g, ok := ctx.Value(sendGuardKey{}).(*SendGuard); ok {
		g.mu.Lock()
		if g.err == nil {
			g.err = err
		}
		g.mu.Unlock()
		g.cancel()
	}
	return err
}
