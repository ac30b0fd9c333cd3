package telegram

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram/msgconv"
	"github.com/passerelle-bridge/passerelle/telegram/tgmeta"
)

var (
	_ bridgev2.EditHandlingNetworkAPI        = (*Client)(nil)
	_ bridgev2.RedactionHandlingNetworkAPI   = (*Client)(nil)
	_ bridgev2.ReactionHandlingNetworkAPI    = (*Client)(nil)
	_ bridgev2.ReadReceiptHandlingNetworkAPI = (*Client)(nil)
	_ bridgev2.TypingHandlingNetworkAPI      = (*Client)(nil)
	_ bridgev2.RoomNameHandlingNetworkAPI    = (*Client)(nil)
	_ bridgev2.RoomTopicHandlingNetworkAPI   = (*Client)(nil)
	_ bridgev2.RoomAvatarHandlingNetworkAPI  = (*Client)(nil)
)

type floodKey struct{}

// withFloodNotice makes a FLOOD_WAIT during ctx show as a pending status on the Matrix event.
func (c *Client) withFloodNotice(ctx context.Context, evt *event.Event) context.Context {
	if evt == nil {
		return ctx
	}
	return context.WithValue(ctx, floodKey{}, func(d time.Duration) {
		c.main.Bridge.Matrix.SendMessageStatus(ctx, &bridgev2.MessageStatus{
			Status:      event.MessageStatusPending,
			ErrorReason: event.MessageStatusGenericError,
			Message:     fmt.Sprintf("Telegram asked the bridge to wait %s before sending; the message will be sent then.", d.Round(time.Second)),
			IsCertain:   true,
			Step:        "REMOTE",
		}, bridgev2.StatusEventInfoFromEvent(evt))
	})
}

func floodNotifier(ctx context.Context) func(time.Duration) {
	f, _ := ctx.Value(floodKey{}).(func(time.Duration))
	return f
}

func randomID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]))
}

// chatOf resolves a Matrix-side portal to the Telegram chat, refusing the other network's.
func (c *Client) chatOf(ctx context.Context, p *bridgev2.Portal) (portal.TGPeer, int, tg.InputPeerClass, error) {
	chat, topic, err := portalPeer(p.ID)
	if err != nil {
		return chat, 0, nil, err
	}
	in, err := c.inputPeer(ctx, chat)
	return chat, topic, in, err
}

// sentMessage finds our message in the answer to a send: updateShortSentMessage in DMs and
// basic groups, updateMessageID (by random ID) in supergroups and channels.
func sentMessage(res tg.UpdatesClass, rnd int64) (msgID, date int, err error) {
	switch r := res.(type) {
	case *tg.UpdateShortSentMessage:
		return r.ID, r.Date, nil
	case *tg.Updates:
		for _, u := range r.Updates {
			if m, ok := u.(*tg.UpdateMessageID); ok && m.RandomID == rnd {
				msgID = m.ID
			}
		}
		for _, u := range r.Updates {
			var m tg.MessageClass
			switch u := u.(type) {
			case *tg.UpdateNewMessage:
				m = u.Message
			case *tg.UpdateNewChannelMessage:
				m = u.Message
			}
			if msg, ok := m.(*tg.Message); ok && (msgID == 0 || msg.ID == msgID) {
				return msg.ID, msg.Date, nil
			}
		}
		if msgID != 0 {
			return msgID, r.Date, nil
		}
	}
	return 0, 0, fmt.Errorf("telegram accepted the message but its answer (%T) names no message ID", res)
}

// replyTo builds the reply header of a message sent into a chat (and topic).
func (c *Client) replyTo(chat portal.TGPeer, topic int, reply *database.Message) tg.InputReplyToClass {
	r := &tg.InputReplyToMessage{}
	if reply != nil {
		if id, err := c.messageRef(chat, reply.ID); err == nil {
			r.ReplyToMsgID = id
		}
	}
	if topic > 1 {
		if r.ReplyToMsgID == 0 {
			r.ReplyToMsgID = topic
		} else {
			r.SetTopMsgID(topic)
		}
	}
	if r.ReplyToMsgID == 0 {
		return nil
	}
	return r
}

