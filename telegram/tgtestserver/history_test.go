package tgtestserver

import (
	"reflect"
	"testing"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

func TestSliceHistory(t *testing.T) {
	// IDs 10..1, newest first; dates equal IDs.
	var ms []*message
	for id := 10; id >= 1; id-- {
		ms = append(ms, &message{id: id, date: 1000 + id})
	}
	ids := func(in []*message) []int {
		out := []int{}
		for _, m := range in {
			out = append(out, m.id)
		}
		return out
	}
	tests := []struct {
		name                                                 string
		offsetID, offsetDate, addOffset, limit, maxID, minID int
		want                                                 []int
	}{
		{name: "newest page", limit: 3, want: []int{10, 9, 8}},
		{name: "older than offset_id", offsetID: 8, limit: 3, want: []int{7, 6, 5}},
		{name: "negative add_offset reaches newer", offsetID: 5, addOffset: -2, limit: 4, want: []int{6, 5, 4, 3}},
		{name: "window cut at the newest message", offsetID: 5, addOffset: -10, limit: 12, want: []int{10, 9, 8, 7, 6, 5, 4, 3}},
		{name: "offset_date", offsetDate: 1004, limit: 2, want: []int{3, 2}},
		{name: "min_id and max_id", limit: 10, maxID: 8, minID: 5, want: []int{7, 6}},
		{name: "past the end", offsetID: 1, limit: 5, want: []int{}},
		{name: "zero limit means 100", want: []int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(sliceHistory(ms, tt.offsetID, tt.offsetDate, tt.addOffset, tt.limit, tt.maxID, tt.minID))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckEntitiesCountsUTF16(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		ent     tg.MessageEntityClass
		wantErr bool
	}{
		{name: "ascii", text: "hello", ent: &tg.MessageEntityBold{Offset: 0, Length: 5}},
		{name: "emoji is two units", text: "👋 hi", ent: &tg.MessageEntityBold{Offset: 3, Length: 2}},
		{name: "runs past the end", text: "👋 hi", ent: &tg.MessageEntityBold{Offset: 3, Length: 3}, wantErr: true},
		{name: "empty length", text: "hi", ent: &tg.MessageEntityItalic{Offset: 0, Length: 0}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkEntities(tt.text, []tg.MessageEntityClass{tt.ent})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !tgerr.Is(err, "ENTITY_BOUNDS_INVALID") {
				t.Fatalf("err = %v, want ENTITY_BOUNDS_INVALID", err)
			}
		})
	}
}

// Contacts, full users, dialog paging and channel join/leave.
func TestContactsDialogsAndMembership(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("1"), FirstName: "Bob"})
	var others []*Actor
	for i, name := range []string{"Ann", "Ben", "Cat"} {
		a, err := srv.CreateUser(UserSpec{Phone: ph(string(rune('2' + i))), FirstName: name, About: name + " here"})
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, a)
		if _, err := a.SendText(UserPeer(bob.actor.ID()), "hi from "+name); err != nil {
			t.Fatal(err)
		}
	}

	imp, err := bob.client.api.ContactsImportContacts(ctx, []tg.InputPhoneContact{
		{ClientID: 7, Phone: ph("2"), FirstName: "Ann"},
		{ClientID: 8, Phone: "+999000111222", FirstName: "Nobody"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imp.Imported) != 1 || imp.Imported[0].UserID != others[0].ID() || imp.Imported[0].ClientID != 7 {
		t.Fatalf("imported = %+v", imp.Imported)
	}
	cs, err := bob.client.api.ContactsGetContacts(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c := cs.(*tg.ContactsContacts); len(c.Contacts) != 1 || !c.Users[0].(*tg.User).Contact {
		t.Fatalf("contacts = %+v", c)
	}
	full, err := bob.client.api.UsersGetFullUser(ctx, &tg.InputUser{UserID: others[1].ID(), AccessHash: srv.AccessHash(bob.actor.ID(), others[1].ID())})
	if err != nil || full.FullUser.About != "Ben here" {
		t.Fatalf("full user = %+v, %v", full, err)
	}
	if _, err := bob.client.api.ContactsResolveUsername(ctx, &tg.ContactsResolveUsernameRequest{Username: uniqueName("nobody")}); !tgerr.Is(err, "USERNAME_NOT_OCCUPIED") {
		t.Fatalf("unknown username: err = %v", err)
	}

	// Three dialogs, two per page.
	page1, err := bob.client.api.MessagesGetDialogs(ctx, &tg.MessagesGetDialogsRequest{OffsetPeer: &tg.InputPeerEmpty{}, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	s1, ok := page1.(*tg.MessagesDialogsSlice)
	if !ok || s1.Count != 3 || len(s1.Dialogs) != 2 {
		t.Fatalf("page 1 = %T %+v", page1, page1)
	}
	last := s1.Dialogs[1].(*tg.Dialog)
	lastUser := last.Peer.(*tg.PeerUser).UserID
	page2, err := bob.client.api.MessagesGetDialogs(ctx, &tg.MessagesGetDialogsRequest{
		OffsetPeer: inputUserPeer(srv, bob.actor.ID(), lastUser), OffsetID: last.TopMessage, Limit: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	var rest []tg.DialogClass
	switch p := page2.(type) {
	case *tg.MessagesDialogsSlice:
		rest = p.Dialogs
	case *tg.MessagesDialogs:
		rest = p.Dialogs
	}
	if len(rest) != 1 {
		t.Fatalf("page 2 = %+v", page2)
	}
	seen := map[int64]bool{}
	for _, d := range append(s1.Dialogs, rest...) {
		seen[d.(*tg.Dialog).Peer.(*tg.PeerUser).UserID] = true
	}
	if len(seen) != 3 {
		t.Fatalf("dialogs over both pages = %v", seen)
	}

	// Join and leave a supergroup: service messages for the members.
	ch, err := others[0].CreateChannel("Club", Supergroup, bob.actor.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := others[1].Join(ch); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "join", func(u tg.UpdateClass) bool {
		if !actionIs[*tg.MessageActionChatAddUser](u) {
			return false
		}
		a := u.(*tg.UpdateNewChannelMessage).Message.(*tg.MessageService).Action.(*tg.MessageActionChatAddUser)
		return a.Users[0] == others[1].ID()
	})
	if err := others[1].Leave(ChannelPeer(ch)); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "leave", actionIs[*tg.MessageActionChatDeleteUser])
	if _, err := others[1].SendText(ChannelPeer(ch), "still here?"); err == nil {
		t.Fatal("a user who left could still post")
	}
}
