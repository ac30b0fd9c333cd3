package telegram

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gotd/td/tg"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/bridgev2/simplevent"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/delivery"
	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram/msgconv"
	"github.com/passerelle-bridge/passerelle/telegram/tgmeta"
	"github.com/passerelle-bridge/passerelle/telegram/tgstore"
)

// entities are the users and chats that came with a batch of updates.
type entities struct {
	users    map[int64]*tg.User
	chats    map[int64]*tg.Chat
	channels map[int64]*tg.Channel
}

func newEntities(users []tg.UserClass, chats []tg.ChatClass) entities {
	e := entities{users: map[int64]*tg.User{}, chats: map[int64]*tg.Chat{}, channels: map[int64]*tg.Channel{}}
	for _, u := range users {
		if u, ok := u.(*tg.User); ok {
			e.users[u.ID] = u
		}
	}
	for _, ch := range chats {
		switch ch := ch.(type) {
		case *tg.Chat:
			e.chats[ch.ID] = ch
		case *tg.Channel:
			e.channels[ch.ID] = ch
		}
	}
	return e
}

// remember stores the access hashes that came with an update, so later requests can address
// these users and channels even after a restart.
func (c *Client) remember(ctx context.Context, e entities) {
	for _, u := range e.users {
		if hash, ok := u.GetAccessHash(); ok && !u.Min {
			if err := c.main.Store.SetAccessHash(ctx, c.userID, tgstore.KindUser, u.ID, hash); err != nil {
				c.log.Warn().Err(err).Msg("Failed to store a user's access hash")
			}
		}
	}
	for _, ch := range e.channels {
		if hash, ok := ch.GetAccessHash(); ok && !ch.Min {
			if err := c.main.Store.SetAccessHash(ctx, c.userID, tgstore.KindChannel, ch.ID, hash); err != nil {
				c.log.Warn().Err(err).Msg("Failed to store a channel's access hash")
			}
		}
	}
}

// handleUpdates is the updates manager's handler. Each update becomes bridgev2 events; if one
// cannot be handed over, the update state is held and the connection restarted so the update
// comes again (see tgstore.Gate), and the error goes back to the manager.
func (c *Client) handleUpdates(ctx context.Context, u tg.UpdatesClass) error {
	// The events made from these updates are timed from here in the metrics: the updates
	// manager calls this as soon as the update is in sequence.
	ctx = withArrival(ctx, time.Now())
	var list []tg.UpdateClass
	var e entities
	switch u := u.(type) {
	case *tg.Updates:
		list, e = u.Updates, newEntities(u.Users, u.Chats)
	case *tg.UpdatesCombined:
		list, e = u.Updates, newEntities(u.Users, u.Chats)
	case *tg.UpdateShort:
		list, e = []tg.UpdateClass{u.Update}, newEntities(nil, nil)
	default:
		return nil
	}
	c.remember(ctx, e)
	for _, upd := range list {
		if err := c.handleUpdate(ctx, upd, e); err != nil {
			c.log.Err(err).Str("update", fmt.Sprintf("%T", upd)).Msg("Failed to hand a Telegram update to the bridge")
			c.requestRestart()
			return err
		}
	}
	return nil
}

// HandOffWait bounds how long an event bridgev2 refused for a transient reason (the database
// or the homeserver restarting) is offered to it again in place before the update counts as not
// handed over and the connection restarts from the stored state (see handleUpdates).
var HandOffWait = 2 * time.Minute