// text converts a Matrix message's body to Telegram text and entities.
func (c *Client) text(ctx context.Context, content *event.MessageEventContent) (msgconv.Telegram, error) {
	if content.Format != event.FormatHTML || content.FormattedBody == "" {
		return msgconv.PlainToTelegram(content.Body), nil
	}
	return msgconv.ToTelegram(content.FormattedBody, func(mxid id.UserID) (tg.InputUserClass, bool) {
		ghost, err := c.main.Bridge.GetGhostByMXID(ctx, mxid)
		if err != nil || ghost == nil {
			if user, err := c.main.Bridge.GetExistingUserByMXID(ctx, mxid); err == nil && user != nil && user.MXID == c.login.UserMXID {
				return &tg.InputUserSelf{}, true
			}
			return nil, false
		}
		peer, err := portal.ParseTGUserID(ghost.ID)
		if err != nil || peer.Kind != portal.TGUser {
			return nil, false
		}
		in, err := c.inputUser(ctx, peer.ID)
		return in, err == nil
	})
}

// HandleMatrixMessage sends text, media, stickers and locations to Telegram.
func (c *Client) HandleMatrixMessage(ctx context.Context, msg *bridgev2.MatrixMessage) (resp *bridgev2.MatrixMessageResponse, err error) {
	defer observeToRemote("message", time.Now(), &err)
	chat, topic, peer, err := c.chatOf(ctx, msg.Portal)
	if err != nil {
		return nil, err
	}
	if meta, ok := msg.Portal.Metadata.(*portal.PortalMeta); ok && meta.TG != nil && meta.TG.ReadOnly {
		return nil, bridgev2.WrapErrorInStatus(errors.New("only admins may post in this Telegram channel")).WithIsCertain(true).WithErrorAsMessage().WithSendNotice(true)
	}
	if err = c.holdForOutbox(ctx, msg.Portal, msg.Event); err != nil {
		return nil, err
	}
	defer c.requeueOnDisconnect(ctx, msg.Portal, msg.Event, &err)
	ctx, stopWatch := c.whileLinked(ctx)
	defer stopWatch()
	api, err := c.API(ctx)
	if err != nil {
		return nil, err
	}
	ctx = c.withFloodNotice(ctx, msg.Event)
	content := msg.Content
	rnd := eventRandomID(msg.Event)
	var res tg.UpdatesClass
	switch content.MsgType {
	case event.MsgImage, event.MsgVideo, event.MsgAudio, event.MsgFile:
		res, err = c.sendMedia(ctx, api, msg, peer, chat, topic, rnd)
	case event.MsgLocation:
		var lat, long float64
		if _, serr := fmt.Sscanf(strings.SplitN(strings.TrimPrefix(content.GeoURI, "geo:"), ";", 2)[0], "%f,%f", &lat, &long); serr != nil {
			return nil, fmt.Errorf("location %q is not a geo: URI", content.GeoURI)
		}
		res, err = api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
			Peer: peer, Media: &tg.InputMediaGeoPoint{GeoPoint: &tg.InputGeoPoint{Lat: lat, Long: long}},
			RandomID: rnd, ReplyTo: c.replyTo(chat, topic, msg.ReplyTo),
		})
	default:
		if msg.Event != nil && msg.Event.Type == event.EventSticker {
			res, err = c.sendMedia(ctx, api, msg, peer, chat, topic, rnd)
			break
		}
		var text msgconv.Telegram
		text, err = c.outgoingText(ctx, content)
		if err != nil {
			return nil, err
		}
		if text.Text == "" {
			return nil, fmt.Errorf("the message is empty after conversion; Telegram refuses empty messages")
		}
		if url := previewURL(content, text.Text); url != "" {
			// The Matrix client showed a preview of this link: ask Telegram for the same one.
			// Optional, so a page Telegram cannot load still lets the text through.
			req := &tg.MessagesSendMediaRequest{Peer: peer, Message: text.Text, RandomID: rnd, ReplyTo: c.replyTo(chat, topic, msg.ReplyTo),
				Media: &tg.InputMediaWebPage{URL: url, Optional: true}}
			if len(text.Entities) > 0 {
				req.SetEntities(text.Entities)
			}
			res, err = api.MessagesSendMedia(ctx, req)
			break
		}
		// Links stay previewable (no no_webpage): Telegram attaches the preview of the first one.
		req := &tg.MessagesSendMessageRequest{Peer: peer, Message: text.Text, RandomID: rnd, ReplyTo: c.replyTo(chat, topic, msg.ReplyTo)}
		if len(text.Entities) > 0 {
			req.SetEntities(text.Entities)
		}
		res, err = api.MessagesSendMessage(ctx, req)
	}
	if err != nil {
		if tgerr.Is(err, "RANDOM_ID_DUPLICATE") {
			if resp := c.alreadySent(ctx, api, peer, chat, msg.Event, content); resp != nil {
				return resp, nil
			}
		}
		return nil, sendError(err)
	}
	msgID, date, err := sentMessage(res, rnd)
	if err != nil {
		return nil, err
	}
	return &bridgev2.MatrixMessageResponse{DB: &database.Message{
		ID:        c.messageID(chat, msgID),
		SenderID:  c.selfUserID(),
		Timestamp: time.Unix(int64(date), 0),
		Metadata:  &portal.MessageMeta{TG: &tgmeta.Message{ContentHash: contentHash(strings.TrimSpace(content.Body), nil)}},
	}}, nil
}

