package whatsapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/devicestore"
	"github.com/passerelle-bridge/passerelle/whatsapp/msgconv"
	"github.com/passerelle-bridge/passerelle/whatsapp/wameta"
)

var (
	_ bridgev2.EditHandlingNetworkAPI        = (*Client)(nil)
	_ bridgev2.ReactionHandlingNetworkAPI    = (*Client)(nil)
	_ bridgev2.RedactionHandlingNetworkAPI   = (*Client)(nil)
	_ bridgev2.ReadReceiptHandlingNetworkAPI = (*Client)(nil)
	_ bridgev2.TypingHandlingNetworkAPI      = (*Client)(nil)
	_ bridgev2.RoomNameHandlingNetworkAPI    = (*Client)(nil)
	_ bridgev2.RoomTopicHandlingNetworkAPI   = (*Client)(nil)
)

// chatOfPortal returns the WhatsApp chat of a portal, refusing portals of the other network.
func (c *Client) chatOfPortal(p *bridgev2.Portal) (types.JID, error) {
	if err := portal.Require(portal.WhatsApp, "portal ID", string(p.ID)); err != nil {
		return types.EmptyJID, err
	}
	return portal.ParseWAPortalID(p.ID)
}

func (c *Client) connected() error {
	if c.WA == nil || !c.WA.IsLoggedIn() {
		return errNotConnected
	}
	return nil
}

// HandleMatrixMessage sends text, media or a location to WhatsApp.
func (c *Client) HandleMatrixMessage(ctx context.Context, msg *bridgev2.MatrixMessage) (resp *bridgev2.MatrixMessageResponse, err error) {
	defer observeToRemote("message", time.Now(), &err)
	chat, err := c.writableChatOfPortal(msg.Portal)
	if err != nil {
		return nil, err
	}
	if err = c.holdForOutbox(ctx, msg.Portal, msg.Event); err != nil {
		return nil, err
	}
	defer c.requeueOnDisconnect(ctx, msg.Portal, msg.Event, &err)
	if err = c.connected(); err != nil {
		return nil, err
	}
	waMsg, err := c.convertMatrix(ctx, msg.Portal, msg.Event.Type, msg.Content)
	if err != nil {
		return nil, err
	}
	if msg.ReplyTo != nil {
		if err = c.addReply(waMsg, msg.ReplyTo); err != nil {
			return nil, err
		}
	}
	withExpiration(waMsg, msg.Portal)
	return c.sendToWhatsApp(ctx, chat, waMsg, msg.Event.ID)
}

// sendToWhatsApp sends a message, remembers it for retry receipts and describes it for bridgev2.
// evtID is the Matrix event it carries (see idForEvent).
func (c *Client) sendToWhatsApp(ctx context.Context, chat types.JID, waMsg *waE2E.Message, evtID id.EventID) (*bridgev2.MatrixMessageResponse, error) {
	msgID := c.idForEvent(evtID)
	resp, err := c.sendMessage(ctx, chat, waMsg, whatsmeow.SendRequestExtra{ID: msgID})
	if err != nil {
		return nil, fmt.Errorf("send to WhatsApp chat %s: %w", chat, err)
	}
	c.rememberSent(ctx, chat, msgID, waMsg, resp.Timestamp)
	own := c.ownJID()
	return &bridgev2.MatrixMessageResponse{DB: &database.Message{
		ID:        portal.WAMessageID(chat, own, msgID),
		SenderID:  portal.WAUserID(own),
		Timestamp: resp.Timestamp,
		Metadata:  &portal.MessageMeta{WA: &wameta.Message{SenderDevice: c.WA.Store.ID.Device}},
	}}, nil
}

// idForEvent is the WhatsApp message ID of what a Matrix event becomes: derived from the event ID
// and the account, not random, so a send repeated after an unanswered first attempt (connection
// cut before the server's ack, outbox replay, redelivered transaction) carries the same ID, and
// WhatsApp apps, which key messages by chat, sender and ID, keep one copy. The shape is
// whatsmeow's own ("3EB0" and 18 upper-case hex digits).
func (c *Client) idForEvent(evtID id.EventID) types.MessageID {
	if evtID == "" {
		return c.WA.GenerateMessageID()
	}
	h := sha256.Sum256([]byte(c.ownJID().User + "\x00" + string(evtID)))
	return whatsmeow.WebMessageIDPrefix + types.MessageID(strings.ToUpper(hex.EncodeToString(h[:9])))
}