// queue hands an event to bridgev2 and reports whether it was taken; the hand-off is counted
// in the metrics, timed from the update's arrival.
//
// A refusal for a transient reason is retried here first, with a growing pause: a restart of
// the connection would fetch every update since the stored state again and end the requests in
// flight on it (Matrix sends to Telegram then go through the outbox), for an outage that usually
// lasts seconds. A retry makes no second copy: bridgev2 skips a message whose row it has, and a
// send whose row could not be written goes out again under the same transaction ID (see
// delivery), which the homeserver answers with the event it already has.
func (c *Client) queue(ctx context.Context, evt bridgev2.RemoteEvent) (err error) {
	defer func() { observeToMatrix(ctx, evt, err) }()
	var res bridgev2.EventHandlingResult
	if evt.GetType() == bridgev2.RemoteEventTyping {
		res = c.handOff(evt) // stale once retried
	} else {
		res = delivery.RetryHandOff(ctx, c.log, "hand a Telegram event to bridgev2", HandOffWait,
			func() bridgev2.EventHandlingResult { return c.handOff(evt) })
	}
	if !res.Success && !res.Ignored {
		if res.Error != nil {
			return fmt.Errorf("bridge refused %s event: %w", evt.GetType(), res.Error)
		}
		return fmt.Errorf("bridge refused %s event", evt.GetType())
	}
	return nil
}

func (c *Client) handleUpdate(ctx context.Context, u tg.UpdateClass, e entities) error {
	switch u := u.(type) {
	case *tg.UpdateNewMessage:
		return c.handleMessage(ctx, u.Message, e, false)
	case *tg.UpdateNewChannelMessage:
		return c.handleMessage(ctx, u.Message, e, false)
	case *tg.UpdateEditMessage:
		return c.handleMessage(ctx, u.Message, e, true)
	case *tg.UpdateEditChannelMessage:
		return c.handleMessage(ctx, u.Message, e, true)
	case *tg.UpdateDeleteMessages:
		return c.handleDelete(ctx, portal.TGPeer{Kind: portal.TGUser, ID: c.userID}, u.Messages)
	case *tg.UpdateDeleteChannelMessages:
		return c.handleDelete(ctx, portal.TGPeer{Kind: portal.TGChannel, ID: u.ChannelID}, u.Messages)
	case *tg.UpdateMessageReactions:
		return c.handleReactions(ctx, u, e)
	case *tg.UpdateReadHistoryOutbox:
		return c.handleRead(ctx, u.Peer, 0, u.MaxID, false)
	case *tg.UpdateReadHistoryInbox:
		return c.handleRead(ctx, u.Peer, u.TopMsgID, u.MaxID, true)
	case *tg.UpdateReadChannelInbox:
		return c.handleRead(ctx, &tg.PeerChannel{ChannelID: u.ChannelID}, 0, u.MaxID, true)
	case *tg.UpdateUserTyping:
		return c.handleTyping(ctx, &tg.PeerUser{UserID: u.UserID}, 0, &tg.PeerUser{UserID: u.UserID}, u.Action)
	case *tg.UpdateChatUserTyping:
		return c.handleTyping(ctx, &tg.PeerChat{ChatID: u.ChatID}, 0, u.FromID, u.Action)
	case *tg.UpdateChannelUserTyping:
		return c.handleTyping(ctx, &tg.PeerChannel{ChannelID: u.ChannelID}, u.TopMsgID, u.FromID, u.Action)
	case *tg.UpdateChannel:
		// Joined, left, or changed rights: refresh the portal if there is one.
		return c.queue(ctx, &simplevent.ChatResync{
			EventMeta:       simplevent.EventMeta{Type: bridgev2.RemoteEventChatResync, PortalKey: c.portalKey(portal.TGPeer{Kind: portal.TGChannel, ID: u.ChannelID}, 0)},
			GetChatInfoFunc: c.GetChatInfo,
		})
	case *tg.UpdateUserName, *tg.UpdateUser:
		// Ghost profiles are refreshed through GetUserInfo when their info is next synced.
		return nil
	default:
		return nil
	}
}

