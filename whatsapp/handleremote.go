package whatsapp

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/bridgev2/simplevent"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/wameta"
)

// TypingTimeout is how long a WhatsApp "composing" state shows as typing in Matrix.
const TypingTimeout = 15 * time.Second

// handleRemote maps one whatsmeow event to bridgev2 remote events. It returns false only when an
// event that WhatsApp (or the inbound journal) would deliver again could not be handed to
// bridgev2.
func (c *Client) handleRemote(ctx context.Context, evt any) bool {
	switch e := evt.(type) {
	case *events.Message:
		return c.handleMessage(ctx, e)
	case *events.UndecryptableMessage:
		return c.handleUndecryptable(ctx, e)
	case *events.Receipt:
		return c.handleReceipt(ctx, e)
	case *events.ChatPresence:
		c.handleChatPresence(ctx, e)
	case *events.PushName:
		// Handled with the message that carried it, inside the portal's event loop
		// (see pushNameUpdater): bridgev2 ghosts must not change under a running portal.
	case *events.Contact:
		c.refreshGhost(ctx, e.JID)
	case *events.Picture:
		if !e.JID.IsEmpty() && e.JID.Server != types.GroupServer {
			c.refreshGhost(ctx, e.JID)
		} else if e.JID.Server == types.GroupServer {
			return c.send(ctx, c.groupResync(e.JID, false))
		}
	case *events.GroupInfo:
		return c.send(ctx, c.groupResync(e.JID, false))
	case *events.JoinedGroup:
		return c.send(ctx, c.groupResync(e.JID, true))
	case *events.CallOffer:
		return c.handleCall(ctx, e)
	case *events.HistorySync:
		return c.handleHistorySync(ctx, e)
	}
	return true
}

// canonical turns a user JID into the form used for ghosts and message IDs: the phone number
// when it is known, else the LID.
func (c *Client) canonical(ctx context.Context, jid types.JID) types.JID {
	jid = jid.ToNonAD()
	if jid.Server == types.HiddenUserServer && c.WA != nil && c.WA.Store.LIDs != nil {
		if pn, err := c.WA.Store.LIDs.GetPNForLID(ctx, jid); err == nil && !pn.IsEmpty() {
			return pn.ToNonAD()
		}
	}
	return jid
}

// senderOf is the canonical sender of a message source, preferring the phone form WhatsApp sent
// along with a LID.
func (c *Client) senderOf(ctx context.Context, src *types.MessageSource) types.JID {
	if src.IsFromMe {
		return c.ownJID()
	}
	if src.Sender.Server == types.HiddenUserServer && src.SenderAlt.Server == types.DefaultUserServer {
		return src.SenderAlt.ToNonAD()
	}
	return c.canonical(ctx, src.Sender)
}

// chatOf is the canonical chat of a message source: DMs with a LID become the phone-number chat.
func (c *Client) chatOf(ctx context.Context, src *types.MessageSource) types.JID {
	chat := src.Chat.ToNonAD()
	if chat.Server == types.HiddenUserServer {
		if src.IsFromMe && src.RecipientAlt.Server == types.DefaultUserServer {
			return src.RecipientAlt.ToNonAD()
		}
		if !src.IsFromMe && src.SenderAlt.Server == types.DefaultUserServer {
			return src.SenderAlt.ToNonAD()
		}
		return c.canonical(ctx, chat)
	}
	return chat
}

// portalKey is the portal of a chat: DMs belong to this login, groups are shared unless the
// bridge splits portals.
func (c *Client) portalKey(chat types.JID) networkid.PortalKey {
	key := networkid.PortalKey{ID: portal.WAPortalID(chat)}
	if chat.Server != types.GroupServer || c.Main.Bridge == nil || c.Main.Bridge.Config.SplitPortals {
		key.Receiver = c.UserLogin.ID
	}
	return key
}

// eventSender is the bridgev2 sender of a canonical user.
func (c *Client) eventSender(sender types.JID) bridgev2.EventSender {
	if sender.Server == types.NewsletterServer {
		// A channel post has no person behind it: the bridge bot posts it.
		return bridgev2.EventSender{}
	}
	own := c.ownJID()
	if sender == own {
		return bridgev2.EventSender{IsFromMe: true, SenderLogin: c.UserLogin.ID, Sender: portal.WAUserID(own)}
	}
	return bridgev2.EventSender{Sender: portal.WAUserID(sender)}
}