// sendMessage is WA.SendMessage under the device's crypto lock (devicestore.CryptoLock), so a
// message being decrypted on the receive path never changes the session a send encrypts from.
func (c *Client) sendMessage(ctx context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	if c.Main != nil && c.Main.Devices != nil && c.Device != nil && c.Device.ID != nil {
		lock := c.Main.Devices.CryptoLock(*c.Device.ID)
		lock.Lock()
		defer lock.Unlock()
	}
	ctx, guard := devicestore.GuardSend(ctx)
	defer guard.Release()
	resp, err := c.WA.SendMessage(ctx, to, msg, extra...)
	if storeErr := guard.Err(); storeErr != nil {
		// whatsmeow gave the send up, or sent it to fewer devices than it should: report the
		// store's failure (transient), so the event is handled again once the database is back;
		// the message ID is derived from the event, so a device that got it keeps one copy.
		return resp, fmt.Errorf("encrypt for the recipient's devices: %w", storeErr)
	}
	return resp, err
}

// rememberSent stores a sent message so retry receipts can be answered after a restart.
func (c *Client) rememberSent(ctx context.Context, chat types.JID, msgID types.MessageID, waMsg *waE2E.Message, ts time.Time) {
	if c.Main.Devices == nil || c.WA.Store.ID == nil {
		return
	}
	if err := c.Main.Devices.PutSentMessage(ctx, *c.WA.Store.ID, chat, msgID, waMsg, ts); err != nil {
		c.log.Warn().Err(err).Str("message_id", msgID).Msg("Failed to remember sent message for retry receipts")
	}
}

// addReply quotes the replied-to message in the outgoing message's context info.
func (c *Client) addReply(waMsg *waE2E.Message, target *database.Message) error {
	ref, err := portal.ParseWAMessageID(target.ID)
	if err != nil {
		return fmt.Errorf("reply target: %w", err)
	}
	info := ensureContextInfo(waMsg)
	info.StanzaID = proto.String(ref.ID)
	info.Participant = proto.String(ref.Sender.String())
	info.QuotedMessage = &waE2E.Message{Conversation: proto.String("")}
	return nil
}

// ensureContextInfo returns the context info of the message's content, creating it (and
// turning a plain conversation into an extended text, which can carry one) when needed.
func ensureContextInfo(m *waE2E.Message) *waE2E.ContextInfo {
	if m.Conversation != nil {
		m.ExtendedTextMessage = &waE2E.ExtendedTextMessage{Text: m.Conversation}
		m.Conversation = nil
	}
	set := func(ci **waE2E.ContextInfo) *waE2E.ContextInfo {
		if *ci == nil {
			*ci = &waE2E.ContextInfo{}
		}
		return *ci
	}
	switch {
	case m.ExtendedTextMessage != nil:
		return set(&m.ExtendedTextMessage.ContextInfo)
	case m.ImageMessage != nil:
		return set(&m.ImageMessage.ContextInfo)
	case m.VideoMessage != nil:
		return set(&m.VideoMessage.ContextInfo)
	case m.AudioMessage != nil:
		return set(&m.AudioMessage.ContextInfo)
	case m.DocumentMessage != nil:
		return set(&m.DocumentMessage.ContextInfo)
	case m.StickerMessage != nil:
		return set(&m.StickerMessage.ContextInfo)
	case m.LocationMessage != nil:
		return set(&m.LocationMessage.ContextInfo)
	}
	m.ExtendedTextMessage = &waE2E.ExtendedTextMessage{Text: proto.String("")}
	return set(&m.ExtendedTextMessage.ContextInfo)
}

// resolveMention maps a Matrix user to the JID WhatsApp should mention.
func (c *Client) resolveMention(ctx context.Context, user id.UserID) (types.JID, bool) {
	if c.Main.Bridge == nil {
		return types.EmptyJID, false
	}
	if ghostID, ok := c.Main.Bridge.Matrix.ParseGhostMXID(user); ok {
		if jid, err := portal.ParseWAUserID(ghostID); err == nil {
			return jid, true
		}
		return types.EmptyJID, false
	}
	if c.UserLogin != nil && user == c.UserLogin.UserMXID {
		return c.ownJID(), true
	}
	return types.EmptyJID, false
}