// outgoingText is the Telegram text and entities of a Matrix text, notice or emote message.
func (c *Client) outgoingText(ctx context.Context, content *event.MessageEventContent) (msgconv.Telegram, error) {
	text, err := c.text(ctx, content)
	if err != nil {
		return text, err
	}
	if content.MsgType == event.MsgEmote {
		text.Text = "/me " + text.Text
		for _, e := range text.Entities {
			shiftEntity(e, 4)
		}
	}
	return text, nil
}

// shiftEntity moves an entity right by n UTF-16 units.
func shiftEntity(e tg.MessageEntityClass, n int) {
	switch e := e.(type) {
	case *tg.MessageEntityBold:
		e.Offset += n
	case *tg.MessageEntityItalic:
		e.Offset += n
	case *tg.MessageEntityUnderline:
		e.Offset += n
	case *tg.MessageEntityStrike:
		e.Offset += n
	case *tg.MessageEntityCode:
		e.Offset += n
	case *tg.MessageEntityPre:
		e.Offset += n
	case *tg.MessageEntityBlockquote:
		e.Offset += n
	case *tg.MessageEntitySpoiler:
		e.Offset += n
	case *tg.MessageEntityTextURL:
		e.Offset += n
	case *tg.InputMessageEntityMentionName:
		e.Offset += n
	}
}

// sendError turns Telegram refusals into clear Matrix message statuses.
func sendError(err error) error {
	var rpcErr *tgerr.Error
	if !errors.As(err, &rpcErr) {
		return fmt.Errorf("send to Telegram: %w", err)
	}
	msg := map[string]string{
		"CHAT_WRITE_FORBIDDEN":      "You may not write in this Telegram chat.",
		"CHAT_ADMIN_REQUIRED":       "Only admins of this Telegram chat may do that.",
		"USER_BANNED_IN_CHANNEL":    "You are banned from writing in this Telegram chat.",
		"PEER_ID_INVALID":           "Telegram does not know this chat for your account anymore.",
		"MESSAGE_TOO_LONG":          "The message is longer than Telegram allows (4096 characters).",
		"REACTION_INVALID":          "This reaction is not allowed in this Telegram chat.",
		"MESSAGE_NOT_MODIFIED":      "Telegram already has this text.",
		"MESSAGE_ID_INVALID":        "Telegram no longer has the message this refers to.",
		"MESSAGE_EDIT_TIME_EXPIRED": "Telegram no longer allows editing this message.",
		"RANDOM_ID_DUPLICATE":       "Telegram already has this message (it was sent before the bridge restarted).",
	}[rpcErr.Type]
	if rpcErr.IsType("FLOOD_WAIT") {
		msg = fmt.Sprintf("Telegram asked to wait %d s, longer than the bridge waits; try again later.", rpcErr.Argument)
	}
	if msg == "" {
		return fmt.Errorf("telegram refused the request: %w", err)
	}
	status := bridgev2.WrapErrorInStatus(fmt.Errorf("%s (%s)", msg, rpcErr.Type)).WithIsCertain(true).WithErrorAsMessage().WithSendNotice(true)
	// Refusals that no retry can change are permanent failures, so clients do not offer a retry.
	switch rpcErr.Type {
	case "REACTION_INVALID":
		status = status.WithStatus(event.MessageStatusFail).WithErrorReason(event.MessageStatusUnsupported)
	case "CHAT_WRITE_FORBIDDEN", "CHAT_ADMIN_REQUIRED", "USER_BANNED_IN_CHANNEL":
		status = status.WithStatus(event.MessageStatusFail).WithErrorReason(event.MessageStatusNoPermission)
	}
	return status
}

