package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
)

// Where it goes: a chat with no portal gets one (created through bridgev2 with the importing
// user's login as source), so live messages continue after the history; a chat whose portal
// exists gets an archive room linked from the portal (m.space.child + a notice); a chat that
// cannot be tied to a portal (no login on that network for a DM, or a WhatsApp export without
// --chat/--room) gets a standalone room. The choice is recorded per scope, so a re-run goes to the
// same room.

// portalKey is the portal of a chat, or false when the export and the request do not say
// which chat it is (or the network needs a receiver and the user has no login).
func (r *run) portalKey(ctx context.Context, ref *ChatRef) (networkid.PortalKey, bool, error) {
	br := r.im.br
	if r.req.Room != "" {
		p, err := br.GetPortalByMXID(ctx, r.req.Room)
		if err != nil {
			return networkid.PortalKey{}, false, fmt.Errorf("look up room %s: %w", r.req.Room, err)
		}
		if p == nil {
			return networkid.PortalKey{}, false, fmt.Errorf("room %s is not a portal of this bridge: give the room of the %s chat, or leave --room out", r.req.Room, r.src.Network().Name())
		}
		if n, err := portal.PortalNetwork(p.PortalKey); err != nil || n != r.src.Network() {
			return networkid.PortalKey{}, false, fmt.Errorf("room %s is a portal of another network, not %s", r.req.Room, r.src.Network().Name())
		}
		return p.PortalKey, true, nil
	}
	// The receiver rules are the connectors': Telegram DMs and basic groups belong to one account
	// (their message IDs are numbered per account), WhatsApp DMs too; groups, channels and
	// supergroups are shared unless the bridge splits portals.
	var key networkid.PortalKey
	var perAccount bool
	switch r.src.Network() {
	case portal.Telegram:
		if ref.TGPeer == nil {
			return key, false, nil
		}
		key.ID = portal.TGPortalID(*ref.TGPeer, 0)
		perAccount = ref.TGPeer.Kind != portal.TGChannel
	case portal.WhatsApp:
		if r.req.Chat == "" {
			return key, false, nil
		}
		jid, err := parseWAChat(r.req.Chat)
		if err != nil {
			return key, false, err
		}
		key.ID = portal.WAPortalID(jid)
		perAccount = jid.Server != types.GroupServer
	}
	if perAccount || br.Config.SplitPortals {
		if r.login == nil {
			return key, false, nil
		}
		key.Receiver = r.login.ID
	}
	return key, true, nil
}

// parseWAChat reads --chat: a phone number (+33 6 12 34 56 78) or a JID.
func parseWAChat(s string) (types.JID, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "@") {
		jid, err := types.ParseJID(s)
		if err != nil || jid.User == "" {
			return types.JID{}, fmt.Errorf("--chat %q is not a WhatsApp JID (like 120363025246125888@g.us)", s)
		}
		return jid.ToNonAD(), nil
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		if strings.ContainsRune("+ -.()", r) {
			return -1
		}
		return 'x'
	}, s)
	if digits == "" || strings.Contains(digits, "x") || len(digits) < 7 || !strings.HasPrefix(s, "+") {
		return types.JID{}, fmt.Errorf("--chat %q: give a phone number with its country code (+33612345678) or a group JID", s)
	}
	return types.NewJID(digits, types.DefaultUserServer), nil
}

func (r *run) resolveTarget(ctx context.Context, ref *ChatRef) (*chatRun, error) {
	c := &chatRun{ref: ref, joined: map[id.UserID]bool{}, senders: map[string]bridgev2.MatrixAPI{}, result: &RoomResult{}}
	key, known, err := r.portalKey(ctx, ref)
	if err != nil {
		return nil, err
	}
	if known {
		c.scope = string(key.ID) + "|" + string(key.Receiver)
		c.key = &key
	} else {
		c.scope = "standalone|" + string(r.req.User.MXID) + "|" + ref.Key
	}
	prev, err := r.im.store.GetRoom(ctx, c.scope)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		c.room, c.kind = prev.RoomID, prev.Kind
		c.result.Note = "continued in the room of an earlier import"
		return c, nil
	}
	switch {
	case !known:
		c.kind = KindStandalone
		c.result.Note = "not linked to a portal: " + r.whyStandalone()
		c.room, err = r.createRoom(ctx, ref, ref.Name, "")
	default:
		var existing *bridgev2.Portal
		existing, err = r.im.br.GetExistingPortalByKey(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("look up portal %s: %w", key.ID, err)
		}
		switch {
		case existing != nil && existing.MXID != "":
			c.kind = KindArchive
			c.room, err = r.createArchive(ctx, ref, existing)
		case r.login != nil:
			c.kind = KindPortal
			c.room, err = r.createPortal(ctx, ref, key)
		default:
			c.kind = KindStandalone
			c.result.Note = "not linked to a portal: " + r.whyStandalone()
			c.room, err = r.createRoom(ctx, ref, ref.Name, "")
		}
	}
	if err != nil {
		return nil, err
	}
	if err = r.im.store.PutRoom(ctx, &ImportRoom{Scope: c.scope, RoomID: c.room, Kind: c.kind, User: r.req.User.MXID}); err != nil {
		return nil, err
	}
	return c, nil
}