// convertMatrix builds the WhatsApp message for Matrix content.
func (c *Client) convertMatrix(ctx context.Context, p *bridgev2.Portal, evtType event.Type, content *event.MessageEventContent) (*waE2E.Message, error) {
	if evtType == event.EventSticker {
		content.MsgType = event.MessageType(event.CapMsgSticker)
	}
	switch content.MsgType {
	case event.MsgText, event.MsgNotice, event.MsgEmote:
		text, mentioned := msgconv.ToWhatsApp(ctx, content, c.resolveMention)
		if len(mentioned) == 0 {
			return &waE2E.Message{Conversation: proto.String(text)}, nil
		}
		jids := make([]string, len(mentioned))
		for i, jid := range mentioned {
			jids[i] = jid.String()
		}
		return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text:        proto.String(text),
			ContextInfo: &waE2E.ContextInfo{MentionedJID: jids},
		}}, nil
	case event.MsgLocation:
		lat, long, err := msgconv.ParseGeoURI(content.GeoURI)
		if err != nil {
			return nil, err
		}
		return &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
			DegreesLatitude: proto.Float64(lat), DegreesLongitude: proto.Float64(long),
		}}, nil
	case event.MsgImage, event.MsgVideo, event.MsgAudio, event.MsgFile, event.MessageType(event.CapMsgSticker):
		return c.convertMatrixMedia(ctx, p, content)
	default:
		return nil, fmt.Errorf("%s messages cannot be sent to WhatsApp", content.MsgType)
	}
}

// convertMatrixMedia downloads Matrix media, encrypts and uploads it to WhatsApp.
func (c *Client) convertMatrixMedia(ctx context.Context, p *bridgev2.Portal, content *event.MessageEventContent) (*waE2E.Message, error) {
	url := content.URL
	if content.File != nil {
		url = content.File.URL
	}
	data, err := p.Bridge.Bot.DownloadMedia(ctx, url, content.File)
	if err != nil {
		return nil, fmt.Errorf("download %s from Matrix: %w", content.MsgType, err)
	}
	mime := ""
	if content.Info != nil {
		mime = content.Info.MimeType
	}
	if mime == "" {
		mime = "application/octet-stream"
	}
	caption := ""
	fileName := content.Body
	if content.FileName != "" && content.FileName != content.Body {
		fileName = content.FileName
		caption, _ = msgconv.ToWhatsApp(ctx, content, c.resolveMention)
	}
	kind := whatsmeow.MediaDocument
	switch content.MsgType {
	case event.MsgImage, event.MessageType(event.CapMsgSticker):
		kind = whatsmeow.MediaImage
	case event.MsgVideo:
		kind = whatsmeow.MediaVideo
	case event.MsgAudio:
		kind = whatsmeow.MediaAudio
	}
	up, err := c.WA.Upload(ctx, data, kind)
	if err != nil {
		return nil, fmt.Errorf("upload %s to WhatsApp: %w", content.MsgType, err)
	}
	var width, height, duration uint32
	if content.Info != nil {
		width, height, duration = uint32(content.Info.Width), uint32(content.Info.Height), uint32(content.Info.Duration/1000)
	}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return proto.String(s)
	}
	switch content.MsgType {
	case event.MessageType(event.CapMsgSticker):
		return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, Mimetype: &mime,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength,
			Width: &width, Height: &height,
		}}, nil
	case event.MsgImage:
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, Mimetype: &mime,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength,
			Width: &width, Height: &height, Caption: opt(caption),
		}}, nil
	case event.MsgVideo:
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, Mimetype: &mime,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength,
			Width: &width, Height: &height, Seconds: &duration, Caption: opt(caption),
			GifPlayback: proto.Bool(content.Info != nil && content.Info.MauGIF),
		}}, nil
	case event.MsgAudio:
		audio := &waE2E.AudioMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, Mimetype: &mime,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength,
			Seconds: &duration,
		}
		if content.MSC3245Voice != nil {
			audio.PTT = proto.Bool(true)
			if content.MSC1767Audio != nil {
				audio.Waveform = msgconv.WAWaveform(content.MSC1767Audio.Waveform)
				audio.Seconds = proto.Uint32(uint32(content.MSC1767Audio.Duration / 1000))
			}
		}
		return &waE2E.Message{AudioMessage: audio}, nil
	default:
		return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, Mimetype: &mime,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength,
			FileName: &fileName, Title: &fileName, Caption: opt(caption),
		}}, nil
	}
}

