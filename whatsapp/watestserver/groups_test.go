package watestserver

import (
	"errors"
	"slices"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

func TestGroups(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	const alicePhone, bobPhone, carolPhone = "33611111111", "33622222222", "33633333333"
	alice := pairedClient(t, srv, "Alice", alicePhone)
	bob, err := srv.NewPhone(ctx, bobPhone, PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	carol, err := srv.NewPhone(ctx, carolPhone, PhoneOptions{PushName: "Carol"})
	if err != nil {
		t.Fatal(err)
	}
	defer carol.Close()
	bobJID := types.NewJID(bobPhone, types.DefaultUserServer)
	carolJID := types.NewJID(carolPhone, types.DefaultUserServer)

	info, err := alice.cli.CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Équipe", Participants: []types.JID{bobJID, carolJID}})
	if err != nil {
		t.Fatalf("create group: %v", err)
	}
	if info.Name != "Équipe" || len(info.Participants) != 3 || info.OwnerJID.User != alicePhone {
		t.Fatalf("created group info = %+v", info)
	}
	for _, log := range []*EventLog{bob.Events, carol.Events} {
		joined, _, err := WaitFor(ctx, log, 0, func(j *events.JoinedGroup) bool { return j.JID == info.JID })
		if err != nil {
			t.Fatal(err)
		}
		if joined.Name != "Équipe" || len(joined.Participants) != 3 {
			t.Fatalf("joined group = %+v", joined.GroupInfo)
		}
	}

	// A group message is encrypted once with Alice's sender key; each device gets the key
	// through its own Signal session.
	resp, err := alice.cli.SendMessage(ctx, info.JID, whatsmeowText("salut tout le monde"))
	if err != nil {
		t.Fatalf("send to group: %v", err)
	}
	for _, log := range []*EventLog{bob.Events, carol.Events} {
		// The sender key arrives in the same stanza; only the skmsg part carries the text.
		msg, _, err := WaitFor(ctx, log, 0, func(m *events.Message) bool {
			return m.Info.ID == resp.ID && m.Message.GetSenderKeyDistributionMessage() == nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if textOf(msg.Message) != "salut tout le monde" || msg.Info.Chat != info.JID || msg.Info.Sender.User != alicePhone || !msg.Info.IsGroup {
			t.Fatalf("group message = %q %+v", textOf(msg.Message), msg.Info.MessageSource)
		}
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(r *events.Receipt) bool {
		return r.Chat == info.JID && r.MessageIDs[0] == resp.ID && r.Sender.User == bobPhone
	}); err != nil {
		t.Fatalf("group receipt: %v", err)
	}

	resp, err = bob.SendText(ctx, info.JID, "réponse de Bob")
	if err != nil {
		t.Fatal(err)
	}
	for _, log := range []*EventLog{alice.log, carol.Events} {
		if _, _, err = WaitFor(ctx, log, 0, func(m *events.Message) bool {
			return m.Info.ID == resp.ID && textOf(m.Message) == "réponse de Bob" && m.Info.PushName == "Bob"
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Bob renames the group, Alice changes the topic: everyone hears of it.
	if err = bob.Client.SetGroupName(ctx, info.JID, "Équipe B"); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(g *events.GroupInfo) bool {
		return g.Name != nil && g.Name.Name == "Équipe B" && g.Sender != nil && g.Sender.User == bobPhone
	}); err != nil {
		t.Fatal(err)
	}
	if err = alice.cli.SetGroupTopic(ctx, info.JID, "", "", "planning"); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, carol.Events, 0, func(g *events.GroupInfo) bool { return g.Topic != nil && g.Topic.Topic == "planning" }); err != nil {
		t.Fatal(err)
	}
	got, err := carol.Client.GetGroupInfo(ctx, info.JID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Équipe B" || got.Topic != "planning" {
		t.Fatalf("group info = %q / %q", got.Name, got.Topic)
	}

	// Bob is not an admin: he cannot remove Carol. Alice can.
	if _, err = bob.Client.UpdateGroupParticipants(ctx, info.JID, []types.JID{carolJID}, whatsmeow.ParticipantChangeRemove); err == nil {
		t.Fatal("a non-admin removed a member")
	}
	if _, err = alice.cli.UpdateGroupParticipants(ctx, info.JID, []types.JID{carolJID}, whatsmeow.ParticipantChangeRemove); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, carol.Events, 0, func(g *events.GroupInfo) bool { return slices.Contains(g.Leave, carolJID) }); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.Client.GetGroupInfo(ctx, info.JID); err == nil {
		t.Fatal("a removed member can still read the group")
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(g *events.GroupInfo) bool { return slices.Contains(g.Leave, carolJID) }); err != nil {
		t.Fatal(err)
	}
	// What Carol was sent before (the removal) must be acknowledged first: anything queued for
	// her after this send is then the send's.
	waitUntil(t, "carol's queue to empty", func() bool { return srv.QueuedCount(carol.JID) == 0 })
	resp, err = alice.cli.SendMessage(ctx, info.JID, whatsmeowText("Carol is gone"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bob.Events, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID && textOf(m.Message) == "Carol is gone" }); err != nil {
		t.Fatal(err)
	}
	if srv.QueuedCount(carol.JID) != 0 {
		t.Fatal("a removed member was sent the group's message")
	}
	for _, evt := range carol.Events.Events() {
		if m, ok := evt.(*events.Message); ok && m.Info.ID == resp.ID {
			t.Fatal("a removed member received the group's message")
		}
	}

	joined, err := bob.Client.GetJoinedGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(joined) != 1 || joined[0].JID != info.JID || len(joined[0].Participants) != 2 {
		t.Fatalf("bob's groups = %+v", joined)
	}

	// A group made on the server side, as if by a phone.
	made, err := srv.CreateGroup(ctx, bobPhone, "from Bob's phone", alicePhone)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(j *events.JoinedGroup) bool { return j.JID == made }); err != nil {
		t.Fatal(err)
	}
	if err = bob.Client.LeaveGroup(ctx, made); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob to have left", func() bool { return slices.Equal(srv.GroupMembers(made), []string{alicePhone}) })
	waitQueuesDrain(t, srv)
}

func TestGroupSettings(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob, err := srv.NewPhone(ctx, "33622222222", PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	info, err := alice.cli.CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Annonces", Participants: []types.JID{bob.JID.ToNonAD()}})
	if err != nil {
		t.Fatal(err)
	}

	if err = alice.cli.SetGroupAnnounce(ctx, info.JID, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bob.Events, 0, func(g *events.GroupInfo) bool { return g.Announce != nil && g.Announce.IsAnnounce }); err != nil {
		t.Fatal(err)
	}
	if _, err = bob.SendText(ctx, info.JID, "may I?"); err == nil {
		t.Fatal("a non-admin sent to an announcement group")
	}
	if err = alice.cli.SetGroupLocked(ctx, info.JID, true); err != nil {
		t.Fatal(err)
	}
	if err = bob.Client.SetGroupName(ctx, info.JID, "renamed by Bob"); err == nil {
		t.Fatal("a non-admin renamed a locked group")
	}
	if err = bob.Client.SetGroupAnnounce(ctx, info.JID, false); err == nil {
		t.Fatal("a non-admin changed the announcement setting")
	}
	if err = alice.cli.SetDisappearingTimer(ctx, info.JID, 24*time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bob.Events, 0, func(g *events.GroupInfo) bool {
		return g.Ephemeral != nil && g.Ephemeral.DisappearingTimer == 86400
	}); err != nil {
		t.Fatal(err)
	}
	photo := []byte("\xff\xd8\xff group photo")
	id, err := alice.cli.SetGroupPhoto(ctx, info.JID, photo)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bob.Events, 0, func(p *events.Picture) bool {
		return p.JID == info.JID && p.PictureID == id && p.Author.User == "33611111111"
	}); err != nil {
		t.Fatal(err)
	}
	if _, err = bob.Client.SetGroupPhoto(ctx, info.JID, photo); err == nil {
		t.Fatal("a non-admin changed the photo of a locked group")
	}
	got, err := bob.Client.GetGroupInfo(ctx, info.JID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.IsAnnounce || !got.IsLocked || !got.IsEphemeral || got.DisappearingTimer != 86400 {
		t.Fatalf("group settings = announce %v locked %v ephemeral %v/%d", got.IsAnnounce, got.IsLocked, got.IsEphemeral, got.DisappearingTimer)
	}
	pic, err := bob.Client.GetProfilePictureInfo(ctx, info.JID, nil)
	if err != nil || pic.ID != id {
		t.Fatalf("group picture: %v, %v", pic, err)
	}
	// Users set their own picture, not someone else's.
	if _, err = bob.Client.SetGroupPhoto(ctx, bob.JID.ToNonAD(), photo); err != nil {
		t.Fatalf("own picture: %v", err)
	}
	if _, err = bob.Client.SetGroupPhoto(ctx, types.NewJID("33611111111", types.DefaultUserServer), photo); err == nil {
		t.Fatal("bob set alice's picture")
	}
	waitQueuesDrain(t, srv)
}

func TestGroupInviteLinks(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob, err := srv.NewPhone(ctx, "33622222222", PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	carol, err := srv.NewPhone(ctx, "33633333333", PhoneOptions{PushName: "Carol"})
	if err != nil {
		t.Fatal(err)
	}
	defer carol.Close()
	info, err := alice.cli.CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Ouvert", Participants: []types.JID{bob.JID.ToNonAD()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = bob.Client.GetGroupInviteLink(ctx, info.JID, false); err == nil {
		t.Fatal("a non-admin got the invite link")
	}
	link, err := alice.cli.GetGroupInviteLink(ctx, info.JID, false)
	if err != nil {
		t.Fatal(err)
	}
	preview, err := carol.Client.GetGroupInfoFromLink(ctx, link)
	if err != nil || preview.JID != info.JID || preview.Name != "Ouvert" {
		t.Fatalf("preview: %+v, %v", preview, err)
	}
	joined, err := carol.Client.JoinGroupWithLink(ctx, link)
	if err != nil || joined != info.JID {
		t.Fatalf("join: %s, %v", joined, err)
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(g *events.GroupInfo) bool {
		return len(g.Join) == 1 && g.Join[0].User == "33633333333" && g.JoinReason == "invite"
	}); err != nil {
		t.Fatal(err)
	}
	// Resetting the link revokes the old one.
	newLink, err := alice.cli.GetGroupInviteLink(ctx, info.JID, true)
	if err != nil || newLink == link {
		t.Fatalf("reset link: %q, %v", newLink, err)
	}
	if _, err = bob.Client.GetGroupInfoFromLink(ctx, link); !errors.Is(err, whatsmeow.ErrInviteLinkRevoked) {
		t.Fatalf("old link: err = %v, want revoked", err)
	}
	if _, err = bob.Client.JoinGroupWithLink(ctx, "https://chat.whatsapp.com/nope"); !errors.Is(err, whatsmeow.ErrInviteLinkInvalid) {
		t.Fatalf("unknown link: err = %v, want invalid", err)
	}
	waitQueuesDrain(t, srv)
}
