package watestserver

import (
	"fmt"
	"testing"

	"go.mau.fi/whatsmeow/types/events"
)

// TestOrderAndNoLoss: a burst of messages arrives complete and in order, both live and from the
// offline queue.
func TestOrderAndNoLoss(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob := pairedClient(t, srv, "Bob", "33622222222")
	bobDevice := bob.cli.Store.GetJID()
	const n = 25

	received := func(log *EventLog, prefix string) []string {
		var texts []string
		for _, evt := range log.Events() {
			if m, ok := evt.(*events.Message); ok && len(textOf(m.Message)) > len(prefix) && textOf(m.Message)[:len(prefix)] == prefix {
				texts = append(texts, textOf(m.Message))
			}
		}
		return texts
	}
	check := func(got []string, prefix string) {
		t.Helper()
		if len(got) != n {
			t.Fatalf("%s: got %d messages, want %d", prefix, len(got), n)
		}
		for i, text := range got {
			if want := fmt.Sprintf("%s %02d", prefix, i); text != want {
				t.Fatalf("%s: message %d is %q, want %q", prefix, i, text, want)
			}
		}
	}

	for i := 0; i < n; i++ {
		if _, err := alice.cli.SendMessage(ctx, bobDevice.ToNonAD(), whatsmeowText(fmt.Sprintf("live %02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "all live messages", func() bool { return len(received(bob.log, "live")) == n })
	check(received(bob.log, "live"), "live")

	bob.cli.Disconnect()
	waitUntil(t, "bob to be offline", func() bool { return !srv.IsConnected(bobDevice) })
	for i := 0; i < n; i++ {
		if _, err := alice.cli.SendMessage(ctx, bobDevice.ToNonAD(), whatsmeowText(fmt.Sprintf("queued %02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	back := clientForDevice(t, srv, "bob-back", bob.dev, bob.mem)
	if err := back.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "all queued messages", func() bool { return len(received(back.log, "queued")) == n })
	check(received(back.log, "queued"), "queued")
	waitUntil(t, "bob's queue to empty", func() bool { return srv.QueuedCount(bobDevice) == 0 })
}

// BenchmarkRelay measures one encrypted text from send to the recipient's event, on loopback.
func BenchmarkRelay(b *testing.B) {
	srv, err := Start(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	defer srv.TrustRoot()()
	mk := func(phone string) (*Phone, error) { return srv.NewPhone(b.Context(), phone, PhoneOptions{}) }
	alice, err := mk("33611111111")
	if err != nil {
		b.Fatal(err)
	}
	defer alice.Close()
	bob, err := mk("33622222222")
	if err != nil {
		b.Fatal(err)
	}
	defer bob.Close()
	from := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := alice.SendText(b.Context(), bob.JID.ToNonAD(), "bench")
		if err != nil {
			b.Fatal(err)
		}
		if _, from, err = WaitFor(b.Context(), bob.Events, from, func(m *events.Message) bool { return m.Info.ID == resp.ID }); err != nil {
			b.Fatal(err)
		}
	}
}