// HandleMatrixEdit edits a message on WhatsApp, which allows it only within EditWindow.
func (c *Client) HandleMatrixEdit(ctx context.Context, msg *bridgev2.MatrixEdit) (err error) {
	defer observeToRemote("edit", time.Now(), &err)
	chat, err := c.writableChatOfPortal(msg.Portal)
	if err != nil {
		return err
	}
	if err = c.holdForOutbox(ctx, msg.Portal, msg.Event); err != nil {
		return err
	}
	defer c.requeueOnDisconnect(ctx, msg.Portal, msg.Event, &err)
	if err = c.connected(); err != nil {
		return err
	}
	ref, err := portal.ParseWAMessageID(msg.EditTarget.ID)
	if err != nil {
		return err
	}
	if age := time.Since(msg.EditTarget.Timestamp); age > EditWindow {
		return fmt.Errorf("WhatsApp only allows editing a message within %s of sending it (this one is %s old)", EditWindow, age.Truncate(time.Minute))
	}
	newContent, err := c.convertMatrix(ctx, msg.Portal, event.EventMessage, msg.Content)
	if err != nil {
		return err
	}
	edit := c.WA.BuildEdit(chat, ref.ID, newContent)
	resp, err := c.sendMessage(ctx, chat, edit, whatsmeow.SendRequestExtra{ID: c.idForEvent(msg.Event.ID)})
	if err != nil {
		return fmt.Errorf("send edit to WhatsApp: %w", err)
	}
	c.rememberSent(ctx, chat, resp.ID, edit, resp.Timestamp)
	return nil
}

// HandleMatrixMessageRemove revokes a message for everyone.
func (c *Client) HandleMatrixMessageRemove(ctx context.Context, msg *bridgev2.MatrixMessageRemove) (err error) {
	defer observeToRemote("redaction", time.Now(), &err)
	chat, err := c.writableChatOfPortal(msg.Portal)
	if err != nil {
		return err
	}
	if err = c.holdForOutbox(ctx, msg.Portal, msg.Event); err != nil {
		return err
	}
	defer c.requeueOnDisconnect(ctx, msg.Portal, msg.Event, &err)
	if err = c.connected(); err != nil {
		return err
	}
	ref, err := portal.ParseWAMessageID(msg.TargetMessage.ID)
	if err != nil {
		return err
	}
	revoke := c.WA.BuildRevoke(chat, ref.Sender, ref.ID)
	if _, err = c.sendMessage(ctx, chat, revoke, whatsmeow.SendRequestExtra{ID: c.idForEvent(msg.Event.ID)}); err != nil {
		return fmt.Errorf("revoke WhatsApp message %s: %w", ref.ID, err)
	}
	return nil
}

// PreHandleMatrixReaction: WhatsApp keeps one reaction per person per message.
func (c *Client) PreHandleMatrixReaction(ctx context.Context, msg *bridgev2.MatrixReaction) (bridgev2.MatrixReactionPreResponse, error) {
	if _, err := c.writableChatOfPortal(msg.Portal); err != nil {
		return bridgev2.MatrixReactionPreResponse{}, err
	}
	return bridgev2.MatrixReactionPreResponse{
		SenderID:     portal.WAUserID(c.ownJID()),
		Emoji:        msg.Content.RelatesTo.Key,
		MaxReactions: 1,
	}, nil
}

// HandleMatrixReaction sends a reaction.
func (c *Client) HandleMatrixReaction(ctx context.Context, msg *bridgev2.MatrixReaction) (resp *database.Reaction, err error) {
	defer observeToRemote("reaction", time.Now(), &err)
	if err = c.holdForOutbox(ctx, msg.Portal, msg.Event); err != nil {
		return nil, err
	}
	defer c.requeueOnDisconnect(ctx, msg.Portal, msg.Event, &err)
	return nil, c.sendReaction(ctx, msg.Portal, msg.TargetMessage, msg.PreHandleResp.Emoji)
}

