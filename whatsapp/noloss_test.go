package whatsapp

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/status"
	"maunium.net/go/mautrix/event"
)

// failFirst makes the next n hand-offs of a client to bridgev2 fail (with an error not known as
// transient) or panic, then lets events through again.
func failFirst(c *Client, n int32, panics bool) *atomic.Int32 {
	return failFirstWith(c, n, panics, errors.New("simulated failure"))
}

// failFirstWith is failFirst with the error the failed hand-offs report.
func failFirstWith(c *Client, n int32, panics bool, failure error) *atomic.Int32 {
	var left atomic.Int32
	left.Store(n)
	queue := c.queue
	c.queue = func(evt bridgev2.RemoteEvent) bridgev2.EventHandlingResult {
		if evt.GetType() == bridgev2.RemoteEventMessageUpsert && left.Add(-1) >= 0 {
			if panics {
				panic("simulated bug while handling a WhatsApp message")
			}
			return bridgev2.EventHandlingResultFailed.WithError(failure)
		}
		return queue(evt)
	}
	return &left
}

// journalLen is how many events of the fixture's login wait in the inbound journal.
func (f *dmFixture) journalLen(t *testing.T) int {
	t.Helper()
	return len(f.journalSeqs(t))
}

// journalSeqs lists the positions of the journal's rows.
func (f *dmFixture) journalSeqs(t *testing.T) []int64 {
	t.Helper()
	c := f.login.Client.(*Client)
	entries, err := f.wa.Devices.PendingInbound(f.ctx, *c.WA.Store.ID)
	if err != nil {
		t.Fatal(err)
	}
	seqs := make([]int64, 0, len(entries))
	for _, e := range entries {
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

// waitJournalLen waits until the journal holds n events.
func (f *dmFixture) waitJournalLen(t *testing.T, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.journalLen(t) != n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if seqs := f.journalSeqs(t); len(seqs) != n {
		q := &f.login.Client.(*Client).inbound
		q.mu.Lock()
		state := fmt.Sprintf("queued %d, in flight %v, handled not yet deleted %v", len(q.items), q.inFlight, q.handled)
		q.mu.Unlock()
		t.Fatalf("%s: the journal holds %d event(s) (positions %v), want %d; the queue: %s", what, len(seqs), seqs, n, state)
	}
}

// serverHolds waits up to 10 s, while more is true, for the server to hold nothing more for
// the device, and returns how many stanzas it still holds for it.
func (f *dmFixture) serverHolds(dev types.JID, more func() bool) int {
	deadline := time.Now().Add(10 * time.Second)
	for (more() || f.srv.QueuedCount(dev) > 0) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return f.srv.QueuedCount(dev)
}

// failedHandOff has Bob send text, whose hand-off to bridgev2 fails (or panics) once, and checks
// that WhatsApp was told it arrived (the server no longer holds it) and that it is journaled.
func (f *dmFixture) failedHandOff(t *testing.T, c *Client, panics bool, text string) {
	t.Helper()
	left := failFirst(c, 1, panics)
	dev := *c.WA.Store.ID
	f.bobSends(&waE2E.Message{Conversation: proto.String(text)})
	n := f.serverHolds(dev, func() bool { return left.Load() > 0 })
	if left.Load() > 0 {
		t.Fatal("the message never reached bridgev2")
	}
	if n != 0 {
		t.Fatalf("the server still holds %d stanza(s): the journaled message was not acknowledged", n)
	}
	f.waitJournalLen(t, 1, "after the failed hand-off")
}

// TestFailedHandOffStaysJournaled: a message whose hand-off to bridgev2 fails (or panics) was
// acknowledged to WhatsApp, which no longer holds it, but stays in the inbound journal; it is
// offered again at the next connection and then arrives exactly once, and leaves the journal.
func TestFailedHandOffStaysJournaled(t *testing.T) {
	for _, panics := range []bool{false, true} {
		name := "error"
		if panics {
			name = "panic"
		}
		t.Run(name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, db *dbutil.Database) {
				f := newDM(t, db)
				c := f.login.Client.(*Client)
				dev := *c.WA.Store.ID
				f.failedHandOff(t, c, panics, "must not be lost")
				// A network drop; at the new connection the journal is offered again.
				if err := f.srv.Disconnect(dev); err != nil {
					t.Fatal(err)
				}
				_, next := f.mx.waitEvent(t, 0, "the journaled message", func(e sentEvent) bool {
					return e.Type == event.EventMessage && e.Message().Body == "must not be lost"
				})
				f.bobSends(&waE2E.Message{Conversation: proto.String("after")})
				f.mx.waitEvent(t, next, "the next message", func(e sentEvent) bool {
					return e.Type == event.EventMessage && e.Message().Body == "after"
				})
				count := f.mx.count(func(e sentEvent) bool {
					return e.Type == event.EventMessage && e.Message().Body == "must not be lost"
				})
				if count != 1 {
					t.Errorf("message bridged %d times, want once", count)
				}
				f.waitJournalLen(t, 0, "once everything was bridged")
			})
		})
	}
}

