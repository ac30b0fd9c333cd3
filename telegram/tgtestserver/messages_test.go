package tgtestserver

import (
	"strings"
	"testing"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

func isNewMessage(text string) func(tg.UpdateClass) bool {
	return func(u tg.UpdateClass) bool {
		var m tg.MessageClass
		switch u := u.(type) {
		case *tg.UpdateNewMessage:
			m = u.Message
		case *tg.UpdateNewChannelMessage:
			m = u.Message
		default:
			return false
		}
		msg, ok := m.(*tg.Message)
		return ok && msg.Message == text
	}
}

// Two users on real gotd clients exchange DMs: the sender gets
// updateShortSentMessage, the recipient a pushed updateNewMessage with its
// own message ID and pts; history, dialogs and read receipts agree.
func TestDirectMessagesBetweenTwoClients(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	alice := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33 6 00 00 00 01"), FirstName: "Alice", Username: uniqueName("alice")})
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000002"), FirstName: "Bob"})

	if alice.self.ID != alice.actor.ID() || !alice.self.Self {
		t.Fatalf("signIn returned %+v, want self user %d", alice.self, alice.actor.ID())
	}

	// Alice finds Bob by phone, as a bridge's start-chat would.
	resolved, err := alice.client.api.ContactsResolvePhone(ctx, ph("33600000002"))
	if err != nil {
		t.Fatalf("resolve phone: %v", err)
	}
	bobUser := resolved.Users[0].(*tg.User)
	if bobUser.ID != bob.actor.ID() {
		t.Fatalf("resolved %d, want %d", bobUser.ID, bob.actor.ID())
	}

	res, err := alice.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
		Peer:     &tg.InputPeerUser{UserID: bobUser.ID, AccessHash: bobUser.AccessHash},
		Message:  "héllo 👋 bob",
		RandomID: 42,
		Entities: []tg.MessageEntityClass{&tg.MessageEntityBold{Offset: 6, Length: 2}},
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	short, ok := res.(*tg.UpdateShortSentMessage)
	if !ok {
		t.Fatalf("sendMessage answered %T, want *tg.UpdateShortSentMessage", res)
	}
	if !short.Out || short.ID != 1 || short.Pts != 1 || short.PtsCount != 1 {
		t.Fatalf("short sent = %+v", short)
	}

	got := bob.rec.wait(t, "bob's updateNewMessage", isNewMessage("héllo 👋 bob")).(*tg.UpdateNewMessage)
	msg := got.Message.(*tg.Message)
	if msg.Out || msg.PeerID.(*tg.PeerUser).UserID != alice.actor.ID() || msg.ID != 1 || got.Pts != 1 {
		t.Fatalf("bob got %+v (pts %d)", msg, got.Pts)
	}
	if len(msg.Entities) != 1 {
		t.Fatalf("entities lost: %+v", msg.Entities)
	}
	if bob.rec.short.Load() == 0 {
		t.Fatal("a plain DM was not pushed as updateShortMessage, as Telegram does")
	}

	// Bob answers; Alice sees it with ID 2 in her box.
	if _, err := bob.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
		Peer:     inputUserPeer(srv, bob.actor.ID(), alice.actor.ID()),
		Message:  "hi alice",
		RandomID: 43,
		ReplyTo:  &tg.InputReplyToMessage{ReplyToMsgID: 1},
	}); err != nil {
		t.Fatalf("bob send: %v", err)
	}
	reply := alice.rec.wait(t, "alice's updateNewMessage", isNewMessage("hi alice")).(*tg.UpdateNewMessage)
	rm := reply.Message.(*tg.Message)
	if rm.ID != 2 {
		t.Fatalf("alice's copy has ID %d, want 2", rm.ID)
	}
	if h, ok := rm.ReplyTo.(*tg.MessageReplyHeader); !ok || h.ReplyToMsgID != 1 {
		t.Fatalf("reply header %+v, want reply to alice's message 1", rm.ReplyTo)
	}

	hist, err := alice.client.api.MessagesGetHistory(ctx, &tg.MessagesGetHistoryRequest{Peer: inputUserPeer(srv, alice.actor.ID(), bob.actor.ID()), Limit: 10})
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	msgs := hist.(*tg.MessagesMessages).Messages
	if len(msgs) != 2 || msgs[0].(*tg.Message).Message != "hi alice" {
		t.Fatalf("history newest first = %+v", msgs)
	}

	dialogs, err := bob.client.api.MessagesGetDialogs(ctx, &tg.MessagesGetDialogsRequest{OffsetPeer: &tg.InputPeerEmpty{}, Limit: 10})
	if err != nil {
		t.Fatalf("dialogs: %v", err)
	}
	dl := dialogs.(*tg.MessagesDialogs)
	if len(dl.Dialogs) != 1 || dl.Dialogs[0].(*tg.Dialog).TopMessage != 2 {
		t.Fatalf("bob's dialogs = %+v", dl.Dialogs)
	}

	// Bob reads: Alice gets updateReadHistoryOutbox for her message 1.
	if _, err := bob.client.api.MessagesReadHistory(ctx, &tg.MessagesReadHistoryRequest{Peer: inputUserPeer(srv, bob.actor.ID(), alice.actor.ID()), MaxID: 2}); err != nil {
		t.Fatalf("read: %v", err)
	}
	alice.rec.wait(t, "read outbox", func(u tg.UpdateClass) bool {
		r, ok := u.(*tg.UpdateReadHistoryOutbox)
		return ok && r.MaxID == 1
	})

	// Wrong access hash is refused like Telegram does.
	_, err = alice.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
		Peer: &tg.InputPeerUser{UserID: bob.actor.ID(), AccessHash: 1}, Message: "x", RandomID: 1,
	})
	if !tgerr.Is(err, "PEER_ID_INVALID") {
		t.Fatalf("wrong hash: err = %v, want PEER_ID_INVALID", err)
	}
}

// TestRandomIDDuplicate: a second send with a random_id the account already used is refused, as
// Telegram does, and stores nothing; another account may use the same number.
func TestRandomIDDuplicate(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	alice := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33610000091"), FirstName: "Alice"})
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33610000092"), FirstName: "Bob"})
	peer := inputUserPeer(srv, alice.self.ID, bob.self.ID)
	send := func(who *loggedIn, p tg.InputPeerClass, text string) error {
		_, err := who.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: p, Message: text, RandomID: 4242})
		return err
	}
	if err := send(alice, peer, "first"); err != nil {
		t.Fatal(err)
	}
	if err := send(alice, peer, "again"); !tgerr.Is(err, "RANDOM_ID_DUPLICATE") {
		t.Fatalf("second send with the same random_id: %v, want RANDOM_ID_DUPLICATE", err)
	}
	if err := send(bob, inputUserPeer(srv, bob.self.ID, alice.self.ID), "bob's"); err != nil {
		t.Fatalf("another account's send with the same number: %v", err)
	}
	var texts []string
	for _, m := range srv.History(bob.self.ID, UserPeer(alice.self.ID)) {
		texts = append(texts, m.Text)
	}
	if strings.Join(texts, "|") != "first|bob's" {
		t.Fatalf("Bob's chat holds %q, want first and bob's", texts)
	}
}
