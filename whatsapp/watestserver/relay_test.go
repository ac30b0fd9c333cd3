package watestserver

import (
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// pairedClient returns a client logged in as a new device of phone.
func pairedClient(t *testing.T, srv *Server, name, phone string) *testClient {
	t.Helper()
	tc := newTestClient(t, srv, name)
	tc.dev.PushName = name
	if _, err := srv.PairClient(testContext(t), tc.cli, phone); err != nil {
		t.Fatalf("pair %s: %v", name, err)
	}
	return tc
}

func TestTextReceiptAndReaction(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob := pairedClient(t, srv, "Bob", "33622222222")
	if err := alice.cli.SendPresence(ctx, types.PresenceAvailable); err != nil {
		t.Fatal(err)
	}
	bob.cli.SetForceActiveDeliveryReceipts(true)
	bobJID := types.NewJID("33622222222", types.DefaultUserServer)
	aliceJID := types.NewJID("33611111111", types.DefaultUserServer)

	resp, err := alice.cli.SendMessage(ctx, bobJID, &waE2E.Message{Conversation: proto.String("Bonjour Bob")})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	msg, _, err := WaitFor(ctx, bob.log, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID })
	if err != nil {
		t.Fatal(err)
	}
	if textOf(msg.Message) != "Bonjour Bob" {
		t.Fatalf("bob got %q", textOf(msg.Message))
	}
	if msg.Info.Sender.ToNonAD() != aliceJID || msg.Info.Chat != aliceJID || msg.Info.IsFromMe {
		t.Fatalf("bob got message info %+v", msg.Info.MessageSource)
	}
	if msg.Info.PushName != "Alice" {
		t.Fatalf("push name = %q, want Alice", msg.Info.PushName)
	}

	// Bob's client acknowledged delivery: Alice gets a delivery receipt, then a read receipt.
	if _, _, err = WaitFor(ctx, alice.log, 0, func(r *events.Receipt) bool {
		return r.Type == types.ReceiptTypeDelivered && r.MessageIDs[0] == resp.ID && r.Sender.ToNonAD() == bobJID
	}); err != nil {
		t.Fatalf("delivery receipt: %v", err)
	}
	if err = bob.cli.MarkRead(ctx, []types.MessageID{resp.ID}, time.Now(), aliceJID, aliceJID); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(r *events.Receipt) bool {
		return r.Type == types.ReceiptTypeRead && r.MessageIDs[0] == resp.ID && r.Chat.ToNonAD() == bobJID
	}); err != nil {
		t.Fatalf("read receipt: %v", err)
	}

	// Bob reacts; the reaction is an encrypted message too.
	reaction := bob.cli.BuildReaction(aliceJID, aliceJID, resp.ID, "👍")
	if _, err = bob.cli.SendMessage(ctx, aliceJID, reaction); err != nil {
		t.Fatalf("send reaction: %v", err)
	}
	got, _, err := WaitFor(ctx, alice.log, 0, func(m *events.Message) bool { return m.Message.GetReactionMessage() != nil })
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Message.GetReactionMessage(); r.GetText() != "👍" || r.GetKey().GetID() != resp.ID {
		t.Fatalf("reaction = %v", r)
	}

	// Edits and deletions for everyone are messages too, marked with the edit attribute.
	edit := alice.cli.BuildEdit(bobJID, resp.ID, &waE2E.Message{Conversation: proto.String("Bonjour Bob !")})
	if _, err = alice.cli.SendMessage(ctx, bobJID, edit); err != nil {
		t.Fatalf("send edit: %v", err)
	}
	edited, _, err := WaitFor(ctx, bob.log, 0, func(m *events.Message) bool { return m.IsEdit })
	if err != nil {
		t.Fatal(err)
	}
	if pm := edited.Message.GetProtocolMessage(); pm.GetKey().GetID() != resp.ID || textOf(pm.GetEditedMessage()) != "Bonjour Bob !" {
		t.Fatalf("edit = %v", edited.Message)
	}
	if _, err = alice.cli.SendMessage(ctx, bobJID, alice.cli.BuildRevoke(bobJID, types.EmptyJID, resp.ID)); err != nil {
		t.Fatalf("send revoke: %v", err)
	}
	if _, _, err = WaitFor(ctx, bob.log, 0, func(m *events.Message) bool {
		pm := m.Message.GetProtocolMessage()
		return pm.GetType() == waE2E.ProtocolMessage_REVOKE && pm.GetKey().GetID() == resp.ID
	}); err != nil {
		t.Fatal(err)
	}

	// Presence: Alice subscribes to Bob and sees him come online.
	if err = alice.cli.SubscribePresence(ctx, bobJID); err != nil && !isNoPrivacyToken(err) {
		t.Fatal(err)
	}
	if err = bob.cli.SendPresence(ctx, types.PresenceAvailable); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(p *events.Presence) bool { return p.From == bobJID && !p.Unavailable }); err != nil {
		t.Fatalf("presence: %v", err)
	}

	// Chat state reaches the other side.
	if err = bob.cli.SendChatPresence(ctx, aliceJID, types.ChatPresenceComposing, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(c *events.ChatPresence) bool {
		return c.State == types.ChatPresenceComposing && c.Sender.ToNonAD() == bobJID
	}); err != nil {
		t.Fatalf("chat presence: %v", err)
	}
	// Every stanza relayed to Bob is acknowledged by his client and leaves his queue.
	waitUntil(t, "bob's queue to empty", func() bool { return srv.QueuedCount(bob.cli.Store.GetJID()) == 0 })
	waitQueuesDrain(t, srv)
}