// HandleMatrixReactionRemove removes our reaction (an empty reaction on WhatsApp).
func (c *Client) HandleMatrixReactionRemove(ctx context.Context, msg *bridgev2.MatrixReactionRemove) (err error) {
	defer observeToRemote("reaction_remove", time.Now(), &err)
	if err = c.holdForOutbox(ctx, msg.Portal, msg.Event); err != nil {
		return err
	}
	defer c.requeueOnDisconnect(ctx, msg.Portal, msg.Event, &err)
	target, err := c.Main.Bridge.DB.Message.GetFirstPartByID(ctx, msg.Portal.Receiver, msg.TargetReaction.MessageID)
	if err != nil || target == nil {
		return fmt.Errorf("find the message of the removed reaction: %v", err)
	}
	return c.sendReaction(ctx, msg.Portal, target, "")
}

func (c *Client) sendReaction(ctx context.Context, p *bridgev2.Portal, target *database.Message, emoji string) error {
	chat, err := c.writableChatOfPortal(p)
	if err != nil {
		return err
	}
	if err = c.connected(); err != nil {
		return err
	}
	ref, err := portal.ParseWAMessageID(target.ID)
	if err != nil {
		return err
	}
	reaction := c.WA.BuildReaction(chat, ref.Sender, ref.ID, emoji)
	if _, err = c.sendMessage(ctx, chat, reaction); err != nil {
		return fmt.Errorf("send reaction to WhatsApp: %w", err)
	}
	return nil
}

// HandleMatrixReadReceipt marks the read message (and WhatsApp infers the earlier ones).
func (c *Client) HandleMatrixReadReceipt(ctx context.Context, msg *bridgev2.MatrixReadReceipt) (err error) {
	defer observeToRemote("receipt", time.Now(), &err)
	chat, err := c.chatOfPortal(msg.Portal)
	if err != nil {
		return err
	}
	if msg.ExactMessage == nil || c.connected() != nil || readOnlyChat(chat) {
		// Status and channel views are not reported back.
		return nil
	}
	ref, err := portal.ParseWAMessageID(msg.ExactMessage.ID)
	if err != nil || ref.Sender == c.ownJID() {
		return nil
	}
	sender := ref.Sender
	if chat.Server != types.GroupServer {
		sender = types.EmptyJID
	}
	if err = c.WA.MarkRead(ctx, []types.MessageID{ref.ID}, time.Now(), chat, sender); err != nil {
		return fmt.Errorf("send read receipt to WhatsApp: %w", err)
	}
	return nil
}

// HandleMatrixTyping sends "composing"/"paused".
func (c *Client) HandleMatrixTyping(ctx context.Context, msg *bridgev2.MatrixTyping) (err error) {
	defer observeToRemote("typing", time.Now(), &err)
	chat, err := c.chatOfPortal(msg.Portal)
	if err != nil {
		return err
	}
	if readOnlyChat(chat) {
		return nil
	}
	if err = c.connected(); err != nil {
		return err
	}
	state := types.ChatPresencePaused
	if msg.IsTyping {
		state = types.ChatPresenceComposing
	}
	media := types.ChatPresenceMediaText
	if msg.Type == bridgev2.TypingTypeRecordingMedia {
		media = types.ChatPresenceMediaAudio
	}
	return c.WA.SendChatPresence(ctx, chat, state, media)
}

// HandleMatrixRoomName renames a group.
func (c *Client) HandleMatrixRoomName(ctx context.Context, msg *bridgev2.MatrixRoomName) (handled bool, err error) {
	defer observeToRemote("room_name", time.Now(), &err)
	chat, err := c.chatOfPortal(msg.Portal)
	if err != nil {
		return false, err
	}
	if chat.Server != types.GroupServer {
		return false, fmt.Errorf("only WhatsApp groups have a name that can be changed")
	}
	if err = c.connected(); err != nil {
		return false, err
	}
	if err = c.WA.SetGroupName(ctx, chat, msg.Content.Name); err != nil {
		return false, fmt.Errorf("rename WhatsApp group: %w", err)
	}
	return true, nil
}