func (r *run) whyStandalone() string {
	if r.login == nil {
		return fmt.Sprintf("you have no %s login on this bridge", r.src.Network().Name())
	}
	return "the export does not say which chat it is (give --chat or --room)"
}

// createRoom makes a room for history that is not a portal (standalone or archive), with the
// importing user invited. parent, when set, is the portal the room is the archive of.
func (r *run) createRoom(ctx context.Context, ref *ChatRef, name string, parent id.RoomID) (id.RoomID, error) {
	bot := r.im.br.Bot
	topic := fmt.Sprintf("History imported from a %s export (%s) on %s", r.src.Network().Name(), r.req.FileName, time.Now().UTC().Format("2006-01-02"))
	req := &mautrix.ReqCreateRoom{
		Name:     name,
		Topic:    topic,
		Preset:   "private_chat",
		Invite:   []id.UserID{r.req.User.MXID},
		IsDirect: false,
		PowerLevelOverride: &event.PowerLevelsEventContent{Users: map[id.UserID]int{
			bot.GetMXID(): 100, r.req.User.MXID: 50,
		}},
	}
	if parent != "" {
		req.InitialState = append(req.InitialState, &event.Event{
			Type: event.StateSpaceParent, StateKey: ptrString(string(parent)),
			Content: event.Content{Parsed: &event.SpaceParentEventContent{Via: []string{bot.GetMXID().Homeserver()}}},
		})
	}
	room, err := bot.CreateRoom(ctx, req)
	if err != nil {
		return "", fmt.Errorf("create a room for %q: %w", ref.Name, err)
	}
	return room, nil
}

func ptrString(s string) *string { return &s }

// createArchive makes the archive room of an existing portal and links it from there.
func (r *run) createArchive(ctx context.Context, ref *ChatRef, p *bridgev2.Portal) (id.RoomID, error) {
	name := ref.Name
	if p.Name != "" {
		name = p.Name
	}
	room, err := r.createRoom(ctx, ref, name+" (imported history)", p.MXID)
	if err != nil {
		return "", err
	}
	bot := r.im.br.Bot
	_, err = bot.SendState(ctx, p.MXID, event.StateSpaceChild, string(room), &event.Content{
		Parsed: &event.SpaceChildEventContent{Via: []string{bot.GetMXID().Homeserver()}},
	}, time.Time{})
	if err != nil {
		return "", fmt.Errorf("link archive room %s from portal %s: %w", room, p.MXID, err)
	}
	text := fmt.Sprintf("The history imported from %s is in a separate room: %s", r.req.FileName, matrixToRoom(string(room)))
	_, err = bot.SendMessage(ctx, p.MXID, event.EventMessage, &event.Content{Parsed: &event.MessageEventContent{
		MsgType: event.MsgNotice, Body: text,
		Format: event.FormatHTML, FormattedBody: fmt.Sprintf("The history imported from %s is in a separate room: <a href=\"%s\">%s</a>",
			escape(r.req.FileName), matrixToRoom(string(room)), escape(name+" (imported history)")),
	}}, nil)
	if err != nil {
		return "", fmt.Errorf("announce archive room in portal %s: %w", p.MXID, err)
	}
	return room, nil
}

// createPortal creates the chat's portal through bridgev2, with the export's senders as members,
// and no network backfill at creation: the imported history comes first.
func (r *run) createPortal(ctx context.Context, ref *ChatRef, key networkid.PortalKey) (id.RoomID, error) {
	p, err := r.im.br.GetPortalByKey(ctx, key)
	if err != nil {
		return "", fmt.Errorf("get portal %s: %w", key.ID, err)
	}
	members := &bridgev2.ChatMemberList{MemberMap: bridgev2.ChatMemberMap{}}
	selfID := r.selfGhostID(SenderRef{})
	members.MemberMap[selfID] = bridgev2.ChatMember{
		EventSender: bridgev2.EventSender{IsFromMe: true, SenderLogin: r.login.ID, Sender: selfID},
		Membership:  event.MembershipJoin,
	}
	info := &bridgev2.ChatInfo{Members: members, CanBackfill: false}
	if ref.DM {
		dm := database.RoomTypeDM
		info.Type = &dm
	} else {
		name := ref.Name
		info.Name = &name
	}
	if cp := r.plan.chats[ref.Key]; cp != nil {
		for _, s := range cp.senders {
			if r.isSelf(s, ref) {
				continue
			}
			uid := r.ghostID(ctx, s, ref)
			m := bridgev2.ChatMember{EventSender: bridgev2.EventSender{Sender: uid}, Membership: event.MembershipJoin}
			if s.Name != "" {
				name := s.Name
				m.UserInfo = &bridgev2.UserInfo{Name: &name}
			}
			members.MemberMap[uid] = m
			if ref.DM && ref.OtherUser != nil && senderKey(*ref.OtherUser) == senderKey(s) {
				members.OtherUserID = uid
			}
		}
	}
	if err = p.CreateMatrixRoom(ctx, r.login, info); err != nil {
		return "", fmt.Errorf("create portal room for %s: %w", key.ID, err)
	}
	if p.MXID == "" {
		return "", errors.New("create portal room: bridgev2 returned without a room")
	}
	return p.MXID, nil
}
