package whatsapp

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

func TestGroup(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		carolPhone := nextPhone()
		carol, err := f.srv.NewPhone(f.ctx, carolPhone, watestserver.PhoneOptions{PushName: "Carol"})
		if err != nil {
			t.Fatal(err)
		}
		defer carol.Close()

		group, err := f.srv.CreateGroup(f.ctx, f.bobJID.User, "Team", f.alice.User, carolPhone)
		if err != nil {
			t.Fatal(err)
		}
		// The group's room is created with its name and Bob (the creator) as admin.
		created, next := f.mx.waitEvent(t, 0, "the group's room", func(e sentEvent) bool {
			return e.Type == event.StateCreate && strings.Contains(string(e.Content.VeryRaw), "Team")
		})
		var req mautrix.ReqCreateRoom
		if err = json.Unmarshal(created.Content.VeryRaw, &req); err != nil {
			t.Fatal(err)
		}
		name := req.Name
		pl := req.PowerLevelOverride
		for _, st := range req.InitialState {
			_ = st.Content.ParseRaw(st.Type)
			switch st.Type {
			case event.StatePowerLevels:
				if pl == nil {
					pl = st.Content.AsPowerLevels()
				}
			case event.StateRoomName:
				name = st.Content.AsRoomName().Name
			}
		}
		if name != "Team" {
			t.Errorf("room name = %q, want Team", name)
		}
		if pl == nil || pl.Users[f.bobGhost] != PowerSuperAdmin {
			t.Errorf("power levels = %+v, want Bob (%s) at %d", pl, f.bobGhost, PowerSuperAdmin)
		}
		room := created.RoomID

		// Bob writes in the group.
		if _, err = f.bob.SendText(f.ctx, group, "hello team"); err != nil {
			t.Fatal(err)
		}
		msg, next := f.mx.waitEvent(t, next, "Bob's group message", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Sender == f.bobGhost
		})
		if msg.RoomID != room || msg.Message().Body != "hello team" {
			t.Errorf("group message %q went to %s, want %s", msg.Message().Body, msg.RoomID, room)
		}

		// Alice answers from Matrix: both phones decrypt it (group sender keys).
		fromBob, fromCarol := len(f.bob.Events.Events()), len(carol.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "hi both"})
		for _, p := range []struct {
			phone *watestserver.Phone
			from  int
		}{{f.bob, fromBob}, {carol, fromCarol}} {
			ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
			got, _, err := watestserver.WaitFor(ctx, p.phone.Events, p.from, func(m *events.Message) bool { return m.Message.GetConversation() == "hi both" })
			cancel()
			if err != nil {
				t.Fatalf("%s did not get Alice's group message: %v", p.phone.JID, err)
			}
			if got.Info.Chat != group || got.Info.Sender.ToNonAD() != f.alice && got.Info.SenderAlt.ToNonAD() != f.alice {
				t.Errorf("%s got it in %s from %s", p.phone.JID, got.Info.Chat, got.Info.Sender)
			}
		}

		// Bob mentions Alice: a pill to her Matrix user, and she is notified.
		if _, err = f.bob.Client.SendMessage(f.ctx, group, &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text:        proto.String("@" + f.alice.User + " look"),
			ContextInfo: &waE2E.ContextInfo{MentionedJID: []string{f.alice.String()}},
		}}); err != nil {
			t.Fatal(err)
		}
		mention, next := f.mx.waitEvent(t, next, "Bob's mention", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Sender == f.bobGhost && strings.HasSuffix(e.Message().Body, " look")
		})
		if m := mention.Message(); m.Mentions == nil || len(m.Mentions.UserIDs) != 1 || m.Mentions.UserIDs[0] != "@alice:test" ||
			!strings.Contains(m.FormattedBody, "https://matrix.to/#/@alice:test") {
			t.Errorf("mention = %q / %+v", m.FormattedBody, m.Mentions)
		}

		// Alice mentions Bob from Matrix: WhatsApp gets "@<number>" and the mentioned JID.
		fromBob = len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgText, Body: "Bob: ok", Format: event.FormatHTML,
			FormattedBody: `<a href="https://matrix.to/#/` + f.bobGhost.String() + `">Bob</a>: ok`,
		})
		ctx2, cancel2 := context.WithTimeout(f.ctx, 20*time.Second)
		got2, _, err := watestserver.WaitFor(ctx2, f.bob.Events, fromBob, func(m *events.Message) bool {
			return strings.HasSuffix(m.Message.GetExtendedTextMessage().GetText(), ": ok")
		})
		cancel2()
		if err != nil {
			t.Fatalf("Bob never got Alice's mention: %v", err)
		}
		if ext := got2.Message.GetExtendedTextMessage(); ext.GetText() != "@"+f.bobJID.User+": ok" ||
			len(ext.GetContextInfo().GetMentionedJID()) != 1 || ext.GetContextInfo().GetMentionedJID()[0] != f.bobJID.String() {
			t.Errorf("Alice's mention arrived as %q mentioning %v", ext.GetText(), ext.GetContextInfo().GetMentionedJID())
		}

		// Carol's ghost and message.
		if _, err = carol.SendText(f.ctx, group, "me too"); err != nil {
			t.Fatal(err)
		}
		carolGhost := f.mx.FormatGhostMXID(portal.WAUserID(types.NewJID(carolPhone, types.DefaultUserServer)))
		_, next = f.mx.waitEvent(t, next, "Carol's group message", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Sender == carolGhost && e.RoomID == room
		})

		// Renaming from Matrix renames the WhatsApp group.
		fromBob = len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.StateRoomName, &event.RoomNameEventContent{Name: "Team 2"})
		ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
		defer cancel()
		if _, _, err = watestserver.WaitFor(ctx, f.bob.Events, fromBob, func(g *events.GroupInfo) bool {
			return g.Name != nil && g.Name.Name == "Team 2"
		}); err != nil {
			t.Fatalf("Bob's phone never saw the new name: %v", err)
		}

		// Renaming on the phone renames the room.
		if err = f.bob.Client.SetGroupName(f.ctx, group, "Team 3"); err != nil {
			t.Fatal(err)
		}
		f.mx.waitEvent(t, next, "the room rename", func(e sentEvent) bool {
			return e.Type == event.StateRoomName && e.RoomID == room && strings.Contains(string(e.Content.VeryRaw), "Team 3")
		})
	})
}