// TestJournaledMessageSurvivesRestart: a message acknowledged to WhatsApp but not yet bridged
// when the bridge stops is bridged by the next bridge process, once, before newer messages.
func TestJournaledMessageSurvivesRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		f.failedHandOff(t, c, false, "acknowledged, not bridged")
		f.stop()
		f.bobSends(&waE2E.Message{Conversation: proto.String("sent while stopped")})
		f.start()
		f.mx.waitState(t, f.login.ID, status.StateConnected, "")
		_, next := f.mx.waitEvent(t, 0, "the journaled message", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "acknowledged, not bridged"
		})
		f.mx.waitEvent(t, next, "the newer message, after it", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "sent while stopped"
		})
		if n := f.mx.count(func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "acknowledged, not bridged"
		}); n != 1 {
			t.Errorf("journaled message bridged %d times, want once", n)
		}
		f.waitJournalLen(t, 0, "once everything was bridged")
	})
}

// TestTransientHandOffFailureIsRetried: a message bridgev2 refused because the database was
// briefly unreachable is offered again at once, without waiting for WhatsApp to deliver it again
// (which it does only at the next login), and then acknowledged.
func TestTransientHandOffFailureIsRetried(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		left := failFirstWith(c, 2, false, fmt.Errorf("save message: %w", bridgev2.ErrDatabaseError))
		dev := *c.WA.Store.ID
		f.bobSends(&waE2E.Message{Conversation: proto.String("during a database restart")})
		f.mx.waitEvent(t, 0, "the message, without a reconnect", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "during a database restart"
		})
		if left.Load() >= 0 {
			t.Errorf("%d simulated failures left, want both used", left.Load()+1)
		}
		if n := f.serverHolds(dev, func() bool { return false }); n != 0 {
			t.Errorf("server still holds %d stanza(s) for the device: the message was never acknowledged", n)
		}
	})
}

// TestMessagesWhileBridgeDown: messages sent while the bridge is stopped arrive after it starts.
func TestMessagesWhileBridgeDown(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		f.bobSends(&waE2E.Message{Conversation: proto.String("before")})
		f.mx.waitEvent(t, 0, "first message", func(e sentEvent) bool { return e.Type == event.EventMessage })
		f.stop()
		for _, text := range []string{"while down 1", "while down 2"} {
			f.bobSends(&waE2E.Message{Conversation: proto.String(text)})
		}
		f.start()
		f.mx.waitState(t, f.login.ID, status.StateConnected, "")
		_, next := f.mx.waitEvent(t, 0, "first offline message", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "while down 1"
		})
		f.mx.waitEvent(t, next, "second offline message, in order", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "while down 2"
		})
	})
}

