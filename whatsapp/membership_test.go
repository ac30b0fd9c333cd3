package whatsapp

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// memberChange injects a membership change of target by sender from prev to membership, as the
// homeserver delivers it, and returns bridgev2's result.
func (h *harness) memberChange(sender id.UserID, room id.RoomID, target id.UserID, prev, membership event.Membership) bridgev2.EventHandlingResult {
	h.t.Helper()
	raw, _ := json.Marshal(&event.MemberEventContent{Membership: membership})
	prevRaw, _ := json.Marshal(&event.MemberEventContent{Membership: prev})
	stateKey := target.String()
	evt := &event.Event{Sender: sender, Type: event.StateMember, RoomID: room, StateKey: &stateKey,
		ID: id.EventID("$mx" + time.Now().Format("150405.000000000")), Timestamp: time.Now().UnixMilli(),
		Content: event.Content{VeryRaw: raw}, Unsigned: event.Unsigned{PrevContent: &event.Content{VeryRaw: prevRaw}}}
	_ = evt.Content.ParseRaw(evt.Type)
	_ = evt.Unsigned.PrevContent.ParseRaw(evt.Type)
	return h.br.QueueMatrixEvent(h.ctx, evt)
}

// TestMatrixMembership: the Matrix user's own joins of DM and group portals are accepted without
// touching WhatsApp, a ghost invited into a DM is refused with a clear error, and a ghost kicked
// from a group is still removed on WhatsApp.
func TestMatrixMembership(t *testing.T) {
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

		f.bobSends(&waE2E.Message{Conversation: proto.String("hi")})
		_, next := f.mx.waitEvent(t, 0, "Bob's DM", func(e sentEvent) bool {
			return e.Sender == f.bobGhost && e.Type == event.EventMessage
		})
		dm := f.portalRoom(f.login, f.bobJID)
		group, err := f.srv.CreateGroup(f.ctx, f.bobJID.User, "Team", f.alice.User, carolPhone)
		if err != nil {
			t.Fatal(err)
		}
		f.mx.waitEvent(t, next, "the group's room", func(e sentEvent) bool { return e.Type == event.StateCreate })
		groupRoom := f.portalRoom(f.login, group)
		// Alice must be an admin for the kick to be allowed on WhatsApp.
		if _, err = f.bob.Client.UpdateGroupParticipants(f.ctx, group, []types.JID{f.alice}, whatsmeow.ParticipantChangePromote); err != nil {
			t.Fatal(err)
		}

		const alice = id.UserID("@alice:test")
		for _, tt := range []struct {
			name        string
			room        id.RoomID
			target      id.UserID
			prev, to    event.Membership
			wantErr     string // empty: accepted
			wantMembers int    // WhatsApp group members afterwards
		}{
			{"own join after invite in DM", dm, alice, event.MembershipInvite, event.MembershipJoin, "", 3},
			{"own join after leave in DM", dm, alice, event.MembershipLeave, event.MembershipJoin, "", 3},
			{"own join after invite in group", groupRoom, alice, event.MembershipInvite, event.MembershipJoin, "", 3},
			{"own profile change in group", groupRoom, alice, event.MembershipJoin, event.MembershipJoin, "", 3},
			{"ghost invite in DM", dm, carolGhost, event.MembershipLeave, event.MembershipInvite, "direct chat", 3},
			{"ghost kick in group", groupRoom, carolGhost, event.MembershipJoin, event.MembershipLeave, "", 2},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res := f.memberChange(alice, tt.room, tt.target, tt.prev, tt.to)
				if tt.wantErr == "" {
					if !res.Success || res.Ignored || res.Error != nil {
						t.Errorf("%s → %s of %s: %+v, want handled without error", tt.prev, tt.to, tt.target, res)
					}
				} else if res.Success || res.Error == nil || !strings.Contains(res.Error.Error(), tt.wantErr) {
					t.Errorf("%s → %s of %s: %+v, want an error mentioning %q", tt.prev, tt.to, tt.target, res, tt.wantErr)
				}
				waitMembers(t, f.harness, group, tt.wantMembers)
			})
		}
	})
}