// TestGroupMembers: members and admins changed on a phone change the room's members and power
// levels; a contact invited or kicked in Matrix is added to or removed from the WhatsApp group.
func TestGroupMembers(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		carolPhone := nextPhone()
		carol, err := f.srv.NewPhone(f.ctx, carolPhone, watestserver.PhoneOptions{PushName: "Carol"})
		if err != nil {
			t.Fatal(err)
		}
		defer carol.Close()
		carolJID := types.NewJID(carolPhone, types.DefaultUserServer)
		carolGhost := f.mx.FormatGhostMXID(portal.WAUserID(carolJID))
		group, err := f.srv.CreateGroup(f.ctx, f.bobJID.User, "Team", f.alice.User, carolPhone)
		if err != nil {
			t.Fatal(err)
		}
		created, next := f.mx.waitEvent(t, 0, "the group's room", func(e sentEvent) bool { return e.Type == event.StateCreate })
		room := created.RoomID

		// Bob makes Carol an admin on his phone.
		if _, err = f.bob.Client.UpdateGroupParticipants(f.ctx, group, []types.JID{carolJID}, whatsmeow.ParticipantChangePromote); err != nil {
			t.Fatal(err)
		}
		_, next = f.mx.waitEvent(t, next, "Carol's admin power level", func(e sentEvent) bool {
			if e.Type != event.StatePowerLevels || e.RoomID != room {
				return false
			}
			_ = e.Content.ParseRaw(e.Type)
			return e.Content.AsPowerLevels().Users[carolGhost] == PowerAdmin
		})

		// Bob removes Carol: her ghost leaves the room.
		if _, err = f.bob.Client.UpdateGroupParticipants(f.ctx, group, []types.JID{carolJID}, whatsmeow.ParticipantChangeRemove); err != nil {
			t.Fatal(err)
		}
		_, next = f.mx.waitEvent(t, next, "Carol leaving", func(e sentEvent) bool {
			return e.Type == event.StateMember && e.RoomID == room && strings.Contains(string(e.Content.VeryRaw), `"leave"`)
		})
		if got := f.srv.GroupMembers(group); len(got) != 2 {
			t.Fatalf("server group members = %v", got)
		}

		// Only admins may add people: WhatsApp's refusal reaches Matrix as an error.
		raw, _ := json.Marshal(&event.MemberEventContent{Membership: event.MembershipInvite})
		stateKey := carolGhost.String()
		res := f.br.QueueMatrixEvent(f.ctx, &event.Event{Sender: "@alice:test", Type: event.StateMember, RoomID: room, StateKey: &stateKey,
			ID: "$mx-invite-refused", Content: event.Content{VeryRaw: raw, Parsed: &event.MemberEventContent{Membership: event.MembershipInvite}}})
		if res.Success || res.Error == nil || !strings.Contains(res.Error.Error(), "403") {
			t.Errorf("invite by a non-admin: %+v, want WhatsApp's 403", res)
		}
		if _, err = f.bob.Client.UpdateGroupParticipants(f.ctx, group, []types.JID{f.alice}, whatsmeow.ParticipantChangePromote); err != nil {
			t.Fatal(err)
		}
		// Now an admin, Alice invites Carol's ghost from Matrix: Carol is added on WhatsApp.
		f.matrixMember("@alice:test", room, carolGhost, event.MembershipInvite)
		waitMembers(t, f.harness, group, 3)
		// Raising Carol's power level to admin in Matrix makes her a WhatsApp admin.
		prev, _ := f.mx.GetPowerLevels(f.ctx, room)
		prev.SetUserLevel(carolGhost, PowerMember) // re-added: a plain member again
		pl := prev.Clone()
		pl.SetUserLevel(carolGhost, PowerAdmin)
		f.matrixStateChange("@alice:test", room, event.StatePowerLevels, pl, prev)
		deadline := time.Now().Add(20 * time.Second)
		for !isWAAdmin(t, f, group, carolJID) {
			if time.Now().After(deadline) {
				t.Fatal("Carol never became a WhatsApp admin")
			}
			time.Sleep(100 * time.Millisecond)
		}
		// And kicks her again.
		f.matrixMember("@alice:test", room, carolGhost, event.MembershipLeave)
		waitMembers(t, f.harness, group, 2)
	})
}

func waitMembers(t *testing.T, h *harness, group types.JID, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(h.srv.GroupMembers(group)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("group members = %v, want %d", h.srv.GroupMembers(group), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isWAAdmin(t *testing.T, f *dmFixture, group, jid types.JID) bool {
	info, err := f.bob.Client.GetGroupInfo(f.ctx, group)
	if err != nil {
		t.Fatalf("group info: %v", err)
	}
	for _, p := range info.Participants {
		if p.JID.ToNonAD() == jid || p.PhoneNumber.ToNonAD() == jid {
			return p.IsAdmin || p.IsSuperAdmin
		}
	}
	return false
}
