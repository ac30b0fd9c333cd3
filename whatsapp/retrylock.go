package whatsapp

import (
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// RetryLockLimit bounds how long an answer to a retry receipt holds the device's crypto lock
// if whatsmeow never reports its end (see retryGuard): past it the lock is let go with an error
// in the log, so a changed whatsmeow can slow the device's sends and decryptions but never stop
// them.
var RetryLockLimit = 2 * time.Minute

// whatsmeow's own log lines that end its answer to a retry receipt, after PreRetryCallback: the
// re-encrypted message was sent, or handleRetryReceipt returned an error (every return after
// the callback does). They are how retryGuard learns that the answer is over; TestRetryHoldsCryptoLock
// fails if a whatsmeow upgrade changes them.
const (
	retrySentFormat   = "Sent retry #%d for %s/%s to %s"
	retryFailedFormat = "Failed to handle retry receipt for %s/%s from %s: %v"
)

// retryGuard makes whatsmeow's answer to a retry receipt take the device's crypto lock, as
// decryption and the connector's sends do (devicestore.CryptoLock). whatsmeow answers a retry
// receipt on a goroutine of its own and re-encrypts the message with the Signal session of the
// device that asked: a message from that contact decrypted, or one to them encrypted, at the
// same moment would read the same session, and one of the two writes would overwrite the other,
// so a chain counter is used twice and the contact's phone drops a message as "old counter".
//
// whatsmeow has no hook around the whole answer: PreRetryCallback runs right before the
// session is touched, and the answer ends with one of two log lines (retrySentFormat,
// retryFailedFormat) on the client's logger, which retryGuard wraps. The lock is taken in the
// callback and let go at that line; only one answer at a time holds it, and a hold that outlives
// RetryLockLimit is let go with an error logged.
type retryGuard struct {
	waLog.Logger
	lock *sync.Mutex
	log  zerolog.Logger

	mu   sync.Mutex
	hold *retryHold // the answer holding lock, if any
}

type retryHold struct {
	chat, id, sender string
	timer            *time.Timer
}

// guardRetries installs a retryGuard on cli for the device whose crypto lock is lock; a second
// call (a client made before pairing, guarded once its device has an ID) changes nothing.
func guardRetries(cli *whatsmeow.Client, lock *sync.Mutex, log zerolog.Logger) {
	if _, ok := cli.Log.(*retryGuard); ok {
		return
	}
	g := &retryGuard{Logger: cli.Log, lock: lock, log: log}
	cli.Log = g
	cli.PreRetryCallback = g.before
}

// before is whatsmeow's PreRetryCallback: it waits for the lock and lets the answer go on.
func (g *retryGuard) before(receipt *events.Receipt, id types.MessageID, _ int, _ *waE2E.Message) bool {
	g.lock.Lock()
	h := &retryHold{chat: receipt.Chat.String(), id: id, sender: receipt.Sender.String()}
	limit := RetryLockLimit
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold = h
	// Set under g.mu, which release takes first: the timer cannot fire into a half-made hold.
	h.timer = time.AfterFunc(limit, func() {
		if g.release(h) {
			g.log.Error().Str("chat", h.chat).Str("message_id", h.id).Str("sender", h.sender).
				Dur("limit", limit).
				Msg("whatsmeow did not report the end of its answer to a retry receipt; letting the device's crypto lock go")
		}
	})
	return true
}

// release lets the lock go if h still holds it.
func (g *retryGuard) release(h *retryHold) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hold != h {
		return false
	}
	g.hold = nil
	h.timer.Stop()
	g.lock.Unlock()
	return true
}

// ended lets the lock go if the answer for chat, id and sender holds it. A failure logged
// before the callback (no hold, or another answer's) changes nothing.
func (g *retryGuard) ended(chat, id, sender any) {
	g.mu.Lock()
	h := g.hold
	g.mu.Unlock()
	if h != nil && h.chat == fmt.Sprint(chat) && h.id == fmt.Sprint(id) && h.sender == fmt.Sprint(sender) {
		g.release(h)
	}
}

func (g *retryGuard) Debugf(msg string, args ...any) {
	g.Logger.Debugf(msg, args...)
	if msg == retrySentFormat && len(args) == 4 {
		g.ended(args[1], args[2], args[3])
	}
}

func (g *retryGuard) Errorf(msg string, args ...any) {
	g.Logger.Errorf(msg, args...)
	if msg == retryFailedFormat && len(args) == 4 {
		g.ended(args[0], args[1], args[2])
	}
}
