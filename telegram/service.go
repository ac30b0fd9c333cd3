package telegram

import (
	"context"
	"fmt"
	"time"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/bridgev2/simplevent"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
)

// handleService bridges Telegram service messages: membership, title and photo changes become
// room state; pins and group upgrades become notices (and the upgraded group's new room).
func (c *Client) handleService(ctx context.Context, msg *tg.MessageService, e entities) error {
	chat, ok := peerOf(msg.PeerID)
	if !ok {
		return nil
	}
	key := c.portalKey(chat, topicOf(chat, e, msg.ReplyTo))
	sender := c.sender(chat, msg.FromID, msg.Out)
	ts := time.Unix(int64(msg.Date), 0)
	change := func(ch *bridgev2.ChatInfoChange) error {
		return c.queue(ctx, &simplevent.ChatInfoChange{
			EventMeta:      simplevent.EventMeta{Type: bridgev2.RemoteEventChatInfoChange, PortalKey: key, Sender: sender, Timestamp: ts},
			ChatInfoChange: ch,
		})
	}
	members := func(membership event.Membership, ids ...int64) error {
		list := &bridgev2.ChatMemberList{MemberMap: bridgev2.ChatMemberMap{}}
		for _, id := range ids {
			m := c.member(id, levelMember)
			m.PowerLevel = nil
			m.Membership = membership
			m.MemberSender = sender
			list.MemberMap.Set(m)
		}
		return change(&bridgev2.ChatInfoChange{MemberChanges: list})
	}
	notice := func(text string, reply int) error {
		evt := &simplevent.Message[string]{
			EventMeta: simplevent.EventMeta{Type: bridgev2.RemoteEventMessage, PortalKey: key, Sender: sender, Timestamp: ts},
			ID:        c.messageID(chat, msg.ID),
			Data:      text,
			ConvertMessageFunc: func(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, text string) (*bridgev2.ConvertedMessage, error) {
				cm := &bridgev2.ConvertedMessage{Parts: []*bridgev2.ConvertedMessagePart{{
					Type: event.EventMessage, Content: &event.MessageEventContent{MsgType: event.MsgNotice, Body: text},
				}}}
				if reply != 0 {
					cm.ReplyTo = &networkid.MessageOptionalPartID{MessageID: c.messageID(chat, reply)}
				}
				return cm, nil
			},
		}
		return c.queue(ctx, evt)
	}
	fromID := func() int64 {
		if p, ok := peerOf(msg.FromID); ok && p.Kind == portal.TGUser {
			return p.ID
		}
		if msg.Out {
			return c.userID
		}
		return 0
	}
	switch a := msg.Action.(type) {
	case *tg.MessageActionChatAddUser:
		return members(event.MembershipJoin, a.Users...)
	case *tg.MessageActionChatJoinedByLink, *tg.MessageActionChatJoinedByRequest:
		if id := fromID(); id != 0 {
			return members(event.MembershipJoin, id)
		}
	case *tg.MessageActionChatDeleteUser:
		return members(event.MembershipLeave, a.UserID)
	case *tg.MessageActionChatEditTitle:
		return change(&bridgev2.ChatInfoChange{ChatInfo: &bridgev2.ChatInfo{Name: ptr(a.Title)}})
	case *tg.MessageActionChatEditPhoto:
		photo, ok := a.Photo.(*tg.Photo)
		if !ok {
			return nil
		}
		in, err := c.inputPeer(ctx, chat)
		if err != nil {
			return err
		}
		return change(&bridgev2.ChatInfoChange{ChatInfo: &bridgev2.ChatInfo{Avatar: c.avatar(in, photo.ID)}})
	case *tg.MessageActionChatDeletePhoto:
		return change(&bridgev2.ChatInfoChange{ChatInfo: &bridgev2.ChatInfo{Avatar: &bridgev2.Avatar{Remove: true}}})
	case *tg.MessageActionPinMessage:
		reply := 0
		if h, ok := msg.ReplyTo.(*tg.MessageReplyHeader); ok {
			reply = h.ReplyToMsgID
		}
		return notice("📌 pinned a message", reply)
	case *tg.MessageActionChatCreate, *tg.MessageActionChannelCreate:
		return c.queue(ctx, &simplevent.ChatResync{
			EventMeta:       simplevent.EventMeta{Type: bridgev2.RemoteEventChatResync, PortalKey: key, CreatePortal: true, Timestamp: ts},
			GetChatInfoFunc: c.GetChatInfo,
		})
	case *tg.MessageActionChatMigrateTo:
		newChat := portal.TGPeer{Kind: portal.TGChannel, ID: a.ChannelID}
		if err := notice("This group was upgraded to a supergroup; the conversation continues in a new room.", 0); err != nil {
			return err
		}
		return c.queue(ctx, &simplevent.ChatResync{
			EventMeta:       simplevent.EventMeta{Type: bridgev2.RemoteEventChatResync, PortalKey: c.portalKey(newChat, 0), CreatePortal: true, Timestamp: ts},
			GetChatInfoFunc: c.GetChatInfo,
		})
	case *tg.MessageActionGroupCall, *tg.MessageActionPhoneCall:
		return notice("📞 call", 0)
	case *tg.MessageActionScreenshotTaken:
		return notice("took a screenshot", 0)
	case *tg.MessageActionCustomAction:
		return notice(a.Message, 0)
	default:
		c.log.Debug().Str("action", fmt.Sprintf("%T", a)).Msg("Telegram service message not bridged")
	}
	return nil
}
