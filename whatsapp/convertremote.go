package whatsapp

import (
	"context"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/msgconv"
	"github.com/passerelle-bridge/passerelle/whatsapp/wameta"
)

// isEmptyMessage reports a message without any content field set.
func isEmptyMessage(msg *waE2E.Message) bool {
	return proto.Size(msg) == 0
}

// contextInfoOf returns the context info (reply, mentions, expiry) of whichever content a
// message carries.
func contextInfoOf(msg *waE2E.Message) *waE2E.ContextInfo {
	switch {
	case msg.GetExtendedTextMessage() != nil:
		return msg.GetExtendedTextMessage().GetContextInfo()
	case msg.GetImageMessage() != nil:
		return msg.GetImageMessage().GetContextInfo()
	case msg.GetVideoMessage() != nil:
		return msg.GetVideoMessage().GetContextInfo()
	case msg.GetAudioMessage() != nil:
		return msg.GetAudioMessage().GetContextInfo()
	case msg.GetDocumentMessage() != nil:
		return msg.GetDocumentMessage().GetContextInfo()
	case msg.GetStickerMessage() != nil:
		return msg.GetStickerMessage().GetContextInfo()
	case msg.GetLocationMessage() != nil:
		return msg.GetLocationMessage().GetContextInfo()
	case msg.GetLiveLocationMessage() != nil:
		return msg.GetLiveLocationMessage().GetContextInfo()
	case msg.GetContactMessage() != nil:
		return msg.GetContactMessage().GetContextInfo()
	case msg.GetPollCreationMessage() != nil:
		return msg.GetPollCreationMessage().GetContextInfo()
	case msg.GetPollCreationMessageV3() != nil:
		return msg.GetPollCreationMessageV3().GetContextInfo()
	}
	return nil
}

// mentionsOf builds the pills for the mentioned JIDs of a message.
func (c *Client) mentionsOf(ctx context.Context, info *waE2E.ContextInfo) msgconv.Mentions {
	jids := info.GetMentionedJID()
	if len(jids) == 0 || c.Main.Bridge == nil {
		return nil
	}
	mentions := msgconv.Mentions{}
	for _, raw := range jids {
		jid, err := types.ParseJID(raw)
		if err != nil {
			continue
		}
		canon := c.canonical(ctx, jid)
		pill := msgconv.Pill{}
		if canon == c.ownJID() && c.UserLogin != nil {
			pill.UserID = c.UserLogin.UserMXID
			pill.Name = c.UserLogin.RemoteName
		} else {
			ghost, err := c.Main.Bridge.GetGhostByID(ctx, portal.WAUserID(canon))
			if err != nil || ghost == nil {
				continue
			}
			pill.UserID = ghost.Intent.GetMXID()
			pill.Name = ghost.Name
		}
		if pill.Name == "" {
			pill.Name = "+" + canon.User
		}
		// The text says "@<user part>" of the JID as sent, which may be the LID.
		mentions[jid.User] = pill
		mentions[canon.User] = pill
	}
	return mentions
}

// convertMessage turns a WhatsApp message into Matrix content.
func (c *Client) convertMessage(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, chat types.JID, evt *events.Message) (*bridgev2.ConvertedMessage, error) {
	part, err := c.convertContent(ctx, p, intent, evt.Message)
	if err != nil {
		return nil, err
	}
	if evt.IsViewOnce {
		part.Content.Body = "👁 View once: " + part.Content.Body
	}
	meta := &wameta.Message{SenderDevice: evt.Info.Sender.Device}
	if prev, ok := part.DBMetadata.(*wameta.Message); ok {
		meta.PollOptions = prev.PollOptions
	}
	part.DBMetadata = &portal.MessageMeta{WA: meta}
	cm := &bridgev2.ConvertedMessage{Parts: []*bridgev2.ConvertedMessagePart{part}}
	portal.StampRemoteID(cm, portal.WAMessageID(chat, c.canonical(ctx, evt.Info.Sender), evt.Info.ID))
	info := contextInfoOf(evt.Message)
	if stanza := info.GetStanzaID(); stanza != "" {
		replySender := chat
		if participant := info.GetParticipant(); participant != "" {
			if jid, err := types.ParseJID(participant); err == nil {
				replySender = c.canonical(ctx, jid)
			}
		} else if chat.Server != types.GroupServer && evt.Info.IsFromMe {
			replySender = chat
		}
		cm.ReplyTo = &networkid.MessageOptionalPartID{MessageID: portal.WAMessageID(chat, replySender, stanza)}
	}
	if exp := info.GetExpiration(); exp > 0 {
		cm.Disappear = *disappearSetting(exp)
	}
	return cm, nil
}

