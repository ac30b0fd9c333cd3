package tgtestserver

import (
	"testing"

	"github.com/gotd/td/telegram/uploader"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// Forwards carry a header naming the origin; albums go through
// messages.uploadMedia then sendMultiMedia with one grouped_id; bots may not
// list dialogs.
func TestForwardsAlbumsAndBotLimits(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("1"), FirstName: "Bob"})
	eve, err := srv.CreateUser(UserSpec{Phone: ph("2"), FirstName: "Eve"})
	if err != nil {
		t.Fatal(err)
	}
	news, err := eve.CreateChannel("News", Broadcast)
	if err != nil {
		t.Fatal(err)
	}
	post, err := eve.SendText(ChannelPeer(news), "breaking")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eve.Forward(ChannelPeer(news), []int{post.ID}, UserPeer(bob.actor.ID())); err != nil {
		t.Fatal(err)
	}
	fw := bob.rec.wait(t, "forwarded post", isNewMessage("breaking")).(*tg.UpdateNewMessage).Message.(*tg.Message)
	if pc, ok := fw.FwdFrom.FromID.(*tg.PeerChannel); !ok || pc.ChannelID != news || fw.FwdFrom.ChannelPost != post.ID {
		t.Fatalf("forward header = %+v", fw.FwdFrom)
	}

	// Bob forwards it back to Eve through the API.
	if _, err := bob.client.api.MessagesForwardMessages(ctx, &tg.MessagesForwardMessagesRequest{
		FromPeer: inputUserPeer(srv, bob.actor.ID(), eve.ID()), ID: []int{fw.ID}, RandomID: []int64{11},
		ToPeer: inputUserPeer(srv, bob.actor.ID(), eve.ID()),
	}); err != nil {
		t.Fatalf("forward: %v", err)
	}
	h := srv.History(eve.ID(), UserPeer(bob.actor.ID()))
	if last := h[len(h)-1]; last.Text != "breaking" || last.ForwardedFrom != ChannelPeer(news) {
		t.Fatalf("eve's copy = %+v", last)
	}

	// Album: upload each photo with messages.uploadMedia, then send both.
	toEve := inputUserPeer(srv, bob.actor.ID(), eve.ID())
	var items []tg.InputSingleMedia
	for i := 0; i < 2; i++ {
		f, err := uploader.NewUploader(bob.client.api).FromBytes(ctx, "p.jpg", testJPEG(t, 40+i, 30))
		if err != nil {
			t.Fatal(err)
		}
		m, err := bob.client.api.MessagesUploadMedia(ctx, &tg.MessagesUploadMediaRequest{Peer: toEve, Media: &tg.InputMediaUploadedPhoto{File: f}})
		if err != nil {
			t.Fatalf("uploadMedia: %v", err)
		}
		p := m.(*tg.MessageMediaPhoto).Photo.(*tg.Photo)
		items = append(items, tg.InputSingleMedia{
			Media:    &tg.InputMediaPhoto{ID: &tg.InputPhoto{ID: p.ID, AccessHash: p.AccessHash, FileReference: p.FileReference}},
			RandomID: int64(100 + i),
		})
	}
	if _, err := bob.client.api.MessagesSendMultiMedia(ctx, &tg.MessagesSendMultiMediaRequest{Peer: toEve, MultiMedia: items}); err != nil {
		t.Fatalf("sendMultiMedia: %v", err)
	}
	h = srv.History(eve.ID(), UserPeer(bob.actor.ID()))
	a, b := h[len(h)-2], h[len(h)-1]
	if a.Media != "photo" || b.Media != "photo" || a.GroupedID == 0 || a.GroupedID != b.GroupedID {
		t.Fatalf("album = %+v / %+v", a, b)
	}

	bot, err := srv.CreateUser(UserSpec{FirstName: "Bot", Bot: true})
	if err != nil {
		t.Fatal(err)
	}
	bc := startClient(t, srv, pooledStorage(t, srv), nil)
	if _, err := bc.client.Auth().Bot(ctx, bot.BotToken()); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.api.MessagesGetDialogs(ctx, &tg.MessagesGetDialogsRequest{OffsetPeer: &tg.InputPeerEmpty{}, Limit: 10}); !tgerr.Is(err, "BOT_METHOD_INVALID") {
		t.Fatalf("bot getDialogs: err = %v", err)
	}
}