// peerOf converts a Telegram peer to Passerelle's form.
func peerOf(p tg.PeerClass) (portal.TGPeer, bool) {
	switch p := p.(type) {
	case *tg.PeerUser:
		return portal.TGPeer{Kind: portal.TGUser, ID: p.UserID}, true
	case *tg.PeerChat:
		return portal.TGPeer{Kind: portal.TGChat, ID: p.ChatID}, true
	case *tg.PeerChannel:
		return portal.TGPeer{Kind: portal.TGChannel, ID: p.ChannelID}, true
	}
	return portal.TGPeer{}, false
}

// portalKey is the key of a chat's room: DMs and basic groups belong to one account (their
// message IDs are per account), channels and supergroups are shared.
func (c *Client) portalKey(chat portal.TGPeer, topic int) networkid.PortalKey {
	key := networkid.PortalKey{ID: portal.TGPortalID(chat, topic)}
	if chat.Kind != portal.TGChannel {
		key.Receiver = c.login.ID
	}
	return key
}

func (c *Client) messageID(chat portal.TGPeer, id int) networkid.MessageID {
	return portal.TGMessageID(portal.TGMessageScope(chat, c.userID), id)
}

// sender works out who sent a message: the from_id, or in DMs without one the other side or
// us, or in broadcast channels the channel itself.
func (c *Client) sender(chat portal.TGPeer, from tg.PeerClass, out bool) bridgev2.EventSender {
	if out {
		return bridgev2.EventSender{IsFromMe: true, SenderLogin: c.login.ID, Sender: c.selfUserID()}
	}
	if p, ok := peerOf(from); ok {
		if p.Kind == portal.TGUser && p.ID == c.userID {
			return bridgev2.EventSender{IsFromMe: true, SenderLogin: c.login.ID, Sender: c.selfUserID()}
		}
		if p.Kind == portal.TGChat {
			p.Kind = portal.TGChannel
		}
		return bridgev2.EventSender{Sender: portal.TGUserID(p)}
	}
	return bridgev2.EventSender{Sender: portal.TGUserID(chat)}
}

// topicOf returns the forum topic a message belongs to (0 outside forums).
func topicOf(chat portal.TGPeer, e entities, reply tg.MessageReplyHeaderClass) int {
	if chat.Kind != portal.TGChannel {
		return 0
	}
	if ch := e.channels[chat.ID]; ch == nil || !ch.Forum {
		return 0
	}
	if h, ok := reply.(*tg.MessageReplyHeader); ok && h.ForumTopic {
		if top, ok := h.GetReplyToTopID(); ok {
			return top
		}
		return h.ReplyToMsgID
	}
	return 1 // the General topic
}