// HandleMatrixRoomTopic changes a group's description.
func (c *Client) HandleMatrixRoomTopic(ctx context.Context, msg *bridgev2.MatrixRoomTopic) (handled bool, err error) {
	defer observeToRemote("room_topic", time.Now(), &err)
	chat, err := c.chatOfPortal(msg.Portal)
	if err != nil {
		return false, err
	}
	if chat.Server != types.GroupServer {
		return false, fmt.Errorf("only WhatsApp groups have a description that can be changed")
	}
	if err = c.connected(); err != nil {
		return false, err
	}
	if err = c.WA.SetGroupTopic(ctx, chat, "", "", msg.Content.Topic); err != nil {
		return false, fmt.Errorf("change WhatsApp group description: %w", err)
	}
	return true, nil
}

var _ bridgev2.MembershipHandlingNetworkAPI = (*Client)(nil)

// HandleMatrixMembership adds (invite) and removes (kick, ban) WhatsApp contacts in a group, and
// makes the login leave the group when its Matrix user leaves the room. The Matrix user's own
// joins (see ownMembershipOnly) are accepted without touching WhatsApp.
func (c *Client) HandleMatrixMembership(ctx context.Context, msg *bridgev2.MatrixMembershipChange) (resp *bridgev2.MatrixMembershipResult, err error) {
	defer observeToRemote("membership", time.Now(), &err)
	chat, err := c.chatOfPortal(msg.Portal)
	if err != nil {
		return nil, err
	}
	if c.ownMembershipOnly(chat, msg) {
		zerolog.Ctx(ctx).Debug().Str("from", string(msg.Type.From)).Str("to", string(msg.Type.To)).
			Msg("The Matrix user's own membership of the portal room; nothing to change on WhatsApp")
		return &bridgev2.MatrixMembershipResult{}, nil
	}
	if chat.Server != types.GroupServer {
		var who string
		if msg.Event != nil {
			who = msg.Event.GetStateKey()
		}
		return nil, fmt.Errorf("a WhatsApp direct chat always has exactly its two people, so %s → %s of %s cannot be bridged; add people in a WhatsApp group instead",
			msg.Type.From, msg.Type.To, who)
	}
	if err = c.connected(); err != nil {
		return nil, err
	}
	var target types.JID
	switch t := msg.Target.(type) {
	case *bridgev2.Ghost:
		if err = portal.Require(portal.WhatsApp, "user ID", string(t.ID)); err != nil {
			return nil, err
		}
		if target, err = portal.ParseWAUserID(t.ID); err != nil {
			return nil, err
		}
	case *bridgev2.UserLogin:
		if t.ID != c.UserLogin.ID {
			return nil, fmt.Errorf("another WhatsApp account's membership cannot be changed from this login")
		}
		target = c.ownJID()
	default:
		return nil, fmt.Errorf("unknown membership target %T", msg.Target)
	}
	var action whatsmeow.ParticipantChange
	switch msg.Type {
	case bridgev2.Invite:
		action = whatsmeow.ParticipantChangeAdd
	case bridgev2.Kick, bridgev2.BanJoined:
		action = whatsmeow.ParticipantChangeRemove
	case bridgev2.Leave:
		if target == c.ownJID() {
			if err = c.WA.LeaveGroup(ctx, chat); err != nil {
				return nil, fmt.Errorf("leave WhatsApp group: %w", err)
			}
			return &bridgev2.MatrixMembershipResult{}, nil
		}
		action = whatsmeow.ParticipantChangeRemove
	default:
		return nil, fmt.Errorf("WhatsApp groups have no equivalent of this membership change (%s → %s)", msg.Type.From, msg.Type.To)
	}
	results, err := c.WA.UpdateGroupParticipants(ctx, chat, []types.JID{target}, action)
	if err != nil {
		return nil, fmt.Errorf("%s %s in WhatsApp group: %w", action, target, err)
	}
	for _, res := range results {
		if res.Error != 0 {
			return nil, fmt.Errorf("%s %s in WhatsApp group: WhatsApp answered error %d", action, target, res.Error)
		}
	}
	return &bridgev2.MatrixMembershipResult{}, nil
}

