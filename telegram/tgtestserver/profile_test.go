package tgtestserver

import (
	"bytes"
	"testing"

	"github.com/gotd/td/telegram/uploader"
	"github.com/gotd/td/tg"
)

// Profile and chat-appearance changes reach the clients that see them.
func TestProfileAndChatPhotoChanges(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("1"), FirstName: "Bob"})
	eve, err := srv.CreateUser(UserSpec{Phone: ph("2"), FirstName: "Eve"})
	if err != nil {
		t.Fatal(err)
	}
	dm := UserPeer(bob.actor.ID())
	s, err := eve.SendText(dm, "hello")
	if err != nil {
		t.Fatal(err)
	}

	if err := eve.SetName("Eve", "Durand"); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "updateUserName", func(u tg.UpdateClass) bool {
		n, ok := u.(*tg.UpdateUserName)
		return ok && n.UserID == eve.ID() && n.LastName == "Durand"
	})
	avatar := testJPEG(t, 48, 48)
	if err := eve.SetPhoto(avatar); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "updateUser", func(u tg.UpdateClass) bool {
		n, ok := u.(*tg.UpdateUser)
		return ok && n.UserID == eve.ID()
	})
	users, err := bob.client.api.UsersGetUsers(ctx, []tg.InputUserClass{&tg.InputUser{UserID: eve.ID(), AccessHash: srv.AccessHash(bob.actor.ID(), eve.ID())}})
	if err != nil {
		t.Fatal(err)
	}
	if u := users[0].(*tg.User); u.LastName != "Durand" || u.Photo == nil {
		t.Fatalf("eve as bob sees her = %+v", u)
	}

	if err := eve.SetOnline(true); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "online status", func(u tg.UpdateClass) bool {
		st, ok := u.(*tg.UpdateUserStatus)
		if !ok {
			return false
		}
		_, online := st.Status.(*tg.UserStatusOnline)
		return st.UserID == eve.ID() && online
	})

	// Location and contact card both ways.
	if _, err := eve.Send(dm, Message{Location: &Location{Lat: 48.8584, Long: 2.2945, VenueTitle: "Tour Eiffel", VenueAddress: "Paris"}}); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "venue", func(u tg.UpdateClass) bool {
		v, ok := mediaOf(u).(*tg.MessageMediaVenue)
		return ok && v.Title == "Tour Eiffel" && v.Geo.(*tg.GeoPoint).Lat == 48.8584
	})
	if _, err := eve.Send(dm, Message{Contact: &Contact{Phone: ph("1"), FirstName: "Bob"}}); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "contact card", func(u tg.UpdateClass) bool {
		c, ok := mediaOf(u).(*tg.MessageMediaContact)
		return ok && c.UserID == bob.actor.ID()
	})
	if _, err := bob.client.api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
		Peer: inputUserPeer(srv, bob.actor.ID(), eve.ID()), RandomID: 77,
		Media: &tg.InputMediaGeoPoint{GeoPoint: &tg.InputGeoPoint{Lat: 45.76, Long: 4.83}},
	}); err != nil {
		t.Fatal(err)
	}
	eh := srv.History(eve.ID(), dm)
	if last := eh[len(eh)-1]; last.Media != "geo" || last.MediaObject.(*tg.MessageMediaGeo).Geo.(*tg.GeoPoint).Long != 4.83 {
		t.Fatalf("eve's last message = %+v", last)
	}

	// A poll: Bob votes through the API, Eve through the scripted API.
	poll, err := eve.Send(dm, Message{Poll: &Poll{Question: "Lunch?", Answers: []string{"Pizza", "Sushi"}}})
	if err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "poll", func(u tg.UpdateClass) bool {
		p, ok := mediaOf(u).(*tg.MessageMediaPoll)
		return ok && p.Poll.Question.Text == "Lunch?" && len(p.Poll.Answers) == 2
	})
	if _, err := bob.client.api.MessagesSendVote(ctx, &tg.MessagesSendVoteRequest{
		Peer: inputUserPeer(srv, bob.actor.ID(), eve.ID()), MsgID: poll.IDFor(bob.actor.ID()), Options: [][]byte{[]byte("1")},
	}); err != nil {
		t.Fatalf("vote: %v", err)
	}
	if err := eve.Vote(dm, poll.ID, 1); err != nil {
		t.Fatal(err)
	}
	pu := bob.rec.wait(t, "poll results", func(u tg.UpdateClass) bool {
		p, ok := u.(*tg.UpdateMessagePoll)
		return ok && p.Results.TotalVoters == 2
	}).(*tg.UpdateMessagePoll)
	if r := pu.Results.Results[1]; r.Voters != 2 || !r.Chosen || pu.MsgID != poll.IDFor(bob.actor.ID()) {
		t.Fatalf("poll results for bob = %+v", pu.Results)
	}
	if err := eve.Vote(dm, poll.ID, 0, 1); err == nil {
		t.Fatal("two answers accepted in a single-choice poll")
	}

	if err := eve.Pin(dm, s.ID); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "pin", func(u tg.UpdateClass) bool {
		p, ok := u.(*tg.UpdatePinnedMessages)
		return ok && p.Pinned && p.Messages[0] == s.IDFor(bob.actor.ID())
	})

	// Bob (as a bridge would) sets a group photo.
	chatID, err := eve.CreateGroup("Trip", bob.actor.ID())
	if err != nil {
		t.Fatal(err)
	}
	photo := testJPEG(t, 200, 200)
	f, err := uploader.NewUploader(bob.client.api).FromBytes(ctx, "g.jpg", photo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.client.api.MessagesEditChatPhoto(ctx, &tg.MessagesEditChatPhotoRequest{ChatID: chatID, Photo: &tg.InputChatUploadedPhoto{File: f}}); err != nil {
		t.Fatalf("edit chat photo: %v", err)
	}
	hist := srv.History(eve.ID(), ChatPeer(chatID))
	if _, ok := hist[len(hist)-1].Action.(*tg.MessageActionChatEditPhoto); !ok {
		t.Fatalf("eve's last group message = %+v", hist[len(hist)-1])
	}
	chats, err := bob.client.api.MessagesGetChats(ctx, []int64{chatID})
	if err != nil {
		t.Fatal(err)
	}
	cp := chats.(*tg.MessagesChats).Chats[0].(*tg.Chat).Photo.(*tg.ChatPhoto)
	got := download(ctx, t, bob.client.api, &tg.InputPeerPhotoFileLocation{Big: true, Peer: &tg.InputPeerChat{ChatID: chatID}, PhotoID: cp.PhotoID})
	if !bytes.Equal(got, photo) {
		t.Fatalf("chat photo: %d bytes, want %d", len(got), len(photo))
	}
}
