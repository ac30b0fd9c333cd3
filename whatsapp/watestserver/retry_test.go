package watestserver

import (
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestRetryReceipt: Bob loses his Signal session with Alice, cannot decrypt her next message and
// sends a retry receipt; the server relays it to Alice's device, which re-encrypts for Bob, and
// the server delivers the new ciphertext to Bob's device.
func TestRetryReceipt(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob := pairedClient(t, srv, "Bob", "33622222222")
	bobJID := bob.cli.Store.GetJID().ToNonAD()

	first, err := alice.cli.SendMessage(ctx, bobJID, whatsmeowText("one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bob.log, 0, func(m *events.Message) bool { return m.Info.ID == first.ID }); err != nil {
		t.Fatal(err)
	}
	aliceLID, _ := srv.AccountLID("33611111111")
	for _, user := range []string{"33611111111", aliceLID.User} {
		if err = bob.mem.DeleteAllSessions(ctx, user); err != nil {
			t.Fatal(err)
		}
	}

	second, err := alice.cli.SendMessage(ctx, bobJID, whatsmeowText("two"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bob.log, 0, func(u *events.UndecryptableMessage) bool { return u.Info.ID == second.ID }); err != nil {
		t.Fatalf("bob could decrypt without a session? %v", err)
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(r *events.Receipt) bool {
		return r.Type == types.ReceiptTypeRetry && r.MessageIDs[0] == second.ID
	}); err != nil {
		t.Fatalf("alice got no retry receipt: %v", err)
	}
	msg, _, err := WaitFor(ctx, bob.log, 0, func(m *events.Message) bool { return m.Info.ID == second.ID })
	if err != nil {
		t.Fatalf("the resent message did not arrive: %v", err)
	}
	if textOf(msg.Message) != "two" {
		t.Fatalf("resent text = %q", textOf(msg.Message))
	}
	waitQueuesDrain(t, srv)
}

func TestInjectUndecryptable(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	if _, err := srv.CreateAccount("33622222222", "Bob"); err != nil {
		t.Fatal(err)
	}
	id, err := srv.InjectUndecryptable("33622222222", alice.cli.Store.GetJID())
	if err != nil {
		t.Fatal(err)
	}
	evt, _, err := WaitFor(ctx, alice.log, 0, func(u *events.UndecryptableMessage) bool { return u.Info.ID == id })
	if err != nil {
		t.Fatal(err)
	}
	if evt.Info.Sender.User != "33622222222" || evt.Info.PushName != "Bob" {
		t.Fatalf("undecryptable message info = %+v", evt.Info)
	}
	waitUntil(t, "the message to be acknowledged", func() bool { return srv.QueuedCount(alice.cli.Store.GetJID()) == 0 })
	if _, err = srv.InjectUndecryptable("33600000000", alice.cli.Store.GetJID()); err == nil {
		t.Fatal("injection from an unknown account succeeded")
	}
}
