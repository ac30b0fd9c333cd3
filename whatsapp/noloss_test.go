package whatsapp

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waE2E"
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

// TestFailedHandOffIsRedelivered: a message whose hand-off to bridgev2 fails (or panics) is not
// acknowledged, so the server keeps it and delivers it again; it then arrives exactly once.
func TestFailedHandOffIsRedelivered(t *testing.T) {
	for _, panics := range []bool{false, true} {
		name := "error"
		if panics {
			name = "panic"
		}
		t.Run(name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, db *dbutil.Database) {
				f := newDM(t, db)
				c := f.login.Client.(*Client)
				left := failFirst(c, 1, panics)
				dev := *c.WA.Store.ID

				f.bobSends(&waE2E.Message{Conversation: proto.String("must not be lost")})
				deadline := time.Now().Add(10 * time.Second)
				for left.Load() > 0 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if left.Load() > 0 {
					t.Fatal("the message never reached the bridge")
				}
				if n := f.srv.QueuedCount(dev); n == 0 {
					t.Fatal("the failed message was acknowledged: the server no longer holds it")
				}
				// A network drop; whatsmeow reconnects and the server delivers the queue again.
				if err := f.srv.Disconnect(dev); err != nil {
					t.Fatal(err)
				}
				_, next := f.mx.waitEvent(t, 0, "the redelivered message", func(e sentEvent) bool {
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
			})
		})
	}
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
		deadline := time.Now().Add(10 * time.Second)
		for f.srv.QueuedCount(dev) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := f.srv.QueuedCount(dev); n != 0 {
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
