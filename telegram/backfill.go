package telegram

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/networkid"
)

var _ bridgev2.BackfillingNetworkAPI = (*Client)(nil)

// FetchMessages reads a chat's history for backfill. Forward fetches (portal creation, catch-up)
// return the messages after the newest bridged one; bridgev2 drops IDs it already has.
func (c *Client) FetchMessages(ctx context.Context, params bridgev2.FetchMessagesParams) (*bridgev2.FetchMessagesResponse, error) {
	chat, topic, peer, err := c.chatOf(ctx, params.Portal)
	if err != nil {
		return nil, err
	}
	api, err := c.API(ctx)
	if err != nil {
		return nil, err
	}
	count := min(max(params.Count, 1), 100)
	anchor := 0
	if params.AnchorMessage != nil {
		if id, err := c.messageRef(chat, params.AnchorMessage.ID); err == nil {
			anchor = id
		}
	}
	if params.Cursor != "" {
		if v, err := strconv.Atoi(string(params.Cursor)); err == nil {
			anchor = v
		}
	}
	var res tg.MessagesMessagesClass
	if topic != 0 {
		req := &tg.MessagesGetRepliesRequest{Peer: peer, MsgID: topic, Limit: count}
		if params.Forward && anchor != 0 {
			req.OffsetID, req.AddOffset = anchor+1, -count
		} else {
			req.OffsetID = anchor
		}
		res, err = api.MessagesGetReplies(ctx, req)
	} else {
		req := &tg.MessagesGetHistoryRequest{Peer: peer, Limit: count}
		if params.Forward && anchor != 0 {
			// The count messages right after the anchor.
			req.OffsetID, req.AddOffset = anchor+1, -count
		} else {
			req.OffsetID = anchor
		}
		res, err = api.MessagesGetHistory(ctx, req)
	}
	if err != nil {
		return nil, fmt.Errorf("get history of %s: %w", chat, err)
	}
	msgs, e := historyOf(res)
	c.remember(ctx, e)
	// Telegram answers newest first; Matrix wants oldest first.
	slices.SortFunc(msgs, func(a, b *tg.Message) int { return a.ID - b.ID })
	resp := &bridgev2.FetchMessagesResponse{Forward: params.Forward, HasMore: len(msgs) >= count}
	convert := c.convertMessage(chat, e)
	for _, m := range msgs {
		if params.Forward && anchor != 0 && m.ID <= anchor {
			continue
		}
		sender := c.sender(chat, m.FromID, m.Out)
		// Media of backfilled messages is uploaded as its sender.
		var intent bridgev2.MatrixAPI = params.Portal.Bridge.Bot
		if in, ok := params.Portal.GetIntentFor(ctx, sender, c.login, bridgev2.RemoteEventMessage); ok {
			intent = in
		}
		cm, err := convert(ctx, params.Portal, intent, m)
		if err != nil {
			c.log.Warn().Err(err).Int("tg_msg_id", m.ID).Msg("Failed to convert a backfilled message")
			continue
		}
		bm := &bridgev2.BackfillMessage{
			ConvertedMessage: cm,
			Sender:           sender,
			ID:               c.messageID(chat, m.ID),
			Timestamp:        time.Unix(int64(m.Date), 0),
			StreamOrder:      int64(m.ID),
		}
		resp.Messages = append(resp.Messages, bm)
	}
	if len(msgs) > 0 {
		if params.Forward {
			resp.Cursor = networkid.PaginationCursor(strconv.Itoa(msgs[len(msgs)-1].ID))
		} else {
			resp.Cursor = networkid.PaginationCursor(strconv.Itoa(msgs[0].ID))
		}
	}
	return resp, nil
}

func historyOf(res tg.MessagesMessagesClass) ([]*tg.Message, entities) {
	var raw []tg.MessageClass
	var e entities
	switch r := res.(type) {
	case *tg.MessagesMessages:
		raw, e = r.Messages, newEntities(r.Users, r.Chats)
	case *tg.MessagesMessagesSlice:
		raw, e = r.Messages, newEntities(r.Users, r.Chats)
	case *tg.MessagesChannelMessages:
		raw, e = r.Messages, newEntities(r.Users, r.Chats)
	default:
		return nil, newEntities(nil, nil)
	}
	out := make([]*tg.Message, 0, len(raw))
	for _, m := range raw {
		if msg, ok := m.(*tg.Message); ok {
			out = append(out, msg)
		}
	}
	return out, e
}
