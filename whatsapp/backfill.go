package whatsapp

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/simplevent"

	"github.com/passerelle-bridge/passerelle/portal"
)

// History sync: after linking (and now and then later) the phone sends batches of recent
// conversations. Each conversation becomes a chat resync that creates its portal, with the
// messages bundled; bridgev2 then asks FetchMessages for them, bounded by its
// bridge.backfill.max_initial_messages (new rooms) and max_catchup_messages (existing rooms).
// Older history is asked of the phone when the room is scrolled back (backward backfill).

var _ bridgev2.BackfillingNetworkAPI = (*Client)(nil)

// historyBundle is the bundled backfill data of one conversation: parsed messages, oldest first.
type historyBundle struct {
	chat     types.JID
	messages []*events.Message
}

func (c *Client) handleHistorySync(ctx context.Context, evt *events.HistorySync) bool {
	if evt.Data.GetSyncType() == waHistorySync.HistorySync_ON_DEMAND {
		c.handleOnDemandHistory(ctx, evt)
		return true
	}
	for _, conv := range evt.Data.GetConversations() {
		chat, err := types.ParseJID(conv.GetID())
		if err != nil {
			c.log.Warn().Err(err).Str("chat", conv.GetID()).Msg("Skipping history of an unparseable chat")
			continue
		}
		if !c.bridged(chat) {
			continue
		}
		bundle := &historyBundle{}
		for _, hm := range conv.GetMessages() {
			msg, err := c.WA.ParseWebMessage(chat, hm.GetMessage())
			if err != nil {
				c.log.Debug().Err(err).Msg("Skipping unparseable history message")
				continue
			}
			bundle.messages = append(bundle.messages, msg)
		}
		if len(bundle.messages) == 0 {
			continue
		}
		sort.SliceStable(bundle.messages, func(i, j int) bool {
			return bundle.messages[i].Info.Timestamp.Before(bundle.messages[j].Info.Timestamp)
		})
		bundle.chat = c.chatOf(ctx, &bundle.messages[0].Info.MessageSource)
		latest := bundle.messages[len(bundle.messages)-1].Info.Timestamp
		ok := c.send(ctx, &simplevent.ChatResync{
			EventMeta: simplevent.EventMeta{
				Type:         bridgev2.RemoteEventChatResync,
				PortalKey:    c.portalKey(bundle.chat),
				CreatePortal: true,
				Timestamp:    latest,
			},
			GetChatInfoFunc: func(ctx context.Context, p *bridgev2.Portal) (*bridgev2.ChatInfo, error) {
				info, err := c.GetChatInfo(ctx, p)
				if err == nil && info.Name == nil && conv.GetName() != "" && bundle.chat.Server == types.GroupServer {
					name := conv.GetName()
					info.Name = &name
				}
				return info, err
			},
			LatestMessageTS:     latest,
			BundledBackfillData: bundle,
		})
		if !ok {
			return false
		}
	}
	return true
}

// FetchMessages returns, going forward, the bundled history of a conversation newer than the
// anchor, at most params.Count messages (the newest ones); going backward (scrolling back), the
// messages before the anchor, which the phone sends on request (fetchOlder).
func (c *Client) FetchMessages(ctx context.Context, params bridgev2.FetchMessagesParams) (*bridgev2.FetchMessagesResponse, error) {
	if err := portal.Require(portal.WhatsApp, "portal ID", string(params.Portal.ID)); err != nil {
		return nil, err
	}
	if !params.Forward {
		return c.fetchOlder(ctx, params)
	}
	bundle, ok := params.BundledData.(*historyBundle)
	if !ok || bundle == nil {
		return &bridgev2.FetchMessagesResponse{Forward: true}, nil
	}
	msgs := bundle.messages
	if params.AnchorMessage != nil {
		after := params.AnchorMessage.Timestamp
		i := sort.Search(len(msgs), func(i int) bool { return msgs[i].Info.Timestamp.After(after) })
		msgs = msgs[i:]
	}
	if params.Count > 0 && len(msgs) > params.Count {
		msgs = msgs[len(msgs)-params.Count:]
	}
	out, err := c.convertHistory(ctx, params.Portal, bundle.chat, msgs)
	if err != nil {
		return nil, err
	}
	return &bridgev2.FetchMessagesResponse{Messages: out, Forward: true}, nil
}

// convertHistory converts history messages (oldest first) for a backfill, skipping what is not a
// message of its own (reactions, edits, protocol messages) and what fails to convert.
func (c *Client) convertHistory(ctx context.Context, p *bridgev2.Portal, chat types.JID, msgs []*events.Message) ([]*bridgev2.BackfillMessage, error) {
	var out []*bridgev2.BackfillMessage
	for _, msg := range msgs {
		if isEmptyMessage(msg.Message) || msg.Message.GetProtocolMessage() != nil || msg.Message.GetReactionMessage() != nil {
			continue
		}
		sender := c.senderOf(ctx, &msg.Info.MessageSource)
		evtSender := c.eventSender(sender)
		intent, ok := p.GetIntentFor(ctx, evtSender, c.UserLogin, bridgev2.RemoteEventBackfill)
		if !ok {
			return nil, fmt.Errorf("no Matrix user to backfill %s's messages", sender)
		}
		converted, err := c.convertMessage(ctx, p, intent, chat, msg)
		if err != nil {
			c.log.Warn().Err(err).Str("message_id", msg.Info.ID).Msg("Skipping history message that failed to convert")
			continue
		}
		out = append(out, &bridgev2.BackfillMessage{
			ConvertedMessage: converted,
			Sender:           evtSender,
			ID:               portal.WAMessageID(chat, sender, msg.Info.ID),
			Timestamp:        msg.Info.Timestamp,
		})
	}
	return out, nil
}