// ownMembershipOnly reports a change of the Matrix user's own membership of the portal room
// (their Matrix ID, which is also their double puppet, or one of their logins) that has no
// WhatsApp meaning: joining after an invite, accepting or rejecting an invite, a profile change,
// and leaving a direct chat. Only leaving (or being removed from) a group the user had joined
// still reaches WhatsApp; bridgev2 passes the user's own leave only when
// bridge.bridge_matrix_leave is on.
func (c *Client) ownMembershipOnly(chat types.JID, msg *bridgev2.MatrixMembershipChange) bool {
	own := msg.Event != nil && id.UserID(msg.Event.GetStateKey()) == c.UserLogin.UserMXID
	if login, ok := msg.Target.(*bridgev2.UserLogin); ok && login.UserMXID == c.UserLogin.UserMXID {
		own = true
	}
	if !own {
		return false
	}
	leavesGroup := chat.Server == types.GroupServer && msg.Type.From == event.MembershipJoin &&
		(msg.Type.To == event.MembershipLeave || msg.Type.To == event.MembershipBan)
	return !leavesGroup
}

var _ bridgev2.RoomAvatarHandlingNetworkAPI = (*Client)(nil)

// HandleMatrixRoomAvatar sets (or removes) a group's picture. WhatsApp expects a JPEG.
func (c *Client) HandleMatrixRoomAvatar(ctx context.Context, msg *bridgev2.MatrixRoomAvatar) (handled bool, err error) {
	defer observeToRemote("room_avatar", time.Now(), &err)
	chat, err := c.chatOfPortal(msg.Portal)
	if err != nil {
		return false, err
	}
	if chat.Server != types.GroupServer {
		return false, fmt.Errorf("only WhatsApp groups have a picture that can be changed")
	}
	if err = c.connected(); err != nil {
		return false, err
	}
	var data []byte
	if msg.Content.URL != "" {
		if data, err = msg.Portal.Bridge.Bot.DownloadMedia(ctx, msg.Content.URL, nil); err != nil {
			return false, fmt.Errorf("download the new group picture from Matrix: %w", err)
		}
	}
	pictureID, err := c.WA.SetGroupPhoto(ctx, chat, data)
	if err != nil {
		return false, fmt.Errorf("set WhatsApp group picture: %w", err)
	}
	msg.Portal.AvatarID = networkid.AvatarID(pictureID)
	msg.Portal.AvatarMXC = msg.Content.URL
	if data != nil {
		msg.Portal.AvatarHash = sha256.Sum256(data)
	} else {
		msg.Portal.AvatarHash = [32]byte{}
	}
	return true, nil
}

var _ bridgev2.PowerLevelHandlingNetworkAPI = (*Client)(nil)

// HandleMatrixPowerLevels promotes WhatsApp contacts whose power level reaches PowerAdmin to group
// admins, and demotes those who fall below it. Other power-level changes have no WhatsApp
// equivalent and stay Matrix-only.
func (c *Client) HandleMatrixPowerLevels(ctx context.Context, msg *bridgev2.MatrixPowerLevelChange) (handled bool, err error) {
	defer observeToRemote("power_levels", time.Now(), &err)
	chat, err := c.chatOfPortal(msg.Portal)
	if err != nil {
		return false, err
	}
	if chat.Server != types.GroupServer || len(msg.Users) == 0 {
		return true, nil
	}
	if err = c.connected(); err != nil {
		return false, err
	}
	var promote, demote []types.JID
	for _, change := range msg.Users {
		ghost, ok := change.Target.(*bridgev2.Ghost)
		if !ok || portal.Require(portal.WhatsApp, "user ID", string(ghost.ID)) != nil {
			continue
		}
		jid, err := portal.ParseWAUserID(ghost.ID)
		if err != nil {
			continue
		}
		wasAdmin, isAdmin := change.OrigLevel >= PowerAdmin, change.NewIsSet && change.NewLevel >= PowerAdmin
		switch {
		case isAdmin && !wasAdmin:
			promote = append(promote, jid)
		case wasAdmin && !isAdmin:
			demote = append(demote, jid)
		}
	}
	for _, step := range []struct {
		jids   []types.JID
		action whatsmeow.ParticipantChange
	}{{promote, whatsmeow.ParticipantChangePromote}, {demote, whatsmeow.ParticipantChangeDemote}} {
		if len(step.jids) == 0 {
			continue
		}
		if _, err = c.WA.UpdateGroupParticipants(ctx, chat, step.jids, step.action); err != nil {
			return false, fmt.Errorf("%s %v in WhatsApp group: %w", step.action, step.jids, err)
		}
	}
	return true, nil
}