// keyTarget finds the sender of the message a key (of a reaction, revoke or edit sent by actor
// in chat) points at.
func (c *Client) keyTarget(ctx context.Context, chat, actor types.JID, key *waCommon.MessageKey) types.JID {
	if p := key.GetParticipant(); p != "" {
		if jid, err := types.ParseJID(p); err == nil {
			return c.canonical(ctx, jid)
		}
	}
	if key.GetFromMe() {
		return actor
	}
	if chat.Server != types.GroupServer && chat.Server != types.BroadcastServer {
		if actor == c.ownJID() {
			return chat
		}
		return c.ownJID()
	}
	return actor
}

func (c *Client) meta(typ bridgev2.RemoteEventType, chat, sender types.JID, ts time.Time, create bool) simplevent.EventMeta {
	return simplevent.EventMeta{
		Type:         typ,
		PortalKey:    c.portalKey(chat),
		Sender:       c.eventSender(sender),
		CreatePortal: create,
		Timestamp:    ts,
		LogContext: func(lc zerolog.Context) zerolog.Context {
			return lc.Stringer("wa_chat", chat).Stringer("wa_sender", sender)
		},
	}
}

func (c *Client) handleMessage(ctx context.Context, evt *events.Message) bool {
	if !c.bridged(evt.Info.Chat) {
		// Status updates and channels, unless switched on.
		return true
	}
	chat := c.chatOf(ctx, &evt.Info.MessageSource)
	sender := c.senderOf(ctx, &evt.Info.MessageSource)
	msg := evt.Message
	var preHandle func(context.Context, *bridgev2.Portal)
	if evt.Info.PushName != "" && sender != c.ownJID() {
		preHandle = c.pushNameUpdater(sender, evt.Info.PushName)
	}
	if pm := msg.GetProtocolMessage(); pm != nil {
		switch pm.GetType() {
		case waE2E.ProtocolMessage_REVOKE:
			target := c.keyTarget(ctx, chat, sender, pm.GetKey())
			return c.send(ctx, &simplevent.MessageRemove{
				EventMeta:     c.meta(bridgev2.RemoteEventMessageRemove, chat, sender, evt.Info.Timestamp, false),
				TargetMessage: portal.WAMessageID(chat, target, pm.GetKey().GetID()),
			})
		case waE2E.ProtocolMessage_MESSAGE_EDIT:
			target := c.keyTarget(ctx, chat, sender, pm.GetKey())
			edited := pm.GetEditedMessage()
			return c.send(ctx, &simplevent.Message[*waE2E.Message]{
				EventMeta:     c.meta(bridgev2.RemoteEventEdit, chat, sender, evt.Info.Timestamp, false),
				ID:            portal.WAMessageID(chat, target, pm.GetKey().GetID()),
				TargetMessage: portal.WAMessageID(chat, target, pm.GetKey().GetID()),
				Data:          edited,
				ConvertEditFunc: func(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, existing []*database.Message, data *waE2E.Message) (*bridgev2.ConvertedEdit, error) {
					return c.convertEdit(ctx, p, intent, existing, chat, data)
				},
			})
		case waE2E.ProtocolMessage_EPHEMERAL_SETTING:
			return c.send(ctx, &simplevent.ChatInfoChange{
				EventMeta: c.meta(bridgev2.RemoteEventChatInfoChange, chat, sender, evt.Info.Timestamp, false),
				ChatInfoChange: &bridgev2.ChatInfoChange{ChatInfo: &bridgev2.ChatInfo{
					Disappear: disappearSetting(pm.GetEphemeralExpiration()),
				}},
			})
		default:
			return true
		}
	}
	if reaction := msg.GetReactionMessage(); reaction != nil {
		target := c.keyTarget(ctx, chat, sender, reaction.GetKey())
		typ := bridgev2.RemoteEventReaction
		if reaction.GetText() == "" {
			typ = bridgev2.RemoteEventReactionRemove
		}
		return c.send(ctx, &simplevent.Reaction{
			EventMeta:      c.meta(typ, chat, sender, evt.Info.Timestamp, false),
			TargetMessage:  portal.WAMessageID(chat, target, reaction.GetKey().GetID()),
			Emoji:          reaction.GetText(),
			ReactionDBMeta: &portal.ReactionMeta{WA: &wameta.Reaction{}},
		})
	}
	if msg.GetPollUpdateMessage() != nil {
		return c.handlePollVote(ctx, chat, sender, evt)
	}
	if msg.GetSenderKeyDistributionMessage() != nil && onlySKDM(msg) {
		return true
	}
	id := portal.WAMessageID(chat, sender, evt.Info.ID)
	msgMeta := c.meta(bridgev2.RemoteEventMessageUpsert, chat, sender, evt.Info.Timestamp, true)
	msgMeta.PreHandleFunc = preHandle
	return c.send(ctx, &simplevent.Message[*events.Message]{
		EventMeta: msgMeta,
		ID:        id,
		Data:      evt,
		ConvertMessageFunc: func(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, data *events.Message) (*bridgev2.ConvertedMessage, error) {
			return c.convertMessage(ctx, p, intent, chat, data)
		},
		HandleExistingFunc: func(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, existing []*database.Message, data *events.Message) (bridgev2.UpsertResult, error) {
			return c.replacePlaceholder(existing, chat, sender, data)
		},
	})
}

