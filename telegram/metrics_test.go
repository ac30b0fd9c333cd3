package telegram

import (
	"context"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	dto "github.com/prometheus/client_model/go"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"

	"github.com/passerelle-bridge/passerelle/metrics"
)

// counter reads passerelle_messages_total for one label set from the exported registry.
func counter(t *testing.T, dir metrics.Direction, kind, outcome string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"network": metricsNetwork, "direction": string(dir), "kind": kind, "outcome": outcome}
	for _, f := range families {
		if f.GetName() != "passerelle_messages_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelsMatch(m.GetLabel(), want) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labelsMatch(labels []*dto.LabelPair, want map[string]string) bool {
	if len(labels) != len(want) {
		return false
	}
	for _, l := range labels {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

// TestMetricsCountTelegramEvents hands a real Telegram update to a real bridgev2.Bridge and a
// real Matrix message to the connector, and reads the counters from metrics.Registry. The bridge
// here has no portal tables (no Matrix side in a unit test), so the hand-off fails: the message
// is counted as failed, and the update state is held so it comes again.
func TestMetricsCountTelegramEvents(t *testing.T) {
	ctx := context.Background()
	c := handOffClient(t)

	failedBefore := counter(t, metrics.ToMatrix, "message", "failed")
	okBefore := counter(t, metrics.ToMatrix, "message", "ok")
	update := &tg.Updates{
		Updates: []tg.UpdateClass{&tg.UpdateNewMessage{Message: &tg.Message{
			ID: 7, PeerID: &tg.PeerUser{UserID: 2000}, FromID: &tg.PeerUser{UserID: 2000},
			Message: "bonjour", Date: int(time.Now().Unix()),
		}}},
		Users: []tg.UserClass{&tg.User{ID: 2000, FirstName: "Bob"}},
	}
	if err := c.handleUpdates(ctx, update); err == nil {
		t.Fatal("a bridge without portal tables took the message")
	}
	if got := counter(t, metrics.ToMatrix, "message", "failed") - failedBefore; got != 1 {
		t.Fatalf("to_matrix message failed counter moved by %v, want 1", got)
	}
	if got := counter(t, metrics.ToMatrix, "message", "ok") - okBefore; got != 0 {
		t.Fatalf("a failed hand-off was counted as ok (%v)", got)
	}
	if !c.gate.Held() {
		t.Fatal("failed hand-off did not hold the update state")
	}

	// Matrix → Telegram: a message to a room that is no Telegram chat fails and is counted.
	remoteBefore := counter(t, metrics.ToRemote, "message", "failed")
	msg := &bridgev2.MatrixMessage{}
	msg.Portal = &bridgev2.Portal{Portal: &database.Portal{PortalKey: networkid.PortalKey{ID: "not-a-telegram-chat"}}}
	if _, err := c.HandleMatrixMessage(ctx, msg); err == nil {
		t.Fatal("message to a non-Telegram portal was accepted")
	}
	if got := counter(t, metrics.ToRemote, "message", "failed") - remoteBefore; got != 1 {
		t.Fatalf("to_remote message failed counter moved by %v, want 1", got)
	}
}
