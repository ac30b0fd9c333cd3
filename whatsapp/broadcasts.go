package whatsapp

import (
	"context"
	"errors"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
)

// Status updates and channels (newsletters) are bridged only when the operator switches them on
// (network.whatsapp.status_broadcast / newsletters). Both are one-way: statuses go into one
// "WhatsApp Status" room per login, each posted by its author's ghost; a channel's posts go into a
// read-only room of their own, posted by the bridge bot (a channel has no person behind a post).

// StatusRoomName is the name of the room holding contacts' status updates.
const StatusRoomName = "WhatsApp Status"

// PowerReadOnly is the power needed to post in a channel room: only the bridge bot has it.
const PowerReadOnly = 100

var errReadOnlyChat = errors.New("WhatsApp status updates and channels are read-only from Matrix")

// bridged reports whether messages of a chat are bridged at all under the current settings.
func (c *Client) bridged(chat types.JID) bool {
	switch chat.Server {
	case types.BroadcastServer:
		// Only the status broadcast: other broadcast lists reach recipients as DMs.
		return chat.User == types.StatusBroadcastJID.User && c.Main.Config.StatusBroadcast
	case types.NewsletterServer:
		return c.Main.Config.Newsletters
	}
	return true
}

// readOnlyChat reports chats that Matrix users can read but not write to through the bridge.
func readOnlyChat(chat types.JID) bool {
	return chat.Server == types.BroadcastServer || chat.Server == types.NewsletterServer
}

// writableChatOfPortal is chatOfPortal for actions that would post to WhatsApp: posting a status
// or to a channel from a Matrix room is refused.
func (c *Client) writableChatOfPortal(p *bridgev2.Portal) (types.JID, error) {
	chat, err := c.chatOfPortal(p)
	if err == nil && readOnlyChat(chat) {
		return types.EmptyJID, errReadOnlyChat
	}
	return chat, err
}

// statusChatInfo describes the status room: the user alone at first; authors join as they post.
// Its power levels are left alone because authors are not known before they post.
func (c *Client) statusChatInfo() *bridgev2.ChatInfo {
	return c.oneWayChatInfo(StatusRoomName, "Status updates of your WhatsApp contacts. Read-only: reply to a status in the contact's chat.", nil)
}

// newsletterChatInfo describes a channel room: its name and description from WhatsApp, and power
// levels that leave posting to the bridge bot.
func (c *Client) newsletterChatInfo(ctx context.Context, chat types.JID) *bridgev2.ChatInfo {
	name, topic := "WhatsApp channel", ""
	if c.WA != nil && c.WA.IsConnected() {
		if meta, err := c.WA.GetNewsletterInfo(ctx, chat); err != nil {
			c.log.Warn().Err(err).Stringer("channel", chat).Msg("Could not fetch channel info; using a generic name")
		} else if meta != nil {
			if meta.ThreadMeta.Name.Text != "" {
				name = meta.ThreadMeta.Name.Text
			}
			topic = meta.ThreadMeta.Description.Text
		}
	}
	readOnly := PowerReadOnly
	return c.oneWayChatInfo(name, topic, &bridgev2.PowerLevelOverrides{EventsDefault: &readOnly})
}

// oneWayChatInfo is the room of a status or channel feed, with the user as its only known member.
func (c *Client) oneWayChatInfo(name, topic string, power *bridgev2.PowerLevelOverrides) *bridgev2.ChatInfo {
	roomType := database.RoomTypeDefault
	own := c.ownJID()
	return &bridgev2.ChatInfo{
		Name:  &name,
		Topic: &topic,
		Type:  &roomType,
		Members: &bridgev2.ChatMemberList{
			MemberMap: bridgev2.ChatMemberMap{
				portal.WAUserID(own): {EventSender: c.eventSender(own), Membership: event.MembershipJoin},
			},
			PowerLevels: power,
		},
	}
}

// readOnlyRoomFeatures are the features of status and channel rooms: nothing goes to WhatsApp.
var readOnlyRoomFeatures = &event.RoomFeatures{
	ID:         "wa.passerelle.readonly.v1",
	Formatting: waFormatting,
}
