package telegram

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram/tgmeta"
)

var _ bridgev2.PollHandlingNetworkAPI = (*Client)(nil)

// HandleMatrixPollStart sends an MSC3381 poll as a Telegram poll.
func (c *Client) HandleMatrixPollStart(ctx context.Context, msg *bridgev2.MatrixPollStart) (resp *bridgev2.MatrixMessageResponse, err error) {
	defer observeToRemote("poll", time.Now(), &err)
	chat, topic, peer, err := c.chatOf(ctx, msg.Portal)
	if err != nil {
		return nil, err
	}
	start := msg.Content.PollStart
	if n := len(start.Answers); n < 2 || n > 10 {
		return nil, bridgev2.WrapErrorInStatus(fmt.Errorf("telegram polls have 2 to 10 answers, this one has %d", n)).WithIsCertain(true).WithErrorAsMessage()
	}
	api, err := c.API(ctx)
	if err != nil {
		return nil, err
	}
	poll := tg.Poll{
		ID:             randomID(),
		Question:       tg.TextWithEntities{Text: start.Question.GetText()},
		MultipleChoice: start.MaxSelections > 1,
		PublicVoters:   start.Kind != "org.matrix.msc3381.poll.undisclosed",
	}
	meta := &tgmeta.Message{}
	for i, a := range start.Answers {
		opt := strconv.Itoa(i)
		poll.Answers = append(poll.Answers, &tg.PollAnswer{Text: tg.TextWithEntities{Text: a.GetText()}, Option: []byte(opt)})
		meta.PollAnswers = append(meta.PollAnswers, a.ID)
		meta.PollOptions = append(meta.PollOptions, opt)
	}
	rnd := randomID()
	res, err := api.MessagesSendMedia(c.withFloodNotice(ctx, msg.Event), &tg.MessagesSendMediaRequest{
		Peer: peer, Media: &tg.InputMediaPoll{Poll: poll}, RandomID: rnd, ReplyTo: c.replyTo(chat, topic, msg.ReplyTo),
	})
	if err != nil {
		return nil, sendError(err)
	}
	msgID, date, err := sentMessage(res, rnd)
	if err != nil {
		return nil, err
	}
	return &bridgev2.MatrixMessageResponse{DB: &database.Message{
		ID: c.messageID(chat, msgID), SenderID: c.selfUserID(), Timestamp: time.Unix(int64(date), 0),
		Metadata: &portal.MessageMeta{TG: meta},
	}}, nil
}

// HandleMatrixPollVote votes (or retracts with no answers) on a bridged poll.
func (c *Client) HandleMatrixPollVote(ctx context.Context, msg *bridgev2.MatrixPollVote) (resp *bridgev2.MatrixMessageResponse, err error) {
	defer observeToRemote("poll_vote", time.Now(), &err)
	chat, _, peer, err := c.chatOf(ctx, msg.Portal)
	if err != nil {
		return nil, err
	}
	msgID, err := c.messageRef(chat, msg.VoteTo.ID)
	if err != nil {
		return nil, err
	}
	meta, _ := msg.VoteTo.Metadata.(*portal.MessageMeta)
	if meta == nil || meta.TG == nil || len(meta.TG.PollAnswers) == 0 {
		return nil, fmt.Errorf("message %s is not a bridged Telegram poll", msg.VoteTo.ID)
	}
	var options [][]byte
	for _, answer := range msg.Content.Response.Answers {
		i := slices.Index(meta.TG.PollAnswers, answer)
		if i < 0 || i >= len(meta.TG.PollOptions) {
			return nil, fmt.Errorf("answer %q is not an option of this poll", answer)
		}
		options = append(options, []byte(meta.TG.PollOptions[i]))
	}
	api, err := c.API(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := api.MessagesSendVote(ctx, &tg.MessagesSendVoteRequest{Peer: peer, MsgID: msgID, Options: options}); err != nil {
		return nil, sendError(err)
	}
	return &bridgev2.MatrixMessageResponse{}, nil
}