func isNoPrivacyToken(err error) bool {
	return err != nil && errorsIs(err, whatsmeow.ErrNoPrivacyToken)
}

// TestParticipantHashRefreshesDevices: a device added while the sender was offline (so it missed
// the device-list notification) is found through the participant hash in the server's ack, and
// gets the next message.
func TestParticipantHashRefreshesDevices(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob := pairedClient(t, srv, "Bob", "33622222222")
	bobJID := bob.cli.Store.GetJID().ToNonAD()
	if _, err := alice.cli.SendMessage(ctx, bobJID, whatsmeowText("first")); err != nil {
		t.Fatal(err)
	}
	// The server's hash matches whatsmeow's own: with nothing changed, the cached list is kept.
	queries := srv.usyncQueries.Load()
	if _, err := alice.cli.SendMessage(ctx, bobJID, whatsmeowText("first again")); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.cli.SendMessage(ctx, bobJID, whatsmeowText("and again")); err != nil {
		t.Fatal(err)
	}
	if n := srv.usyncQueries.Load() - queries; n != 0 {
		t.Fatalf("whatsmeow asked for device lists %d times: the participant hash does not match its own", n)
	}
	// Alice's client keeps Bob's device list cached while it is offline and a tablet is added.
	aliceDevice := alice.cli.Store.GetJID()
	alice.cli.Disconnect()
	waitUntil(t, "alice to be offline", func() bool { return !srv.IsConnected(aliceDevice) })
	tablet := pairedClient(t, srv, "Bob's tablet", "33622222222")
	from := len(alice.log.Events())
	if err := alice.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := WaitFor[*events.Connected](ctx, alice.log, from, nil); err != nil {
		t.Fatal(err)
	}
	// Encrypted for the cached list; the ack's hash tells whatsmeow the list changed.
	if _, err := alice.cli.SendMessage(ctx, bobJID, whatsmeowText("second")); err != nil {
		t.Fatal(err)
	}
	third, err := alice.cli.SendMessage(ctx, bobJID, whatsmeowText("third"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, tablet.log, 0, func(m *events.Message) bool { return m.Info.ID == third.ID }); err != nil {
		t.Fatalf("the new device did not get the next message: %v", err)
	}
}
