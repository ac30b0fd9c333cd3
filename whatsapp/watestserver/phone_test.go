package watestserver

import (
	"testing"

	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"google.golang.org/protobuf/proto"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/whatsapp/devicestore"
)

// TestPhonesWithDatabaseStore runs two phones whose devices live in the bridge's device store on
// SQLite: they pair, talk, and one of them logs in again from the database.
func TestPhonesWithDatabaseStore(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	db := dbtest.Open(t, "sqlite3-fk-wal")
	container := devicestore.New(db, testLogger())
	if err := container.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}

	mia, err := srv.NewPhone(ctx, "447700900001", PhoneOptions{PushName: "Mia", Device: container.NewDevice()})
	if err != nil {
		t.Fatal(err)
	}
	defer mia.Close()
	noah, err := srv.NewPhone(ctx, "447700900002", PhoneOptions{PushName: "Noah", Device: container.NewDevice()})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := mia.SendText(ctx, noah.JID.ToNonAD(), "hello from Mia")
	if err != nil {
		t.Fatal(err)
	}
	msg, _, err := WaitFor(ctx, noah.Events, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID })
	if err != nil {
		t.Fatal(err)
	}
	if textOf(msg.Message) != "hello from Mia" || msg.Info.PushName != "Mia" {
		t.Fatalf("noah got %q from %q", textOf(msg.Message), msg.Info.PushName)
	}

	// Noah's device comes back from the database and still decrypts Mia's messages.
	noah.Close()
	saved, err := container.GetDevice(ctx, noah.JID)
	if err != nil || saved == nil {
		t.Fatalf("load noah's device: %v", err)
	}
	cli := whatsmeow.NewClient(saved, nil)
	srv.ConfigureClient(cli)
	log := NewEventLog(cli)
	defer cli.Disconnect()
	if err = cli.Connect(); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor[*events.Connected](ctx, log, 0, nil); err != nil {
		t.Fatal(err)
	}
	resp, err = mia.SendText(ctx, noah.JID.ToNonAD(), "welcome back")
	if err != nil {
		t.Fatal(err)
	}
	if msg, _, err = WaitFor(ctx, log, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID }); err != nil {
		t.Fatal(err)
	}
	if textOf(msg.Message) != "welcome back" {
		t.Fatalf("noah got %q", textOf(msg.Message))
	}
}

// TestOwnPhoneFanout: the user's own phone and the bridge's device are devices of one account;
// what the phone sends reaches the bridge as a message from me, and what contacts send reaches both.
func TestOwnPhoneFanout(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	const user, contact = "33700000001", "33700000002"
	bridge := pairedClient(t, srv, "bridge", user)
	ownPhone, err := srv.NewPhone(ctx, user, PhoneOptions{PushName: "Me"})
	if err != nil {
		t.Fatal(err)
	}
	defer ownPhone.Close()
	friend, err := srv.NewPhone(ctx, contact, PhoneOptions{PushName: "Friend"})
	if err != nil {
		t.Fatal(err)
	}
	defer friend.Close()
	if got := srv.Devices(user); len(got) != 2 {
		t.Fatalf("user devices = %v, want the bridge and the phone", got)
	}
	contactJID := types.NewJID(contact, types.DefaultUserServer)

	resp, err := ownPhone.SendText(ctx, contactJID, "sent from my phone")
	if err != nil {
		t.Fatal(err)
	}
	mine, _, err := WaitFor(ctx, bridge.log, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID })
	if err != nil {
		t.Fatal(err)
	}
	if !mine.Info.IsFromMe || mine.Info.Chat != contactJID || textOf(mine.Message) != "sent from my phone" {
		t.Fatalf("bridge got %+v %q", mine.Info.MessageSource, textOf(mine.Message))
	}
	if _, _, err = WaitFor(ctx, friend.Events, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID }); err != nil {
		t.Fatal(err)
	}

	resp, err = friend.SendText(ctx, types.NewJID(user, types.DefaultUserServer), "hi both")
	if err != nil {
		t.Fatal(err)
	}
	for _, log := range []*EventLog{bridge.log, ownPhone.Events} {
		if _, _, err = WaitFor(ctx, log, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID && !m.Info.IsFromMe }); err != nil {
			t.Fatal(err)
		}
	}

	// Reading the friend's message on the phone marks it read on the bridge's device too.
	if err = ownPhone.MarkRead(ctx, friend.JID.ToNonAD(), friend.JID.ToNonAD(), resp.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bridge.log, 0, func(r *events.Receipt) bool {
		return r.IsFromMe && r.Type == types.ReceiptTypeRead && r.Chat == friend.JID.ToNonAD() && r.MessageIDs[0] == resp.ID
	}); err != nil {
		t.Fatalf("read on the phone did not reach the bridge: %v", err)
	}
	if _, _, err = WaitFor(ctx, friend.Events, 0, func(r *events.Receipt) bool {
		return r.Type == types.ReceiptTypeRead && r.MessageIDs[0] == resp.ID && !r.IsFromMe
	}); err != nil {
		t.Fatal(err)
	}

	// The phone hands the bridge's device its history, as after pairing.
	hs := &waHistorySync.HistorySync{
		SyncType: waHistorySync.HistorySync_INITIAL_BOOTSTRAP.Enum(),
		Conversations: []*waHistorySync.Conversation{{
			ID: proto.String(contactJID.String()),
			Messages: []*waHistorySync.HistorySyncMsg{{Message: &waWeb.WebMessageInfo{
				Key:              &waCommon.MessageKey{RemoteJID: proto.String(contactJID.String()), FromMe: proto.Bool(false), ID: proto.String("OLD1")},
				Message:          &waE2E.Message{Conversation: proto.String("from last year")},
				MessageTimestamp: proto.Uint64(1700000000),
			}}},
		}},
	}
	if err = ownPhone.SendHistorySync(ctx, bridge.cli.Store.GetJID(), hs); err != nil {
		t.Fatal(err)
	}
	got, _, err := WaitFor[*events.HistorySync](ctx, bridge.log, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	conv := got.Data.GetConversations()
	if len(conv) != 1 || conv[0].GetID() != contactJID.String() || conv[0].GetMessages()[0].GetMessage().GetMessage().GetConversation() != "from last year" {
		t.Fatalf("history sync = %v", got.Data)
	}
	if err = friend.SendHistorySync(ctx, bridge.cli.Store.GetJID(), hs); err == nil {
		t.Fatal("a contact's phone sent history to another account's device")
	}
	waitQueuesDrain(t, srv)
}