// OnDemandTimeout is how long a backward backfill waits for the phone to send older messages.
// The phone must be online; WhatsApp relays the request, it does not hold the history itself.
var OnDemandTimeout = 30 * time.Second

// fetchOlder asks the phone for the params.Count messages before the anchor (the oldest message
// the room has) with whatsmeow's history sync request, a peer message to the primary device,
// and waits for its ON_DEMAND history sync. HasMore stays true while the phone sends messages.
func (c *Client) fetchOlder(ctx context.Context, params bridgev2.FetchMessagesParams) (*bridgev2.FetchMessagesResponse, error) {
	anchor := params.AnchorMessage
	if anchor == nil {
		// Nothing bridged yet to scroll back from: forward backfill fills the room first.
		return &bridgev2.FetchMessagesResponse{Forward: false}, nil
	}
	if err := c.connected(); err != nil {
		return nil, err
	}
	ref, err := portal.ParseWAMessageID(anchor.ID)
	if err != nil {
		return nil, fmt.Errorf("backfill anchor: %w", err)
	}
	count := params.Count
	if count <= 0 {
		count = 50
	}
	info := &types.MessageInfo{
		MessageSource: types.MessageSource{Chat: ref.Chat, Sender: ref.Sender, IsFromMe: ref.Sender == c.ownJID(), IsGroup: ref.Chat.Server == types.GroupServer},
		ID:            ref.ID,
		Timestamp:     anchor.Timestamp,
	}
	answer := c.awaitOnDemand(ref.Chat)
	defer c.stopOnDemand(ref.Chat, answer)
	if _, err = c.sendMessage(ctx, c.ownJID(), c.WA.BuildHistorySyncRequest(info, count), whatsmeow.SendRequestExtra{Peer: true}); err != nil {
		return nil, fmt.Errorf("ask the phone for history of %s before %s: %w", ref.Chat, ref.ID, err)
	}
	var msgs []*events.Message
	select {
	case msgs = <-answer:
	case <-time.After(OnDemandTimeout):
		return nil, fmt.Errorf("the phone did not send the history of %s before %s within %s (it must be online)", ref.Chat, ref.ID, OnDemandTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Only what precedes the anchor, oldest first, at most count.
	older := msgs[:0]
	for _, m := range msgs {
		if m.Info.ID != ref.ID && !m.Info.Timestamp.After(anchor.Timestamp) {
			older = append(older, m)
		}
	}
	sort.SliceStable(older, func(i, j int) bool { return older[i].Info.Timestamp.Before(older[j].Info.Timestamp) })
	if len(older) > count {
		older = older[len(older)-count:]
	}
	out, err := c.convertHistory(ctx, params.Portal, ref.Chat, older)
	if err != nil {
		return nil, err
	}
	return &bridgev2.FetchMessagesResponse{Messages: out, HasMore: len(older) > 0, Forward: false}, nil
}

// awaitOnDemand registers a backward backfill waiting for the phone's answer about chat.
func (c *Client) awaitOnDemand(chat types.JID) chan []*events.Message {
	ch := make(chan []*events.Message, 1)
	c.onDemandMu.Lock()
	defer c.onDemandMu.Unlock()
	if c.onDemand == nil {
		c.onDemand = map[types.JID]chan []*events.Message{}
	}
	c.onDemand[chat] = ch
	return ch
}

func (c *Client) stopOnDemand(chat types.JID, ch chan []*events.Message) {
	c.onDemandMu.Lock()
	defer c.onDemandMu.Unlock()
	if c.onDemand[chat] == ch {
		delete(c.onDemand, chat)
	}
}

// handleOnDemandHistory hands the phone's answer to the backfill waiting for it. An answer nobody
// waits for (it came after the timeout) is dropped: its messages are older than the room's, and a
// later scroll back asks again.
func (c *Client) handleOnDemandHistory(ctx context.Context, evt *events.HistorySync) {
	for _, conv := range evt.Data.GetConversations() {
		chat, err := types.ParseJID(conv.GetID())
		if err != nil {
			continue
		}
		var msgs []*events.Message
		for _, hm := range conv.GetMessages() {
			if msg, err := c.WA.ParseWebMessage(chat, hm.GetMessage()); err == nil {
				msgs = append(msgs, msg)
			}
		}
		if len(msgs) > 0 {
			chat = c.chatOf(ctx, &msgs[0].Info.MessageSource)
		} else {
			chat = c.canonical(ctx, chat)
		}
		c.onDemandMu.Lock()
		ch := c.onDemand[chat]
		c.onDemandMu.Unlock()
		if ch == nil {
			c.log.Debug().Stringer("chat", chat).Int("messages", len(msgs)).Msg("On-demand history nobody waits for; dropped")
			continue
		}
		select {
		case ch <- msgs:
		default:
		}
	}
}