// TestUnjournaledMessageIsBridgedBeforeAck: a message whose journal row cannot be written is
// still bridged, once, and acknowledged only after bridgev2 took it; the journal works again
// once the database does.
func TestUnjournaledMessageIsBridgedBeforeAck(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		dev := *f.login.Client.(*Client).WA.Store.ID
		body := func(text string) func(e sentEvent) bool {
			return func(e sentEvent) bool { return e.Type == event.EventMessage && e.Message().Body == text }
		}
		f.bobSends(&waE2E.Message{Conversation: proto.String("journaled")})
		_, next := f.mx.waitEvent(t, 0, "the first message", body("journaled"))
		f.waitJournalLen(t, 0, "after the first message")

		rename := func(from, to string) {
			t.Helper()
			if _, err := db.Exec(f.ctx, "ALTER TABLE "+from+" RENAME TO "+to); err != nil {
				t.Fatal(err)
			}
		}
		rename("passerelle_wa_inbound", "passerelle_wa_inbound_away")
		f.bobSends(&waE2E.Message{Conversation: proto.String("not journaled")})
		_, next = f.mx.waitEvent(t, next, "the message that could not be journaled", body("not journaled"))
		if n := f.serverHolds(dev, func() bool { return false }); n != 0 {
			t.Errorf("the server still holds %d stanza(s): the bridged message was not acknowledged", n)
		}
		rename("passerelle_wa_inbound_away", "passerelle_wa_inbound")

		f.bobSends(&waE2E.Message{Conversation: proto.String("journaled again")})
		f.mx.waitEvent(t, next, "the next message", body("journaled again"))
		if n := f.mx.count(body("not journaled")); n != 1 {
			t.Errorf("message bridged %d times, want once", n)
		}
		f.waitJournalLen(t, 0, "at the end")
	})
}

// TestDisconnectEndsInboundQueue: a disconnect (also what a logout or a bridge stop does) ends
// the login's queue worker and deleter, so a login that is let go leaves no goroutine behind; a
// message that arrives after the next connect is bridged as before.
func TestDisconnectEndsInboundQueue(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		f.bobSends(&waE2E.Message{Conversation: proto.String("before the disconnect")})
		_, next := f.mx.waitEvent(t, 0, "the first message", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "before the disconnect"
		})
		c.Disconnect()
		ended := make(chan struct{})
		go func() { c.inbound.workers.Wait(); close(ended) }()
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatal("the queue's goroutines still run 10 s after the disconnect")
		}
		c.Connect(f.ctx)
		f.mx.waitState(t, f.login.ID, status.StateConnected, "")
		f.bobSends(&waE2E.Message{Conversation: proto.String("after the reconnect")})
		f.mx.waitEvent(t, next, "the message after the reconnect", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "after the reconnect"
		})
		f.waitJournalLen(t, 0, "once everything was bridged")
	})
}

// TestDisconnectEndsHandOffWait: a message bridgev2 keeps refusing for a transient reason is
// offered again until the login disconnects; then the wait ends at once instead of outlasting
// the login for HandOffWait, the message stays in the journal, and the next connect bridges it.
func TestDisconnectEndsHandOffWait(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		const many = 1 << 30
		left := failFirstWith(c, many, false, fmt.Errorf("save message: %w", bridgev2.ErrDatabaseError))
		f.bobSends(&waE2E.Message{Conversation: proto.String("refused until the disconnect")})
		// Five offers: the pause before the sixth is the longest (seconds), which the disconnect
		// must cut short.
		deadline := time.Now().Add(20 * time.Second)
		for many-left.Load() < 5 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if tries := many - left.Load(); tries < 5 {
			t.Fatalf("%d hand-offs in 20 s, want the refused message offered again", tries)
		}
		stopped := time.Now()
		c.Disconnect()
		c.inbound.workers.Wait()
		if waited := time.Since(stopped); waited > time.Second {
			t.Errorf("the queue ended %s after the disconnect, want at once (HandOffWait is %s)", waited, HandOffWait)
		}
		tries := many - left.Load()
		time.Sleep(time.Second)
		if after := many - left.Load(); after != tries {
			t.Errorf("%d more hand-offs after the disconnect", after-tries)
		}
		if n := f.journalLen(t); n != 1 {
			t.Fatalf("%d events in the journal after the disconnect, want the refused message", n)
		}
		left.Store(0)
		c.Connect(f.ctx)
		f.mx.waitEvent(t, 0, "the refused message after the reconnect", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "refused until the disconnect"
		})
		f.waitJournalLen(t, 0, "once it was bridged")
	})
}
