package tgtestserver

import (
	"testing"

	"github.com/gotd/td/tg"
)

// BenchmarkDMSendAndPush measures one DM sent by a real gotd client until
// the recipient's client has the pushed update.
func BenchmarkDMSendAndPush(b *testing.B) {
	srv := sharedServer(b)
	ctx := testCtx(b)
	ph := phonesFor(b)
	alice := newLoggedIn(ctx, b, srv, UserSpec{Phone: ph("1"), FirstName: "Alice"})
	bob := newLoggedIn(ctx, b, srv, UserSpec{Phone: ph("2"), FirstName: "Bob"})
	peer := inputUserPeer(srv, alice.actor.ID(), bob.actor.ID())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		text := "bench " + itoa(int64(i))
		if _, err := alice.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: peer, Message: text, RandomID: int64(i) + 1}); err != nil {
			b.Fatal(err)
		}
		bob.rec.wait(b, text, isNewMessage(text))
	}
}

// BenchmarkGetHistory measures a 50-message history page.
func BenchmarkGetHistory(b *testing.B) {
	srv := sharedServer(b)
	ctx := testCtx(b)
	ph := phonesFor(b)
	bob := newLoggedIn(ctx, b, srv, UserSpec{Phone: ph("2"), FirstName: "Bob"})
	eve, err := srv.CreateUser(UserSpec{Phone: ph("1"), FirstName: "Eve"})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if _, err := eve.SendText(UserPeer(bob.actor.ID()), "filler"); err != nil {
			b.Fatal(err)
		}
	}
	peer := inputUserPeer(srv, bob.actor.ID(), eve.ID())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := bob.client.api.MessagesGetHistory(ctx, &tg.MessagesGetHistoryRequest{Peer: peer, Limit: 50, OffsetID: 150})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(res.(*tg.MessagesMessagesSlice).Messages); n != 50 {
			b.Fatalf("got %d messages", n)
		}
	}
}
