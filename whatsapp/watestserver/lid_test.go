package watestserver

import (
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestLIDAddressing: a message sent to a LID chat is relayed with LID senders and the phone
// number alongside, as WhatsApp does for LID chats; the receiver knows both forms.
func TestLIDAddressing(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob, err := srv.NewPhone(ctx, "33622222222", PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	aliceLID, _ := srv.AccountLID("33611111111")
	bobLID, _ := srv.AccountLID("33622222222")

	resp, err := bob.SendText(ctx, aliceLID, "to your LID")
	if err != nil {
		t.Fatal(err)
	}
	msg, _, err := WaitFor(ctx, alice.log, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID })
	if err != nil {
		t.Fatal(err)
	}
	if textOf(msg.Message) != "to your LID" || msg.Info.Sender.ToNonAD() != bobLID || msg.Info.Chat != bobLID ||
		msg.Info.SenderAlt.ToNonAD() != types.NewJID("33622222222", types.DefaultUserServer) {
		t.Fatalf("alice got %q with %+v", textOf(msg.Message), msg.Info.MessageSource)
	}
	// Alice answers in the LID chat; Bob's phone reads it, then gets a reply in the number chat too.
	reply, err := alice.cli.SendMessage(ctx, bobLID, whatsmeowText("answer in the LID chat"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bob.Events, 0, func(m *events.Message) bool {
		return m.Info.ID == reply.ID && textOf(m.Message) == "answer in the LID chat"
	}); err != nil {
		t.Fatal(err)
	}
	reply, err = alice.cli.SendMessage(ctx, types.NewJID("33622222222", types.DefaultUserServer), whatsmeowText("and by number"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bob.Events, 0, func(m *events.Message) bool {
		return m.Info.ID == reply.ID && textOf(m.Message) == "and by number"
	}); err != nil {
		t.Fatal(err)
	}
	waitQueuesDrain(t, srv)
}