// onlySKDM reports a message that only carries a group sender key (no content to show).
func onlySKDM(msg *waE2E.Message) bool {
	clone := proto.Clone(msg).(*waE2E.Message)
	clone.SenderKeyDistributionMessage = nil
	clone.MessageContextInfo = nil
	return isEmptyMessage(clone)
}

// replacePlaceholder swaps a "waiting for this message" notice for the message once it could be
// decrypted; a real duplicate is ignored.
func (c *Client) replacePlaceholder(existing []*database.Message, chat, sender types.JID, data *events.Message) (bridgev2.UpsertResult, error) {
	meta, _ := existing[0].Metadata.(*portal.MessageMeta)
	if meta == nil || meta.WA == nil || !meta.WA.Undecryptable {
		return bridgev2.UpsertResult{}, nil
	}
	edit := &simplevent.Message[*waE2E.Message]{
		EventMeta:     c.meta(bridgev2.RemoteEventEdit, chat, sender, data.Info.Timestamp, false),
		ID:            existing[0].ID,
		TargetMessage: existing[0].ID,
		Data:          data.Message,
		ConvertEditFunc: func(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, existing []*database.Message, msg *waE2E.Message) (*bridgev2.ConvertedEdit, error) {
			edit, err := c.convertEdit(ctx, p, intent, existing, chat, msg)
			if err == nil {
				for _, part := range edit.ModifiedParts {
					// The placeholder becomes the real message: no "edited" marker, and the
					// metadata no longer says undecryptable.
					part.Part.Metadata = &portal.MessageMeta{WA: &wameta.Message{SenderDevice: data.Info.Sender.Device}}
				}
			}
			return edit, err
		},
	}
	return bridgev2.UpsertResult{SubEvents: []bridgev2.RemoteEvent{edit}}, nil
}

// PlaceholderText is shown for a message that could not be decrypted yet.
const PlaceholderText = "⏳ Waiting for this message. It may take a while to arrive; opening WhatsApp on your phone helps."

func (c *Client) handleUndecryptable(ctx context.Context, evt *events.UndecryptableMessage) bool {
	if !c.bridged(evt.Info.Chat) {
		return true
	}
	chat := c.chatOf(ctx, &evt.Info.MessageSource)
	sender := c.senderOf(ctx, &evt.Info.MessageSource)
	observeError("decrypt")
	meta := c.meta(bridgev2.RemoteEventMessage, chat, sender, evt.Info.Timestamp, true)
	return c.sendKind(ctx, "placeholder", &simplevent.PreConvertedMessage{
		EventMeta: meta,
		ID:        portal.WAMessageID(chat, sender, evt.Info.ID),
		Data: &bridgev2.ConvertedMessage{Parts: []*bridgev2.ConvertedMessagePart{{
			Type:       event.EventMessage,
			Content:    &event.MessageEventContent{MsgType: event.MsgNotice, Body: PlaceholderText},
			DBMetadata: &portal.MessageMeta{WA: &wameta.Message{Undecryptable: true, SenderDevice: evt.Info.Sender.Device}},
		}}},
	})
}

func (c *Client) handleReceipt(ctx context.Context, evt *events.Receipt) bool {
	var typ bridgev2.RemoteEventType
	switch evt.Type {
	case types.ReceiptTypeRead, types.ReceiptTypeReadSelf:
		typ = bridgev2.RemoteEventReadReceipt
	case types.ReceiptTypeDelivered:
		typ = bridgev2.RemoteEventDeliveryReceipt
	default:
		return true
	}
	chat := c.chatOf(ctx, &evt.MessageSource)
	reader := c.senderOf(ctx, &evt.MessageSource)
	msgSender := c.ownJID()
	if evt.Type == types.ReceiptTypeReadSelf {
		// We read someone else's message on another device.
		if !evt.MessageSender.IsEmpty() {
			msgSender = c.canonical(ctx, evt.MessageSender)
		} else if chat.Server != types.GroupServer {
			msgSender = chat
		}
	}
	targets := make([]networkid.MessageID, len(evt.MessageIDs))
	for i, id := range evt.MessageIDs {
		targets[i] = portal.WAMessageID(chat, msgSender, id)
	}
	return c.send(ctx, &simplevent.Receipt{
		EventMeta: c.meta(typ, chat, reader, evt.Timestamp, false),
		Targets:   targets,
	})
}

