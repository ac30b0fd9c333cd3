package whatsapp

import (
	"context"
	"fmt"
	"sort"

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

var _ bridgev2.BackfillingNetworkAPI = (*Client)(nil)

// historyBundle is the bundled backfill data of one conversation: parsed messages, oldest first.
type historyBundle struct {
	chat     types.JID
	messages []*events.Message
}

func (c *Client) handleHistorySync(ctx context.Context, evt *events.HistorySync) bool {
	for _, conv := range evt.Data.GetConversations() {
		chat, err := types.ParseJID(conv.GetID())
		if err != nil {
			c.log.Warn().Err(err).Str("chat", conv.GetID()).Msg("Skipping history of an unparseable chat")
			continue
		}
		if chat.Server == types.BroadcastServer || chat.Server == types.NewsletterServer {
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

// FetchMessages returns the bundled history of a conversation newer than the anchor, at most
// params.Count messages (the newest ones). WhatsApp cannot be asked for older history on demand.
func (c *Client) FetchMessages(ctx context.Context, params bridgev2.FetchMessagesParams) (*bridgev2.FetchMessagesResponse, error) {
	if err := portal.Require(portal.WhatsApp, "portal ID", string(params.Portal.ID)); err != nil {
		return nil, err
	}
	bundle, ok := params.BundledData.(*historyBundle)
	if !ok || bundle == nil || !params.Forward {
		return &bridgev2.FetchMessagesResponse{Forward: params.Forward}, nil
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
	out := &bridgev2.FetchMessagesResponse{Forward: true, MarkRead: false}
	for _, msg := range msgs {
		if isEmptyMessage(msg.Message) || msg.Message.GetProtocolMessage() != nil || msg.Message.GetReactionMessage() != nil {
			continue
		}
		sender := c.senderOf(ctx, &msg.Info.MessageSource)
		evtSender := c.eventSender(sender)
		intent, ok := params.Portal.GetIntentFor(ctx, evtSender, c.UserLogin, bridgev2.RemoteEventBackfill)
		if !ok {
			return nil, fmt.Errorf("no Matrix user to backfill %s's messages", sender)
		}
		converted, err := c.convertMessage(ctx, params.Portal, intent, bundle.chat, msg)
		if err != nil {
			c.log.Warn().Err(err).Str("message_id", msg.Info.ID).Msg("Skipping history message that failed to convert")
			continue
		}
		out.Messages = append(out.Messages, &bridgev2.BackfillMessage{
			ConvertedMessage: converted,
			Sender:           evtSender,
			ID:               portal.WAMessageID(bundle.chat, sender, msg.Info.ID),
			Timestamp:        msg.Info.Timestamp,
		})
	}
	return out, nil
}