func contentHash(text string, media tg.MessageMediaClass) string {
	h := sha256.New()
	h.Write([]byte(text))
	if media != nil {
		fmt.Fprintf(h, "%T", media)
		if d, ok := media.(*tg.MessageMediaDocument); ok {
			if doc, ok := d.Document.(*tg.Document); ok {
				fmt.Fprintf(h, "%d", doc.ID)
			}
		}
		switch m := media.(type) {
		case *tg.MessageMediaPhoto:
			if ph, ok := m.Photo.(*tg.Photo); ok {
				fmt.Fprintf(h, "%d", ph.ID)
			}
		case *tg.MessageMediaWebPage:
			// A preview that Telegram finishes loading after the message arrives comes as an edit.
			if wp, ok := m.Webpage.(*tg.WebPage); ok {
				fmt.Fprintf(h, "%d/%d", wp.ID, wp.Hash)
			}
		case *tg.MessageMediaGeoLive:
			// A live location moves and ends by edits that change nothing but the media.
			if g, ok := m.Geo.(*tg.GeoPoint); ok {
				fmt.Fprintf(h, "%f,%f", g.Lat, g.Long)
			}
			fmt.Fprintf(h, "/%d", m.Period)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func (c *Client) handleMessage(ctx context.Context, m tg.MessageClass, e entities, edit bool) error {
	switch msg := m.(type) {
	case *tg.Message:
		chat, ok := peerOf(msg.PeerID)
		if !ok {
			return nil
		}
		topic := topicOf(chat, e, msg.ReplyTo)
		meta := simplevent.EventMeta{
			Type:         bridgev2.RemoteEventMessage,
			PortalKey:    c.portalKey(chat, topic),
			Sender:       c.sender(chat, msg.FromID, msg.Out),
			CreatePortal: !edit,
			Timestamp:    time.Unix(int64(msg.Date), 0),
			LogContext: func(lc zerolog.Context) zerolog.Context {
				return lc.Int("tg_msg_id", msg.ID).Str("tg_chat", chat.String())
			},
		}
		if edit {
			meta.Type = bridgev2.RemoteEventEdit
			if d, ok := msg.GetEditDate(); ok {
				meta.Timestamp = time.Unix(int64(d), 0)
			}
		}
		if msg.Out && !edit && c.adoptEcho(ctx, meta.PortalKey, chat, msg) {
			return nil
		}
		id := c.messageID(chat, msg.ID)
		evt := &simplevent.Message[*tg.Message]{
			EventMeta:          meta,
			Data:               msg,
			ID:                 id,
			ConvertMessageFunc: c.convertMessage(chat, e),
		}
		if edit {
			evt.TargetMessage = id
			evt.ConvertEditFunc = c.convertEdit(chat, e)
		}
		return c.queue(ctx, evt)
	case *tg.MessageService:
		if edit {
			return nil
		}
		return c.handleService(ctx, msg, e)
	}
	return nil
}

// mentions resolves Telegram mentions to Matrix pills of the ghosts.
func (c *Client) mentions(e entities) msgconv.Mentions {
	ghostURL := func(p portal.TGPeer) string {
		if p.Kind == portal.TGUser && p.ID == c.userID {
			return c.login.UserMXID.URI().MatrixToURL()
		}
		return c.main.Bridge.Matrix.GhostIntent(portal.TGUserID(p)).GetMXID().URI().MatrixToURL()
	}
	return msgconv.Mentions{
		User: func(id int64) string { return ghostURL(portal.TGPeer{Kind: portal.TGUser, ID: id}) },
		Username: func(name string) string {
			for _, u := range e.users {
				if strings.EqualFold(u.Username, name) {
					return ghostURL(portal.TGPeer{Kind: portal.TGUser, ID: u.ID})
				}
			}
			return ""
		},
	}
}

func (c *Client) convertMessage(chat portal.TGPeer, e entities) func(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, msg *tg.Message) (*bridgev2.ConvertedMessage, error) {
	return func(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, msg *tg.Message) (*bridgev2.ConvertedMessage, error) {
		parts, err := c.convertContent(ctx, p, intent, msg, e)
		if err != nil {
			return nil, err
		}
		cm := &bridgev2.ConvertedMessage{Parts: parts}
		portal.StampRemoteID(cm, c.messageID(chat, msg.ID))
		if h, ok := msg.ReplyTo.(*tg.MessageReplyHeader); ok {
			_, hasTop := h.GetReplyToTopID()
			// In forums, a message that only names its topic is not a reply.
			if rid, ok := h.GetReplyToMsgID(); ok && !(h.ForumTopic && !hasTop) {
				replyChat := chat
				if rp, ok := peerOf(h.ReplyToPeerID); ok && h.ReplyToPeerID != nil {
					replyChat = rp
				}
				cm.ReplyTo = &networkid.MessageOptionalPartID{MessageID: c.messageID(replyChat, rid)}
			}
		}
		return cm, nil
	}
}

func (c *Client) convertEdit(chat portal.TGPeer, e entities) func(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, existing []*database.Message, msg *tg.Message) (*bridgev2.ConvertedEdit, error) {
	return func(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, existing []*database.Message, msg *tg.Message) (*bridgev2.ConvertedEdit, error) {
		hash := contentHash(msg.Message, msg.Media)
		if len(existing) > 0 {
			if meta, ok := existing[0].Metadata.(*portal.MessageMeta); ok && meta.TG != nil && meta.TG.ContentHash == hash {
				// Telegram sends an edit for reaction and view-count changes too.
				return nil, bridgev2.ErrIgnoringRemoteEvent
			}
		}
		parts, err := c.convertContent(ctx, p, intent, msg, e)
		if err != nil {
			return nil, err
		}
		edit := &bridgev2.ConvertedEdit{}
		for i, part := range parts {
			if i >= len(existing) {
				break
			}
			edit.ModifiedParts = append(edit.ModifiedParts, part.ToEditPart(existing[i]))
		}
		return edit, nil
	}
}

// convertContent turns a Telegram message into Matrix message parts: the text, and media
// when there is any (with the text as caption).
func (c *Client) convertContent(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, msg *tg.Message, e entities) ([]*bridgev2.ConvertedMessagePart, error) {
	f := msgconv.FromTelegram(msg.Message, msg.Entities, c.mentions(e))
	content := &event.MessageEventContent{MsgType: event.MsgText, Body: f.Body}
	if f.HTML != "" {
		content.Format, content.FormattedBody = event.FormatHTML, f.HTML
	}
	dbMeta := &portal.MessageMeta{TG: &tgmeta.Message{ContentHash: contentHash(msg.Message, msg.Media)}}
	if poll, ok := msg.Media.(*tg.MessageMediaPoll); ok {
		// Matrix answer IDs of Telegram polls are the option bytes (see msgconv.DescribeMedia).
		for i, a := range poll.Poll.Answers {
			opt := strconv.Itoa(i)
			if pa, ok := a.(*tg.PollAnswer); ok {
				opt = string(pa.Option)
			}
			dbMeta.TG.PollAnswers = append(dbMeta.TG.PollAnswers, opt)
			dbMeta.TG.PollOptions = append(dbMeta.TG.PollOptions, opt)
		}
	}
	part := &bridgev2.ConvertedMessagePart{Type: event.EventMessage, Content: content, DBMetadata: dbMeta}
	if msg.Media != nil {
		converted, err := c.convertMedia(ctx, p, intent, msg, content)
		if err != nil {
			return nil, err
		}
		if converted != nil {
			converted.DBMetadata = dbMeta
			part = converted
		}
	}
	if part.Content == content {
		if preview := c.linkPreview(ctx, p, intent, msg); preview != nil {
			content.BeeperLinkPreviews = []*event.BeeperLinkPreview{preview}
		}
	}
	if msg.Post && msg.PostAuthor != "" {
		part.Content.Body = msg.PostAuthor + ": " + part.Content.Body
	}
	return []*bridgev2.ConvertedMessagePart{part}, nil
}

func (c *Client) handleDelete(ctx context.Context, scope portal.TGPeer, ids []int) error {
	for _, id := range ids {
		msgID := portal.TGMessageID(scope, id)
		// Deletions in DMs and basic groups name no chat: find it through the message table.
		receiver := c.login.ID
		if scope.Kind == portal.TGChannel {
			receiver = ""
		}
		row, err := c.main.Bridge.DB.Message.GetFirstPartByID(ctx, receiver, msgID)
		if err != nil {
			return fmt.Errorf("find deleted message %s: %w", msgID, err)
		}
		if row == nil {
			continue
		}
		if err := c.queue(ctx, &simplevent.MessageRemove{
			EventMeta:     simplevent.EventMeta{Type: bridgev2.RemoteEventMessageRemove, PortalKey: row.Room},
			TargetMessage: msgID,
		}); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) handleReactions(ctx context.Context, u *tg.UpdateMessageReactions, e entities) error {
	chat, ok := peerOf(u.Peer)
	if !ok {
		return nil
	}
	topic := 0
	if t, ok := u.GetTopMsgID(); ok && chat.Kind == portal.TGChannel {
		topic = t
	}
	data := &bridgev2.ReactionSyncData{Users: map[networkid.UserID]*bridgev2.ReactionSyncUser{}}
	total := 0
	for _, rc := range u.Reactions.Results {
		total += rc.Count
	}
	for _, r := range u.Reactions.RecentReactions {
		emoji, ok := reactionEmoji(r.Reaction)
		if !ok {
			continue
		}
		sender := c.sender(chat, r.PeerID, r.My)
		ru := data.Users[sender.Sender]
		if ru == nil {
			ru = &bridgev2.ReactionSyncUser{HasAllReactions: true}
			data.Users[sender.Sender] = ru
		}
		ru.Reactions = append(ru.Reactions, &bridgev2.BackfillReaction{
			Sender: sender, Emoji: emoji, EmojiID: networkid.EmojiID(emoji), Timestamp: time.Unix(int64(r.Date), 0),
		})
	}
	data.HasAllUsers = len(u.Reactions.RecentReactions) >= total
	return c.queue(ctx, &simplevent.ReactionSync{
		EventMeta:     simplevent.EventMeta{Type: bridgev2.RemoteEventReactionSync, PortalKey: c.portalKey(chat, topic)},
		TargetMessage: c.messageID(chat, u.MsgID),
		Reactions:     data,
	})
}

// reactionEmoji is the Matrix key of a Telegram reaction; custom emoji reactions have no
// Unicode form and are skipped.
func reactionEmoji(r tg.ReactionClass) (string, bool) {
	switch r := r.(type) {
	case *tg.ReactionEmoji:
		return r.Emoticon, true
	case *tg.ReactionPaid:
		return "⭐", true
	}
	return "", false
}

// handleRead bridges read receipts: outbox reads are the other side reading our messages (only
// known in DMs), inbox reads are this account reading on another device.
func (c *Client) handleRead(ctx context.Context, peer tg.PeerClass, topic, maxID int, own bool) error {
	chat, ok := peerOf(peer)
	if !ok {
		return nil
	}
	var sender bridgev2.EventSender
	switch {
	case own:
		sender = bridgev2.EventSender{IsFromMe: true, SenderLogin: c.login.ID, Sender: c.selfUserID()}
	case chat.Kind == portal.TGUser:
		sender = bridgev2.EventSender{Sender: portal.TGUserID(chat)}
	default:
		return nil
	}
	return c.queue(ctx, &simplevent.Receipt{
		EventMeta:  simplevent.EventMeta{Type: bridgev2.RemoteEventReadReceipt, PortalKey: c.portalKey(chat, topic), Sender: sender},
		LastTarget: c.messageID(chat, maxID),
	})
}

func (c *Client) handleTyping(ctx context.Context, peer tg.PeerClass, topic int, from tg.PeerClass, action tg.SendMessageActionClass) error {
	chat, ok := peerOf(peer)
	if !ok {
		return nil
	}
	var timeout time.Duration
	typ := bridgev2.TypingTypeText
	switch action.(type) {
	case *tg.SendMessageCancelAction:
	case *tg.SendMessageRecordAudioAction, *tg.SendMessageRecordRoundAction:
		timeout, typ = 6*time.Second, bridgev2.TypingTypeRecordingMedia
	case *tg.SendMessageUploadPhotoAction, *tg.SendMessageUploadVideoAction, *tg.SendMessageUploadDocumentAction, *tg.SendMessageUploadAudioAction:
		timeout, typ = 6*time.Second, bridgev2.TypingTypeUploadingMedia
	default:
		timeout = 6 * time.Second
	}
	sender := c.sender(chat, from, false)
	if sender.IsFromMe {
		return nil
	}
	return c.queue(ctx, &simplevent.Typing{
		EventMeta: simplevent.EventMeta{Type: bridgev2.RemoteEventTyping, PortalKey: c.portalKey(chat, topic), Sender: sender},
		Timeout:   timeout,
		Type:      typ,
	})
}
