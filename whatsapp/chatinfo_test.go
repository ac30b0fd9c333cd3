package whatsapp

import (
	"context"
	"net/http"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
)

func mustRequest(t *testing.T, url string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestDisplayName(t *testing.T) {
	pn := types.NewJID("33611111111", types.DefaultUserServer)
	lid := types.NewJID("123456", types.HiddenUserServer)
	tests := []struct {
		name    string
		jid     types.JID
		contact types.ContactInfo
		want    string
	}{
		{"saved contact wins", pn, types.ContactInfo{FullName: "Maman", PushName: "Jeanne ☀️"}, "Maman"},
		{"push name", pn, types.ContactInfo{PushName: "Jeanne ☀️"}, "Jeanne ☀️"},
		{"business", pn, types.ContactInfo{BusinessName: "Boulangerie"}, "Boulangerie"},
		{"first name only", pn, types.ContactInfo{FirstName: "Jeanne"}, "Jeanne"},
		{"phone number", pn, types.ContactInfo{}, "+33611111111"},
		{"LID with redacted phone", lid, types.ContactInfo{RedactedPhone: "+33∙∙∙∙∙∙∙11"}, "+33∙∙∙∙∙∙∙11"},
		{"bare LID", lid, types.ContactInfo{}, "WhatsApp user 123456"},
	}
	for _, tt := range tests {
		if got := DisplayName(tt.jid, tt.contact); got != tt.want {
			t.Errorf("%s: DisplayName = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestGroupToChatInfo(t *testing.T) {
	own := types.NewJID("33600000001", types.DefaultUserServer)
	c := &Client{Main: NewConnector(), UserLogin: &bridgev2.UserLogin{UserLogin: &database.UserLogin{ID: portal.WALoginID(own)}}}
	c.Device = nil
	bob := types.NewJID("33600000002", types.DefaultUserServer)
	carolLID := types.NewJID("987654", types.HiddenUserServer)
	carolPN := types.NewJID("33600000003", types.DefaultUserServer)
	community := types.NewJID("120363000000000001", types.GroupServer)
	tests := []struct {
		name      string
		info      types.GroupInfo
		roomType  database.RoomType
		talk      int
		edit      int
		parent    string
		powers    map[types.JID]int
		disappear bool
	}{
		{
			name: "plain group",
			info: types.GroupInfo{GroupName: types.GroupName{Name: "Team"}, Participants: []types.GroupParticipant{
				{JID: bob, IsSuperAdmin: true}, {JID: carolLID, PhoneNumber: carolPN},
			}},
			talk: PowerMember, edit: PowerMember,
			powers: map[types.JID]int{bob: PowerSuperAdmin, carolPN: PowerMember},
		},
		{
			name: "announcement-only, locked, disappearing",
			info: types.GroupInfo{GroupName: types.GroupName{Name: "News"}, GroupAnnounce: types.GroupAnnounce{IsAnnounce: true},
				GroupLocked: types.GroupLocked{IsLocked: true}, GroupEphemeral: types.GroupEphemeral{IsEphemeral: true, DisappearingTimer: 86400},
				Participants: []types.GroupParticipant{{JID: bob, IsAdmin: true}}},
			talk: PowerAdmin, edit: PowerAdmin, disappear: true,
			powers: map[types.JID]int{bob: PowerAdmin},
		},
		{
			name:     "community is a space",
			info:     types.GroupInfo{GroupName: types.GroupName{Name: "Asso"}, GroupParent: types.GroupParent{IsParent: true}},
			roomType: database.RoomTypeSpace, talk: PowerMember, edit: PowerMember,
		},
		{
			name: "group in a community",
			info: types.GroupInfo{GroupName: types.GroupName{Name: "Asso: général"}, GroupLinkedParent: types.GroupLinkedParent{LinkedParentJID: community}},
			talk: PowerMember, edit: PowerMember,
			parent: string(portal.WAPortalID(community)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ci := c.groupToChatInfo(context.Background(), &tt.info, nil)
			if *ci.Name != tt.info.Name || *ci.Type != tt.roomType {
				t.Errorf("name %q type %q", *ci.Name, *ci.Type)
			}
			pl := ci.Members.PowerLevels
			if *pl.EventsDefault != tt.talk || pl.Events[event.StateRoomName] != tt.edit || pl.Events[event.StateTopic] != tt.edit {
				t.Errorf("power levels: talk %d edit %d, want %d %d", *pl.EventsDefault, pl.Events[event.StateRoomName], tt.talk, tt.edit)
			}
			if (ci.ParentID != nil) != (tt.parent != "") || ci.ParentID != nil && string(*ci.ParentID) != tt.parent {
				t.Errorf("parent = %v, want %q", ci.ParentID, tt.parent)
			}
			if (ci.Disappear.Type != event.DisappearingTypeNone) != tt.disappear {
				t.Errorf("disappearing = %+v", ci.Disappear)
			}
			if len(ci.Members.MemberMap) != len(tt.powers) {
				t.Errorf("members = %v", ci.Members.MemberMap)
			}
			for jid, want := range tt.powers {
				m, ok := ci.Members.MemberMap[portal.WAUserID(jid)]
				if !ok || m.PowerLevel == nil || *m.PowerLevel != want {
					t.Errorf("member %s: %+v, want power %d (LID members must be keyed by phone number)", jid, m, want)
				}
			}
			p := &bridgev2.Portal{Portal: &database.Portal{Metadata: &portal.PortalMeta{}}}
			ci.ExtraUpdates(context.Background(), p)
			meta := p.Metadata.(*portal.PortalMeta).WA
			if meta.AnnounceOnly != tt.info.IsAnnounce || (meta.CommunityJID != "") != (tt.parent != "") {
				t.Errorf("portal metadata = %+v", meta)
			}
		})
	}
}