func (c *Client) handleChatPresence(ctx context.Context, evt *events.ChatPresence) {
	chat := c.chatOf(ctx, &evt.MessageSource)
	sender := c.senderOf(ctx, &evt.MessageSource)
	typing := &simplevent.Typing{EventMeta: c.meta(bridgev2.RemoteEventTyping, chat, sender, time.Now(), false)}
	if evt.State == types.ChatPresenceComposing {
		typing.Timeout = TypingTimeout
		if evt.Media == types.ChatPresenceMediaAudio {
			typing.Type = bridgev2.TypingTypeRecordingMedia
		}
	}
	c.send(ctx, typing)
}

func (c *Client) handleCall(ctx context.Context, evt *events.CallOffer) bool {
	from := c.canonical(ctx, evt.CallCreator)
	if from.IsEmpty() {
		from = c.canonical(ctx, evt.From)
	}
	chat := from
	if !evt.GroupJID.IsEmpty() {
		chat = evt.GroupJID
	}
	return c.sendKind(ctx, "call", &simplevent.PreConvertedMessage{
		EventMeta: c.meta(bridgev2.RemoteEventMessage, chat, from, evt.Timestamp, true),
		ID:        portal.WAMessageID(chat, from, "call-"+evt.CallID),
		Data: &bridgev2.ConvertedMessage{Parts: []*bridgev2.ConvertedMessagePart{{
			Type:       event.EventMessage,
			Content:    &event.MessageEventContent{MsgType: event.MsgNotice, Body: "📞 Incoming WhatsApp call. Answer it on your phone."},
			DBMetadata: &portal.MessageMeta{WA: &wameta.Message{}},
		}}},
	})
}

// groupResync asks bridgev2 to refresh (and with create, make) a group's room from GetChatInfo.
func (c *Client) groupResync(group types.JID, create bool) bridgev2.RemoteEvent {
	return &simplevent.ChatResync{
		EventMeta: simplevent.EventMeta{
			Type:         bridgev2.RemoteEventChatResync,
			PortalKey:    c.portalKey(group),
			CreatePortal: create,
			Timestamp:    time.Now(),
		},
		GetChatInfoFunc: func(ctx context.Context, p *bridgev2.Portal) (*bridgev2.ChatInfo, error) {
			return c.GetChatInfo(ctx, p)
		},
	}
}

func disappearSetting(seconds uint32) *database.DisappearingSetting {
	if seconds == 0 {
		return &database.DisappearingSetting{Type: event.DisappearingTypeNone}
	}
	return &database.DisappearingSetting{Type: event.DisappearingTypeAfterSend, Timer: time.Duration(seconds) * time.Second}
}

// pushNameUpdater renames a ghost whose name came from the push name (no saved contact name)
// when a message carries a new one. It runs as the message's pre-handle step, in the portal's
// event loop, because bridgev2 reads ghosts there without locks.
func (c *Client) pushNameUpdater(sender types.JID, pushName string) func(context.Context, *bridgev2.Portal) {
	return func(ctx context.Context, p *bridgev2.Portal) {
		if c.Main.Bridge == nil {
			return
		}
		var contact types.ContactInfo
		if c.WA != nil && c.WA.Store.Contacts != nil {
			contact, _ = c.WA.Store.Contacts.GetContact(ctx, sender)
		}
		contact.PushName = pushName
		name := DisplayName(sender, contact)
		ghost, err := c.Main.Bridge.GetGhostByID(ctx, portal.WAUserID(sender))
		if err != nil || ghost == nil || ghost.Name == name {
			return
		}
		ghost.UpdateInfo(ctx, &bridgev2.UserInfo{Name: &name})
	}
}

// refreshGhost updates a ghost's profile from the contact store and profile picture.
func (c *Client) refreshGhost(ctx context.Context, jid types.JID) {
	if c.Main.Bridge == nil {
		return
	}
	jid = c.canonical(ctx, jid)
	ghost, err := c.Main.Bridge.GetGhostByID(ctx, portal.WAUserID(jid))
	if err != nil || ghost == nil {
		return
	}
	info, err := c.GetUserInfo(ctx, ghost)
	if err != nil {
		c.log.Warn().Err(err).Stringer("jid", jid).Msg("Failed to refresh WhatsApp user info")
		return
	}
	ghost.UpdateInfo(ctx, info)
}