// convertEdit replaces the content of an existing message.
func (c *Client) convertEdit(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, existing []*database.Message, chat types.JID, msg *waE2E.Message) (*bridgev2.ConvertedEdit, error) {
	part, err := c.convertContent(ctx, p, intent, msg)
	if err != nil {
		return nil, err
	}
	return &bridgev2.ConvertedEdit{ModifiedParts: []*bridgev2.ConvertedEditPart{part.ToEditPart(existing[0])}}, nil
}

// convertContent converts the content itself (text, media, location, contact, poll).
func (c *Client) convertContent(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, msg *waE2E.Message) (*bridgev2.ConvertedMessagePart, error) {
	part := &bridgev2.ConvertedMessagePart{Type: event.EventMessage}
	info := contextInfoOf(msg)
	switch {
	case msg.Conversation != nil || msg.ExtendedTextMessage != nil:
		text := msg.GetConversation()
		if text == "" {
			text = msg.GetExtendedTextMessage().GetText()
		}
		part.Content = msgconv.FromWhatsApp(text, c.mentionsOf(ctx, info))
	case msg.ImageMessage != nil:
		m := msg.GetImageMessage()
		return c.convertMedia(ctx, p, intent, m, event.MsgImage, m.GetMimetype(), m.GetCaption(), "image", mediaInfo{
			width: int(m.GetWidth()), height: int(m.GetHeight()), size: int(m.GetFileLength())}, info)
	case msg.StickerMessage != nil:
		m := msg.GetStickerMessage()
		part, err := c.convertMedia(ctx, p, intent, m, event.MsgImage, m.GetMimetype(), "", "sticker", mediaInfo{
			width: int(m.GetWidth()), height: int(m.GetHeight()), size: int(m.GetFileLength())}, info)
		if err == nil {
			part.Type = event.EventSticker
			part.Content.MsgType = ""
		}
		return part, err
	case msg.VideoMessage != nil:
		m := msg.GetVideoMessage()
		part, err := c.convertMedia(ctx, p, intent, m, event.MsgVideo, m.GetMimetype(), m.GetCaption(), "video", mediaInfo{
			width: int(m.GetWidth()), height: int(m.GetHeight()), size: int(m.GetFileLength()), seconds: int(m.GetSeconds())}, info)
		if err == nil && m.GetGifPlayback() {
			part.Extra = map[string]any{"info": map[string]any{"fi.mau.gif": true, "fi.mau.loop": true, "fi.mau.autoplay": true, "fi.mau.hide_controls": true, "fi.mau.no_audio": true}}
			part.Content.Info.MauGIF = true
		}
		return part, err
	case msg.AudioMessage != nil:
		m := msg.GetAudioMessage()
		part, err := c.convertMedia(ctx, p, intent, m, event.MsgAudio, m.GetMimetype(), "", "audio", mediaInfo{
			size: int(m.GetFileLength()), seconds: int(m.GetSeconds())}, info)
		if err == nil {
			part.Content.MSC1767Audio = &event.MSC1767Audio{Duration: int(m.GetSeconds()) * 1000, Waveform: msgconv.Waveform(m.GetWaveform())}
			if m.GetPTT() {
				part.Content.MSC3245Voice = &event.MSC3245Voice{}
				part.Content.Body = "Voice message"
			}
		}
		return part, err
	case msg.DocumentMessage != nil:
		m := msg.GetDocumentMessage()
		name := m.GetFileName()
		if name == "" {
			name = m.GetTitle()
		}
		part, err := c.convertMedia(ctx, p, intent, m, event.MsgFile, m.GetMimetype(), m.GetCaption(), name, mediaInfo{size: int(m.GetFileLength())}, info)
		return part, err
	case msg.LocationMessage != nil:
		m := msg.GetLocationMessage()
		part.Content = msgconv.Location(m.GetDegreesLatitude(), m.GetDegreesLongitude(), m.GetName(), m.GetAddress(), false)
	case msg.LiveLocationMessage != nil:
		m := msg.GetLiveLocationMessage()
		part.Content = msgconv.Location(m.GetDegreesLatitude(), m.GetDegreesLongitude(), "", m.GetCaption(), true)
	case msg.ContactMessage != nil:
		m := msg.GetContactMessage()
		part.Content = msgconv.Contact(m.GetDisplayName(), m.GetVcard())
	case msg.ContactsArrayMessage != nil:
		var lines []string
		for _, contact := range msg.GetContactsArrayMessage().GetContacts() {
			lines = append(lines, msgconv.Contact(contact.GetDisplayName(), contact.GetVcard()).Body)
		}
		part.Content = &event.MessageEventContent{MsgType: event.MsgText, Body: strings.Join(lines, "\n")}
	case msg.PollCreationMessage != nil || msg.PollCreationMessageV2 != nil || msg.PollCreationMessageV3 != nil:
		poll := msg.GetPollCreationMessage()
		if poll == nil {
			poll = msg.GetPollCreationMessageV2()
		}
		if poll == nil {
			poll = msg.GetPollCreationMessageV3()
		}
		options := make([]string, len(poll.GetOptions()))
		for i, opt := range poll.GetOptions() {
			options[i] = opt.GetOptionName()
		}
		body, extra := msgconv.PollStart(poll.GetName(), options, int(poll.GetSelectableOptionsCount()))
		part.Type = event.Type{Type: msgconv.PollStartType, Class: event.MessageEventType}
		part.Content = &event.MessageEventContent{Body: body}
		part.Extra = extra
		part.DBMetadata = &wameta.Message{PollOptions: options}
	default:
		part.Content = &event.MessageEventContent{
			MsgType: event.MsgNotice,
			Body:    "This WhatsApp message type is not supported by the bridge yet; see it on your phone.",
		}
	}
	return part, nil
}

