package telegram

import (
	"context"
	"time"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/outbox"
	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram/tgmeta"
)

// A send whose connection drops after the request left is uncertain: Telegram may have stored the
// message while its answer was lost. The outbox sends the event again after reconnecting with the
// same random_id, which Telegram refuses (RANDOM_ID_DUPLICATE), and the catch-up after the
// reconnect hands the stored message to the bridge as the user's own. Both would go wrong without
// the code here: the refusal would be reported as a failure of a message that arrived, and the
// catch-up would show the user's message in Matrix a second time. Messages are recognised by
// their shape (sentShape): text or caption, and photo or document file name.

// sentSlack is how much earlier than the Matrix event a matching Telegram message may be dated
// (clocks of the homeserver and Telegram differ).
const sentSlack = time.Minute

// sentShape is what a Matrix message looks like once on Telegram: its text (or caption) and
// whether it carries a photo or a document (by file name). It is how a message whose send was
// cut off is recognised among the user's own messages.
type sentShape struct {
	text     string
	media    bool
	photo    bool
	fileName string
}

// shapeOf is the shape a Matrix message takes on Telegram, as HandleMatrixMessage sends it;
// false for kinds that are not matched (locations, polls).
func (c *Client) shapeOf(ctx context.Context, evtType event.Type, content *event.MessageEventContent) (sentShape, bool) {
	if evtType == event.EventSticker {
		return sentShape{media: true, fileName: mediaName(content)}, true
	}
	switch content.MsgType {
	case event.MsgText, event.MsgNotice, event.MsgEmote:
		text, err := c.outgoingText(ctx, content)
		return sentShape{text: text.Text}, err == nil
	case event.MsgImage, event.MsgVideo, event.MsgAudio, event.MsgFile:
		shape := sentShape{media: true, photo: sendsAsPhoto(content)}
		if !shape.photo {
			shape.fileName = mediaName(content)
		}
		if hasCaption(content) {
			caption, err := c.text(ctx, content)
			if err != nil {
				return shape, false
			}
			shape.text = caption.Text
		}
		return shape, true
	}
	return sentShape{}, false
}

// matches tells whether msg has this shape.
func (s sentShape) matches(msg *tg.Message) bool {
	if msg.Message != s.text {
		return false
	}
	switch m := msg.Media.(type) {
	case nil, *tg.MessageMediaWebPage, *tg.MessageMediaEmpty:
		return !s.media
	case *tg.MessageMediaPhoto:
		return s.media && s.photo
	case *tg.MessageMediaDocument:
		if !s.media || s.photo {
			return false
		}
		doc, ok := m.Document.(*tg.Document)
		if !ok {
			return false
		}
		for _, a := range doc.Attributes {
			if f, ok := a.(*tg.DocumentAttributeFilename); ok {
				return f.FileName == s.fileName
			}
		}
	}
	return false
}

// alreadySent answers a send Telegram refused as RANDOM_ID_DUPLICATE: the message is there, so
// it is looked up in the chat's recent history (our own, same shape, not older than the event)
// and returned as the send's result. nil when it cannot be found or is already recorded.
func (c *Client) alreadySent(ctx context.Context, api *tg.Client, peer tg.InputPeerClass, chat portal.TGPeer, evt *event.Event, content *event.MessageEventContent) *bridgev2.MatrixMessageResponse {
	log := c.log.With().Stringer("event_id", evt.ID).Logger()
	shape, ok := c.shapeOf(ctx, evt.Type, content)
	if !ok {
		return nil
	}
	res, err := api.MessagesGetHistory(ctx, &tg.MessagesGetHistoryRequest{Peer: peer, Limit: 50})
	if err != nil {
		log.Warn().Err(err).Msg("Telegram already has a message the bridge sent again; could not read the chat to find it")
		return nil
	}
	msgs, ok := res.(interface{ GetMessages() []tg.MessageClass })
	if !ok {
		return nil
	}
	since := time.UnixMilli(evt.Timestamp).Add(-sentSlack).Unix()
	var found *tg.Message
	for _, m := range msgs.GetMessages() {
		// History comes newest first: the last match is the earliest.
		if msg, ok := m.(*tg.Message); ok && msg.Out && int64(msg.Date) >= since && shape.matches(msg) {
			found = msg
		}
	}
	if found == nil {
		log.Warn().Msg("Telegram already has a message the bridge sent again, but it is not among the chat's last 50")
		return nil
	}
	id := c.messageID(chat, found.ID)
	if existing, err := c.main.Bridge.DB.Message.GetFirstPartByID(ctx, c.login.ID, id); err != nil || existing != nil {
		return nil
	}
	log.Info().Int("tg_msg_id", found.ID).Msg("Telegram already had this message (an earlier send's answer was lost); recorded, not sent again")
	return &bridgev2.MatrixMessageResponse{DB: c.ownMessageRow(chat, found)}
}

// adoptEcho is called for a message Telegram shows as the user's own that the bridge has not
// recorded: when it is a queued message whose send was cut off, the outbox records it as sent and
// it must not be bridged to Matrix again (true).
func (c *Client) adoptEcho(ctx context.Context, key networkid.PortalKey, chat portal.TGPeer, msg *tg.Message) bool {
	ob := outbox.For(c.main.Bridge)
	if ob.Pending(c.login.ID) == 0 {
		return false
	}
	match := func(evt *event.Event) bool {
		content, ok := evt.Content.Parsed.(*event.MessageEventContent)
		if !ok {
			return false
		}
		plain := *content
		plain.RemoveReplyFallback()
		shape, ok := c.shapeOf(ctx, evt.Type, &plain)
		return ok && shape.matches(msg) && int64(msg.Date) >= time.UnixMilli(evt.Timestamp).Add(-sentSlack).Unix()
	}
	res, err := ob.Adopt(ctx, c.login, key, match, c.ownMessageRow(chat, msg))
	if err != nil {
		c.log.Err(err).Int("tg_msg_id", msg.ID).Msg("Could not check the outbox for a cut-off send of this message; bridging it")
		return false
	}
	return res != outbox.NotQueued
}

// ownMessageRow is the message row of a message the user sent, as the Matrix handler records it.
func (c *Client) ownMessageRow(chat portal.TGPeer, msg *tg.Message) *database.Message {
	return &database.Message{
		ID:        c.messageID(chat, msg.ID),
		SenderID:  c.selfUserID(),
		Timestamp: time.Unix(int64(msg.Date), 0),
		Metadata:  &portal.MessageMeta{TG: &tgmeta.Message{ContentHash: contentHash(msg.Message, msg.Media)}},
	}
}
