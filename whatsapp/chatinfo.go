package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/wameta"
)

// Power levels of WhatsApp roles in group rooms.
const (
	PowerSuperAdmin = 95
	PowerAdmin      = 50
	PowerMember     = 0
)

// GetChatInfo describes a DM (the other person and us) or a group (name, topic, members with
// admins as power levels, announcement-only and locked settings, community as parent space).
func (c *Client) GetChatInfo(ctx context.Context, p *bridgev2.Portal) (*bridgev2.ChatInfo, error) {
	if err := portal.Require(portal.WhatsApp, "portal ID", string(p.ID)); err != nil {
		return nil, err
	}
	chat, err := portal.ParseWAPortalID(p.ID)
	if err != nil {
		return nil, err
	}
	switch chat.Server {
	case types.GroupServer:
		return c.groupInfo(ctx, chat, p)
	case types.BroadcastServer:
		return c.statusChatInfo(), nil
	case types.NewsletterServer:
		return c.newsletterChatInfo(ctx, chat), nil
	}
	dm := database.RoomTypeDM
	own := c.ownJID()
	members := &bridgev2.ChatMemberList{
		IsFull:      true,
		OtherUserID: portal.WAUserID(chat),
		MemberMap: bridgev2.ChatMemberMap{
			portal.WAUserID(chat): {EventSender: bridgev2.EventSender{Sender: portal.WAUserID(chat)}, Membership: event.MembershipJoin},
			portal.WAUserID(own):  {EventSender: c.eventSender(own), Membership: event.MembershipJoin},
		},
	}
	return &bridgev2.ChatInfo{Type: &dm, Members: members, CanBackfill: true}, nil
}

func (c *Client) groupInfo(ctx context.Context, chat types.JID, p *bridgev2.Portal) (*bridgev2.ChatInfo, error) {
	if c.WA == nil || !c.WA.IsConnected() {
		return nil, fmt.Errorf("get group %s: %w", chat, errNotConnected)
	}
	info, err := c.WA.GetGroupInfo(ctx, chat)
	if err != nil {
		return nil, fmt.Errorf("get group %s: %w", chat, err)
	}
	return c.groupToChatInfo(ctx, info, p), nil
}

// groupToChatInfo maps whatsmeow's group description to bridgev2's.
func (c *Client) groupToChatInfo(ctx context.Context, info *types.GroupInfo, p *bridgev2.Portal) *bridgev2.ChatInfo {
	name, topic := info.Name, info.Topic
	roomType := database.RoomTypeDefault
	if info.IsParent {
		roomType = database.RoomTypeSpace
	}
	members := &bridgev2.ChatMemberList{
		IsFull:           true,
		TotalMemberCount: len(info.Participants),
		MemberMap:        bridgev2.ChatMemberMap{},
		PowerLevels:      groupPowerLevels(info.IsAnnounce, info.IsLocked),
	}
	for _, participant := range info.Participants {
		jid := participant.JID
		if !participant.PhoneNumber.IsEmpty() {
			jid = participant.PhoneNumber
		}
		jid = c.canonical(ctx, jid)
		power := PowerMember
		if participant.IsSuperAdmin {
			power = PowerSuperAdmin
		} else if participant.IsAdmin {
			power = PowerAdmin
		}
		members.MemberMap.Set(bridgev2.ChatMember{
			EventSender: c.eventSender(jid),
			Membership:  event.MembershipJoin,
			PowerLevel:  &power,
		})
	}
	ci := &bridgev2.ChatInfo{
		Name:      &name,
		Topic:     &topic,
		Type:      &roomType,
		Members:   members,
		Disappear: disappearSetting(info.DisappearingTimer),
		ExtraUpdates: func(ctx context.Context, p *bridgev2.Portal) bool {
			meta := portalMeta(p)
			changed := meta.AnnounceOnly != info.IsAnnounce
			meta.AnnounceOnly = info.IsAnnounce
			parent := ""
			if !info.LinkedParentJID.IsEmpty() {
				parent = info.LinkedParentJID.String()
			}
			changed = changed || meta.CommunityJID != parent
			meta.CommunityJID = parent
			return changed
		},
	}
	if !info.LinkedParentJID.IsEmpty() {
		parentID := portal.WAPortalID(info.LinkedParentJID)
		ci.ParentID = &parentID
	}
	if c.WA != nil {
		ci.Avatar = c.avatar(ctx, info.JID, p.AvatarID)
	}
	return ci
}

