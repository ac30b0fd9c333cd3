package whatsapp

import (
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/metrics"
)

// counterValue reads passerelle_messages_total for WhatsApp, a direction, kind and outcome.
func counterValue(t *testing.T, dir metrics.Direction, kind, outcome string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	want := map[string]string{"network": metricsNetwork, "direction": string(dir), "kind": kind, "outcome": outcome}
	for _, fam := range families {
		if fam.GetName() != "passerelle_messages_total" {
			continue
		}
	series:
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// waitCounter waits until a counter reaches want: the Matrix side records a bridged event while
// the connector's hand-off (and so its count) is still returning.
func waitCounter(t *testing.T, dir metrics.Direction, kind, outcome string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := counterValue(t, dir, kind, outcome)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("passerelle_messages_total{network=wa,direction=%s,kind=%s,outcome=%s} = %v, want at least %v", dir, kind, outcome, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsCount: a message bridged each way moves passerelle_messages_total.
func TestMetricsCount(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		inBefore := counterValue(t, metrics.ToMatrix, "message", "ok")
		f.bobSends(&waE2E.Message{Conversation: proto.String("counted")})
		f.mx.waitEvent(t, 0, "Bob's message", func(e sentEvent) bool {
			return e.Sender == f.bobGhost && e.Type == event.EventMessage && e.Message().Body == "counted"
		})
		waitCounter(t, metrics.ToMatrix, "message", "ok", inBefore+1)

		outBefore := counterValue(t, metrics.ToRemote, "message", "ok")
		room := f.portalRoom(f.login, f.bobJID)
		from := len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "counted back"})
		f.bobReceives(from, "Alice's message", func(m *events.Message) bool { return m.Message.GetConversation() == "counted back" })
		waitCounter(t, metrics.ToRemote, "message", "ok", outBefore+1)
	})
}
