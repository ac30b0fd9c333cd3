package whatsapp

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/simplevent"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/msgconv"
	"github.com/passerelle-bridge/passerelle/whatsapp/wameta"
)

// Polls (MSC3381 in Matrix). WhatsApp votes are encrypted with the poll's message secret and name
// options by SHA-256 hash; Matrix votes name options by ID, which Passerelle makes the option's
// position ("0", "1", …). The poll message's metadata keeps the option names to map between them.

var _ bridgev2.PollHandlingNetworkAPI = (*Client)(nil)

func pollOptionsOf(msg *database.Message) []string {
	if meta, ok := msg.Metadata.(*portal.MessageMeta); ok && meta != nil && meta.WA != nil {
		return meta.WA.PollOptions
	}
	return nil
}

// handlePollVote turns a WhatsApp vote into an MSC3381 poll response from the voter.
func (c *Client) handlePollVote(ctx context.Context, chat, sender types.JID, evt *events.Message) bool {
	update := evt.Message.GetPollUpdateMessage()
	key := update.GetPollCreationMessageKey()
	target := portal.WAMessageID(chat, c.keyTarget(ctx, chat, sender, key), key.GetID())
	vote, err := c.WA.DecryptPollVote(ctx, evt)
	if err != nil {
		// Nothing to retry: the secret of a poll we never saw will not appear later.
		c.log.Warn().Err(err).Str("poll", string(target)).Msg("Could not decrypt a WhatsApp poll vote")
		return true
	}
	return c.sendKind(ctx, "poll_vote", &simplevent.Message[[][]byte]{
		EventMeta: c.meta(bridgev2.RemoteEventMessage, chat, sender, evt.Info.Timestamp, false),
		ID:        portal.WAMessageID(chat, sender, evt.Info.ID),
		Data:      vote.GetSelectedOptions(),
		ConvertMessageFunc: func(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, selected [][]byte) (*bridgev2.ConvertedMessage, error) {
			poll, err := p.Bridge.DB.Message.GetFirstPartByID(ctx, p.Receiver, target)
			if err != nil || poll == nil {
				return nil, fmt.Errorf("poll %s of this vote is not bridged: %w", target, err)
			}
			options := pollOptionsOf(poll)
			answers := []string{}
			for i, hash := range whatsmeow.HashPollOptions(options) {
				for _, sel := range selected {
					if bytes.Equal(sel, hash) {
						answers = append(answers, strconv.Itoa(i))
					}
				}
			}
			return &bridgev2.ConvertedMessage{Parts: []*bridgev2.ConvertedMessagePart{{
				Type:    event.Type{Type: msgconv.PollResponseType, Class: event.MessageEventType},
				Content: &event.MessageEventContent{},
				Extra: map[string]any{
					msgconv.PollResponseType: map[string]any{"answers": answers},
					"m.relates_to":           map[string]any{"rel_type": "m.reference", "event_id": poll.MXID},
				},
				DBMetadata: &portal.MessageMeta{WA: &wameta.Message{}},
			}}}, nil
		},
	})
}

// HandleMatrixPollStart creates a WhatsApp poll.
func (c *Client) HandleMatrixPollStart(ctx context.Context, msg *bridgev2.MatrixPollStart) (resp *bridgev2.MatrixMessageResponse, err error) {
	defer observeToRemote("poll_start", time.Now(), &err)
	chat, err := c.writableChatOfPortal(msg.Portal)
	if err != nil {
		return nil, err
	}
	if err = c.connected(); err != nil {
		return nil, err
	}
	start := msg.Content.PollStart
	options := make([]string, len(start.Answers))
	for i, a := range start.Answers {
		options[i] = a.GetText()
	}
	if len(options) < 2 {
		return nil, fmt.Errorf("a WhatsApp poll needs at least 2 options")
	}
	selectable := start.MaxSelections
	if selectable >= len(options) {
		selectable = 0 // any number
	}
	resp, err = c.sendToWhatsApp(ctx, chat, c.WA.BuildPollCreation(start.Question.GetText(), options, selectable), msg.Event.ID)
	if err != nil {
		return nil, err
	}
	// Matrix clients vote with the answer IDs they were given: remember them in order.
	ids := make([]string, len(start.Answers))
	for i, a := range start.Answers {
		ids[i] = a.ID
	}
	meta := resp.DB.Metadata.(*portal.MessageMeta).WA
	meta.PollOptions = options
	meta.PollAnswerIDs = ids
	return resp, nil
}

// HandleMatrixPollVote votes in a WhatsApp poll.
func (c *Client) HandleMatrixPollVote(ctx context.Context, msg *bridgev2.MatrixPollVote) (resp *bridgev2.MatrixMessageResponse, err error) {
	defer observeToRemote("poll_vote", time.Now(), &err)
	chat, err := c.writableChatOfPortal(msg.Portal)
	if err != nil {
		return nil, err
	}
	if err = c.connected(); err != nil {
		return nil, err
	}
	ref, err := portal.ParseWAMessageID(msg.VoteTo.ID)
	if err != nil {
		return nil, err
	}
	meta, _ := msg.VoteTo.Metadata.(*portal.MessageMeta)
	if meta == nil || meta.WA == nil || len(meta.WA.PollOptions) == 0 {
		return nil, fmt.Errorf("the poll's options are unknown to the bridge, so the vote cannot be sent")
	}
	var names []string
	for _, answer := range msg.Content.Response.Answers {
		idx := -1
		for i, id := range meta.WA.PollAnswerIDs {
			if id == answer {
				idx = i
			}
		}
		if idx < 0 {
			if n, err := strconv.Atoi(answer); err == nil {
				idx = n
			}
		}
		if idx < 0 || idx >= len(meta.WA.PollOptions) {
			return nil, fmt.Errorf("poll answer %q is not one of the poll's %d options", answer, len(meta.WA.PollOptions))
		}
		names = append(names, meta.WA.PollOptions[idx])
	}
	pollInfo := &types.MessageInfo{
		MessageSource: types.MessageSource{Chat: chat, Sender: ref.Sender, IsFromMe: ref.Sender == c.ownJID(), IsGroup: chat.Server == types.GroupServer},
		ID:            ref.ID,
	}
	vote, err := c.WA.BuildPollVote(ctx, pollInfo, names)
	if err != nil {
		return nil, fmt.Errorf("build WhatsApp poll vote: %w", err)
	}
	return c.sendToWhatsApp(ctx, chat, vote, msg.Event.ID)
}