type mediaInfo struct {
	width, height, size, seconds int
}

// convertMedia downloads and decrypts WhatsApp media and uploads it to Matrix (encrypted when
// the room is).
func (c *Client) convertMedia(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, media whatsmeow.DownloadableMessage,
	msgType event.MessageType, mime, caption, fileName string, mi mediaInfo, info *waE2E.ContextInfo) (*bridgev2.ConvertedMessagePart, error) {
	if c.WA == nil {
		return nil, errNotConnected
	}
	data, err := c.WA.Download(ctx, media)
	if err != nil {
		return failedMedia(msgType, fmt.Errorf("download WhatsApp %s: %w", msgType, err)), nil
	}
	if fileName == "" || fileName == "image" || fileName == "video" || fileName == "audio" || fileName == "sticker" {
		fileName = fileName + extensionFor(mime)
	}
	roomID := p.MXID
	url, file, err := intent.UploadMedia(ctx, roomID, data, fileName, mime)
	if err != nil {
		return nil, fmt.Errorf("upload WhatsApp %s to Matrix: %w", msgType, err)
	}
	content := &event.MessageEventContent{
		MsgType: msgType,
		Body:    fileName,
		Info: &event.FileInfo{
			MimeType: mime,
			Size:     len(data),
			Width:    mi.width,
			Height:   mi.height,
			Duration: mi.seconds * 1000,
		},
	}
	if file != nil {
		file.URL = url
		content.File = file
	} else {
		content.URL = url
	}
	if caption != "" {
		captionContent := msgconv.FromWhatsApp(caption, c.mentionsOf(ctx, info))
		content.FileName = fileName
		content.Body = captionContent.Body
		content.Format = captionContent.Format
		content.FormattedBody = captionContent.FormattedBody
		content.Mentions = captionContent.Mentions
	}
	return &bridgev2.ConvertedMessagePart{Type: event.EventMessage, Content: content}, nil
}

// failedMedia is the notice shown when media could not be fetched from WhatsApp (expired or
// deleted on the server); the message still arrives so nothing silently vanishes.
func failedMedia(msgType event.MessageType, err error) *bridgev2.ConvertedMessagePart {
	return &bridgev2.ConvertedMessagePart{Type: event.EventMessage, Content: &event.MessageEventContent{
		MsgType: event.MsgNotice,
		Body:    fmt.Sprintf("⚠ A WhatsApp %s could not be bridged: %v. Open it on your phone.", strings.TrimPrefix(string(msgType), "m."), err),
	}}
}

func extensionFor(mime string) string {
	switch mime {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/webp":
		return ".webp"
	case "image/gif":
		return ".gif"
	case "video/mp4":
		return ".mp4"
	case "audio/ogg", "audio/ogg; codecs=opus":
		return ".ogg"
	case "audio/mpeg":
		return ".mp3"
	case "audio/mp4":
		return ".m4a"
	}
	return ""
}