// groupPowerLevels: announcement-only groups let only admins talk; locked groups let only admins
// change name, topic and picture.
func groupPowerLevels(announce, locked bool) *bridgev2.PowerLevelOverrides {
	talk, edit := PowerMember, PowerMember
	if announce {
		talk = PowerAdmin
	}
	if locked {
		edit = PowerAdmin
	}
	return &bridgev2.PowerLevelOverrides{
		EventsDefault: &talk,
		Events: map[event.Type]int{
			event.StateRoomName:   edit,
			event.StateTopic:      edit,
			event.StateRoomAvatar: edit,
		},
	}
}

func portalMeta(p *bridgev2.Portal) *wameta.Portal {
	meta, ok := p.Metadata.(*portal.PortalMeta)
	if !ok || meta == nil {
		meta = &portal.PortalMeta{}
		p.Metadata = meta
	}
	if meta.WA == nil {
		meta.WA = &wameta.Portal{}
	}
	return meta.WA
}

// GetUserInfo gives a ghost the saved contact name, else the name the person chose (push name),
// else the phone number, and the profile picture only when its WhatsApp ID changed.
func (c *Client) GetUserInfo(ctx context.Context, ghost *bridgev2.Ghost) (*bridgev2.UserInfo, error) {
	if err := portal.Require(portal.WhatsApp, "user ID", string(ghost.ID)); err != nil {
		return nil, err
	}
	jid, err := portal.ParseWAUserID(ghost.ID)
	if err != nil {
		return nil, err
	}
	info := &bridgev2.UserInfo{}
	var contact types.ContactInfo
	if c.WA != nil && c.WA.Store.Contacts != nil {
		contact, err = c.WA.Store.Contacts.GetContact(ctx, jid)
		if err != nil {
			return nil, fmt.Errorf("get contact %s: %w", jid, err)
		}
	}
	name := DisplayName(jid, contact)
	info.Name = &name
	if jid.Server == types.DefaultUserServer {
		info.Identifiers = []string{"tel:+" + jid.User}
	}
	if c.WA != nil && c.WA.IsConnected() {
		info.Avatar = c.avatar(ctx, jid, ghost.AvatarID)
	}
	return info, nil
}

// DisplayName picks the name a ghost shows: saved contact name, push name, business name, then
// the phone number.
func DisplayName(jid types.JID, contact types.ContactInfo) string {
	switch {
	case contact.FullName != "":
		return contact.FullName
	case contact.PushName != "":
		return contact.PushName
	case contact.BusinessName != "":
		return contact.BusinessName
	case contact.FirstName != "":
		return contact.FirstName
	case jid.Server == types.DefaultUserServer:
		return "+" + jid.User
	case contact.RedactedPhone != "":
		return contact.RedactedPhone
	}
	return "WhatsApp user " + jid.User
}

// avatar returns the current picture, nil when unchanged or unknown, and Remove when it is gone.
func (c *Client) avatar(ctx context.Context, jid types.JID, current networkid.AvatarID) *bridgev2.Avatar {
	pic, err := c.WA.GetProfilePictureInfo(ctx, jid, &whatsmeow.GetProfilePictureParams{ExistingID: string(current)})
	switch {
	case errors.Is(err, whatsmeow.ErrProfilePictureNotSet):
		return &bridgev2.Avatar{ID: "remove", Remove: true}
	case err != nil:
		c.log.Debug().Err(err).Stringer("jid", jid).Msg("No profile picture info")
		return nil
	case pic == nil:
		return nil // unchanged
	}
	url := pic.URL
	return &bridgev2.Avatar{
		ID: networkid.AvatarID(pic.ID),
		Get: func(ctx context.Context) ([]byte, error) {
			transport, err := c.Main.Config.Transport()
			if err != nil {
				return nil, err
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return nil, err
			}
			resp, err := (&http.Client{Transport: transport, Timeout: time.Minute}).Do(req)
			if err != nil {
				return nil, fmt.Errorf("download profile picture of %s: %w", jid, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("download profile picture of %s: HTTP %d", jid, resp.StatusCode)
			}
			return io.ReadAll(io.LimitReader(resp.Body, 10<<20))
		},
	}
}