func (c *Client) sendMedia(ctx context.Context, api *tg.Client, msg *bridgev2.MatrixMessage, peer tg.InputPeerClass, chat portal.TGPeer, topic int, rnd int64) (tg.UpdatesClass, error) {
	content := msg.Content
	var data []byte
	var err error
	if content.File != nil {
		data, err = c.main.Bridge.Bot.DownloadMedia(ctx, content.File.URL, content.File)
	} else {
		data, err = c.main.Bridge.Bot.DownloadMedia(ctx, content.URL, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("download the file from Matrix: %w", err)
	}
	name := mediaName(content)
	file, err := c.uploadToTelegram(ctx, api, name, data)
	if err != nil {
		return nil, err
	}
	mime := mediaMime(content)
	var media tg.InputMediaClass
	attrs := []tg.DocumentAttributeClass{&tg.DocumentAttributeFilename{FileName: name}}
	switch {
	case sendsAsPhoto(content):
		media = &tg.InputMediaUploadedPhoto{File: file}
	case msg.Event != nil && msg.Event.Type == event.EventSticker:
		w, h := 512, 512
		if content.Info != nil && content.Info.Width > 0 {
			w, h = content.Info.Width, content.Info.Height
		}
		attrs = append(attrs, &tg.DocumentAttributeSticker{Alt: content.Body, Stickerset: &tg.InputStickerSetEmpty{}},
			&tg.DocumentAttributeImageSize{W: w, H: h})
	case content.MsgType == event.MsgVideo:
		v := &tg.DocumentAttributeVideo{SupportsStreaming: true}
		if content.Info != nil {
			v.W, v.H, v.Duration = content.Info.Width, content.Info.Height, float64(content.Info.Duration)/1000
		}
		attrs = append(attrs, v)
	case content.MsgType == event.MsgAudio:
		a := &tg.DocumentAttributeAudio{Voice: content.MSC3245Voice != nil}
		if content.Info != nil {
			a.Duration = content.Info.Duration / 1000
		}
		attrs = append(attrs, a)
	}
	if media == nil {
		media = &tg.InputMediaUploadedDocument{File: file, MimeType: mime, Attributes: attrs}
	}
	req := &tg.MessagesSendMediaRequest{Peer: peer, Media: media, RandomID: rnd, ReplyTo: c.replyTo(chat, topic, msg.ReplyTo)}
	if hasCaption(content) {
		caption, err := c.text(ctx, content)
		if err != nil {
			return nil, err
		}
		req.Message = caption.Text
		if len(caption.Entities) > 0 {
			req.SetEntities(caption.Entities)
		}
	}
	return api.MessagesSendMedia(ctx, req)
}

// mediaName is the file name a Matrix file is sent to Telegram under.
func mediaName(content *event.MessageEventContent) string {
	switch {
	case content.FileName != "":
		return content.FileName
	case content.Body != "":
		return content.Body
	}
	return "file"
}

func mediaMime(content *event.MessageEventContent) string {
	if content.Info != nil && content.Info.MimeType != "" {
		return content.Info.MimeType
	}
	return "application/octet-stream"
}

// sendsAsPhoto: JPEG and PNG images go as Telegram photos, everything else as documents.
func sendsAsPhoto(content *event.MessageEventContent) bool {
	mime := mediaMime(content)
	return content.MsgType == event.MsgImage && (mime == "image/jpeg" || mime == "image/png")
}

// hasCaption: the body is a caption when the file name is given separately (Matrix media
// captions).
func hasCaption(content *event.MessageEventContent) bool {
	return content.FileName != "" && content.Body != "" && content.Body != content.FileName
}

// HandleMatrixEdit edits the text (or caption) of a bridged message.
func (c *Client) HandleMatrixEdit(ctx context.Context, msg *bridgev2.MatrixEdit) (err error) {
	defer observeToRemote("edit", time.Now(), &err)
	chat, _, peer, err := c.chatOf(ctx, msg.Portal)
	if err != nil {
		return err
	}
	if err = c.holdForOutbox(ctx, msg.Portal, msg.Event); err != nil {
		return err
	}
	defer c.requeueOnDisconnect(ctx, msg.Portal, msg.Event, &err)
	ctx, stopWatch := c.whileLinked(ctx)
	defer stopWatch()
	msgID, err := c.messageRef(chat, msg.EditTarget.ID)
	if err != nil {
		return err
	}
	api, err := c.API(ctx)
	if err != nil {
		return err
	}
	text, err := c.text(ctx, msg.Content)
	if err != nil {
		return err
	}
	req := &tg.MessagesEditMessageRequest{Peer: peer, ID: msgID}
	req.SetMessage(text.Text)
	req.SetEntities(text.Entities)
	if _, err := api.MessagesEditMessage(c.withFloodNotice(ctx, msg.Event), req); err != nil {
		return sendError(err)
	}
	if meta, ok := msg.EditTarget.Metadata.(*portal.MessageMeta); ok {
		meta.TG = &tgmeta.Message{ContentHash: contentHash(text.Text, nil)}
	}
	return nil
}

// HandleMatrixMessageRemove deletes a message for everyone.
func (c *Client) HandleMatrixMessageRemove(ctx context.Context, msg *bridgev2.MatrixMessageRemove) (err error) {
	defer observeToRemote("delete", time.Now(), &err)
	chat, _, _, err := c.chatOf(ctx, msg.Portal)
	if err != nil {
		return err
	}
	if err = c.holdForOutbox(ctx, msg.Portal, msg.Event); err != nil {
		return err
	}
	defer c.requeueOnDisconnect(ctx, msg.Portal, msg.Event, &err)
	ctx, stopWatch := c.whileLinked(ctx)
	defer stopWatch()
	msgID, err := c.messageRef(chat, msg.TargetMessage.ID)
	if err != nil {
		return err
	}
	api, err := c.API(ctx)
	if err != nil {
		return err
	}
	if chat.Kind == portal.TGChannel {
		in, err := c.inputChannel(ctx, chat.ID)
		if err != nil {
			return err
		}
		_, err = api.ChannelsDeleteMessages(ctx, &tg.ChannelsDeleteMessagesRequest{Channel: in, ID: []int{msgID}})
		return wrapSend(err)
	}
	_, err = api.MessagesDeleteMessages(ctx, &tg.MessagesDeleteMessagesRequest{Revoke: true, ID: []int{msgID}})
	return wrapSend(err)
}

func wrapSend(err error) error {
	if err == nil {
		return nil
	}
	return sendError(err)
}

// PreHandleMatrixReaction tells bridgev2 that a Telegram user has one reaction per message
// (more with Premium; one keeps every account working).
func (c *Client) PreHandleMatrixReaction(ctx context.Context, msg *bridgev2.MatrixReaction) (bridgev2.MatrixReactionPreResponse, error) {
	if _, _, err := portalPeer(msg.Portal.ID); err != nil {
		return bridgev2.MatrixReactionPreResponse{}, err
	}
	emoji := msg.Content.RelatesTo.Key
	return bridgev2.MatrixReactionPreResponse{
		SenderID:     c.selfUserID(),
		EmojiID:      networkid.EmojiID(emoji),
		Emoji:        emoji,
		MaxReactions: 1,
	}, nil
}

// HandleMatrixReaction sets the account's reaction, if the chat allows that emoji.
func (c *Client) HandleMatrixReaction(ctx context.Context, msg *bridgev2.MatrixReaction) (reaction *database.Reaction, err error) {
	defer observeToRemote("reaction", time.Now(), &err)
	chat, _, peer, err := c.chatOf(ctx, msg.Portal)
	if err != nil {
		return nil, err
	}
	if err = c.holdForOutbox(ctx, msg.Portal, msg.Event); err != nil {
		return nil, err
	}
	defer c.requeueOnDisconnect(ctx, msg.Portal, msg.Event, &err)
	ctx, stopWatch := c.whileLinked(ctx)
	defer stopWatch()
	msgID, err := c.messageRef(chat, msg.TargetMessage.ID)
	if err != nil {
		return nil, err
	}
	api, err := c.API(ctx)
	if err != nil {
		return nil, err
	}
	emoji := strings.TrimSuffix(msg.PreHandleResp.Emoji, "\ufe0f")
	_, err = api.MessagesSendReaction(ctx, &tg.MessagesSendReactionRequest{
		Peer: peer, MsgID: msgID, Reaction: []tg.ReactionClass{&tg.ReactionEmoji{Emoticon: emoji}},
	})
	if err != nil {
		return nil, sendError(err)
	}
	return &database.Reaction{}, nil
}

// HandleMatrixReactionRemove clears the account's reaction.
func (c *Client) HandleMatrixReactionRemove(ctx context.Context, msg *bridgev2.MatrixReactionRemove) (err error) {
	defer observeToRemote("reaction_remove", time.Now(), &err)
	chat, _, peer, err := c.chatOf(ctx, msg.Portal)
	if err != nil {
		return err
	}
	if err = c.holdForOutbox(ctx, msg.Portal, msg.Event); err != nil {
		return err
	}
	defer c.requeueOnDisconnect(ctx, msg.Portal, msg.Event, &err)
	ctx, stopWatch := c.whileLinked(ctx)
	defer stopWatch()
	msgID, err := c.messageRef(chat, msg.TargetReaction.MessageID)
	if err != nil {
		return err
	}
	api, err := c.API(ctx)
	if err != nil {
		return err
	}
	_, err = api.MessagesSendReaction(ctx, &tg.MessagesSendReactionRequest{Peer: peer, MsgID: msgID})
	return wrapSend(err)
}

// HandleMatrixReadReceipt marks the chat read up to the receipt's message.
func (c *Client) HandleMatrixReadReceipt(ctx context.Context, msg *bridgev2.MatrixReadReceipt) (err error) {
	defer observeToRemote("receipt", time.Now(), &err)
	chat, _, peer, err := c.chatOf(ctx, msg.Portal)
	if err != nil {
		return err
	}
	target := msg.ExactMessage
	if target == nil {
		target, err = c.main.Bridge.DB.Message.GetLastPartAtOrBeforeTime(ctx, msg.Portal.PortalKey, msg.ReadUpTo)
		if err != nil || target == nil {
			return err
		}
	}
	maxID, err := c.messageRef(chat, target.ID)
	if err != nil {
		return err
	}
	api, err := c.API(ctx)
	if err != nil {
		return err
	}
	if chat.Kind == portal.TGChannel {
		in, err := c.inputChannel(ctx, chat.ID)
		if err != nil {
			return err
		}
		_, err = api.ChannelsReadHistory(ctx, &tg.ChannelsReadHistoryRequest{Channel: in, MaxID: maxID})
		return err
	}
	_, err = api.MessagesReadHistory(ctx, &tg.MessagesReadHistoryRequest{Peer: peer, MaxID: maxID})
	return err
}

// HandleMatrixTyping sends typing (or cancels it).
func (c *Client) HandleMatrixTyping(ctx context.Context, msg *bridgev2.MatrixTyping) (err error) {
	defer observeToRemote("typing", time.Now(), &err)
	chat, topic, peer, err := c.chatOf(ctx, msg.Portal)
	if err != nil {
		return err
	}
	_ = chat
	api, err := c.API(ctx)
	if err != nil {
		return err
	}
	var action tg.SendMessageActionClass = &tg.SendMessageCancelAction{}
	if msg.IsTyping {
		action = &tg.SendMessageTypingAction{}
		switch msg.Type {
		case bridgev2.TypingTypeRecordingMedia:
			action = &tg.SendMessageRecordAudioAction{}
		case bridgev2.TypingTypeUploadingMedia:
			action = &tg.SendMessageUploadDocumentAction{}
		}
	}
	req := &tg.MessagesSetTypingRequest{Peer: peer, Action: action}
	if topic > 1 {
		req.SetTopMsgID(topic)
	}
	_, err = api.MessagesSetTyping(ctx, req)
	return err
}

// groupOf resolves a portal whose room settings map onto a Telegram group or channel; api is nil
// (and no error returned) for DMs and forum topics, whose name, topic and avatar are Telegram's own.
func (c *Client) groupOf(ctx context.Context, p *bridgev2.Portal) (portal.TGPeer, tg.InputPeerClass, *tg.Client, error) {
	chat, topic, peer, err := c.chatOf(ctx, p)
	if err != nil || chat.Kind == portal.TGUser || topic != 0 {
		return chat, peer, nil, err
	}
	api, err := c.API(ctx)
	return chat, peer, api, err
}

// HandleMatrixRoomName renames the Telegram group or channel.
func (c *Client) HandleMatrixRoomName(ctx context.Context, msg *bridgev2.MatrixRoomName) (changed bool, err error) {
	defer observeToRemote("room_name", time.Now(), &err)
	chat, _, api, err := c.groupOf(ctx, msg.Portal)
	if err != nil || api == nil {
		return false, err
	}
	if chat.Kind == portal.TGChat {
		_, err = api.MessagesEditChatTitle(ctx, &tg.MessagesEditChatTitleRequest{ChatID: chat.ID, Title: msg.Content.Name})
	} else {
		var in *tg.InputChannel
		if in, err = c.inputChannel(ctx, chat.ID); err == nil {
			_, err = api.ChannelsEditTitle(ctx, &tg.ChannelsEditTitleRequest{Channel: in, Title: msg.Content.Name})
		}
	}
	if err != nil {
		return false, sendError(err)
	}
	return true, nil
}

// HandleMatrixRoomTopic sets the group's about text.
func (c *Client) HandleMatrixRoomTopic(ctx context.Context, msg *bridgev2.MatrixRoomTopic) (changed bool, err error) {
	defer observeToRemote("room_topic", time.Now(), &err)
	_, peer, api, err := c.groupOf(ctx, msg.Portal)
	if err != nil || api == nil {
		return false, err
	}
	if _, err := api.MessagesEditChatAbout(ctx, &tg.MessagesEditChatAboutRequest{Peer: peer, About: msg.Content.Topic}); err != nil {
		return false, sendError(err)
	}
	return true, nil
}

// HandleMatrixRoomAvatar sets the group's photo from the room avatar.
func (c *Client) HandleMatrixRoomAvatar(ctx context.Context, msg *bridgev2.MatrixRoomAvatar) (changed bool, err error) {
	defer observeToRemote("room_avatar", time.Now(), &err)
	chat, _, api, err := c.groupOf(ctx, msg.Portal)
	if err != nil || api == nil {
		return false, err
	}
	var photo tg.InputChatPhotoClass = &tg.InputChatPhotoEmpty{}
	if msg.Content.URL != "" {
		data, err := c.main.Bridge.Bot.DownloadMedia(ctx, msg.Content.URL, nil)
		if err != nil {
			return false, fmt.Errorf("download the room avatar: %w", err)
		}
		file, err := c.uploadToTelegram(ctx, api, "avatar.jpg", data)
		if err != nil {
			return false, err
		}
		up := &tg.InputChatUploadedPhoto{}
		up.SetFile(file)
		photo = up
	}
	if chat.Kind == portal.TGChat {
		_, err = api.MessagesEditChatPhoto(ctx, &tg.MessagesEditChatPhotoRequest{ChatID: chat.ID, Photo: photo})
	} else {
		var in *tg.InputChannel
		if in, err = c.inputChannel(ctx, chat.ID); err == nil {
			_, err = api.ChannelsEditPhoto(ctx, &tg.ChannelsEditPhotoRequest{Channel: in, Photo: photo})
		}
	}
	if err != nil {
		return false, sendError(err)
	}
	return true, nil
}
