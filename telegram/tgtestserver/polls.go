package tgtestserver

import (
	"context"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

var errPollOptionInvalid = tgerr.New(400, "OPTION_INVALID")

// pollData is a poll and its votes (user → chosen option indexes).
type pollData struct {
	id       int64
	question string
	answers  []string
	multiple bool
	quiz     bool
	correct  []int
	closed   bool
	votes    map[int64][]int
}

func (p *pollData) render(viewer int64) *tg.MessageMediaPoll {
	poll := tg.Poll{
		ID:             p.id,
		Question:       tg.TextWithEntities{Text: p.question},
		MultipleChoice: p.multiple,
		Quiz:           p.quiz,
		Closed:         p.closed,
	}
	counts := make([]int, len(p.answers))
	for _, opts := range p.votes {
		for _, o := range opts {
			counts[o]++
		}
	}
	res := tg.PollResults{TotalVoters: len(p.votes)}
	mine := map[int]bool{}
	for _, o := range p.votes[viewer] {
		mine[o] = true
	}
	for i, a := range p.answers {
		opt := []byte{byte('0' + i)}
		poll.Answers = append(poll.Answers, &tg.PollAnswer{Text: tg.TextWithEntities{Text: a}, Option: opt})
		res.Results = append(res.Results, tg.PollAnswerVoters{Option: opt, Voters: counts[i], Chosen: mine[i]})
	}
	return &tg.MessageMediaPoll{Poll: poll, Results: res}
}

func newPoll(question string, answers []string, multiple bool) (*pollData, error) {
	if question == "" || len(answers) < 2 || len(answers) > 10 {
		return nil, tgerr.New(400, "POLL_ANSWERS_INVALID")
	}
	return &pollData{id: randomInt64(), question: question, answers: answers, multiple: multiple, votes: map[int64][]int{}}, nil
}

func inputPoll(m *tg.InputMediaPoll) (*media, error) {
	var answers []string
	for _, a := range m.Poll.Answers {
		switch a := a.(type) {
		case *tg.InputPollAnswer:
			answers = append(answers, a.Text.Text)
		case *tg.PollAnswer:
			answers = append(answers, a.Text.Text)
		}
	}
	p, err := newPoll(m.Poll.Question.Text, answers, m.Poll.MultipleChoice)
	if err != nil {
		return nil, err
	}
	p.quiz, p.correct = m.Poll.Quiz, m.CorrectAnswers
	return &media{poll: p}, nil
}

// vote records a's choice (empty retracts) and pushes updateMessagePoll to
// everyone who has the message.
func (t *tx) vote(a *account, p peerKey, id int, options []int, callerSess int64) (tg.UpdatesClass, error) {
	st := t.st
	m, err := st.copiesOf(a, p, id)
	if err != nil {
		return nil, err
	}
	if m.media == nil || m.media.poll == nil {
		return nil, tgerr.New(400, "MESSAGE_POLL_CLOSED")
	}
	poll := m.media.poll
	if poll.closed {
		return nil, tgerr.New(400, "MESSAGE_POLL_CLOSED")
	}
	if len(options) > 1 && !poll.multiple {
		return nil, errPollOptionInvalid
	}
	for _, o := range options {
		if o < 0 || o >= len(poll.answers) {
			return nil, errPollOptionInvalid
		}
	}
	if len(options) == 0 {
		delete(poll.votes, a.id)
	} else {
		poll.votes[a.id] = append([]int(nil), options...)
	}
	update := func(viewer int64, c *message) *tg.UpdateMessagePoll {
		r := poll.render(viewer)
		return &tg.UpdateMessagePoll{Peer: c.peer.tg(), MsgID: c.id, PollID: poll.id, Poll: r.Poll, Results: r.Results}
	}
	var result tg.UpdateClass
	if p.kind == peerChannel {
		for _, uid := range st.channels[p.id].order {
			except := int64(0)
			if uid == a.id {
				except, result = callerSess, update(uid, m)
			}
			t.push(uid, except, []peerKey{p}, update(uid, m))
		}
	} else {
		for owner, c := range m.shared.copies {
			if c.deleted {
				continue
			}
			except := int64(0)
			if owner == a.id {
				except, result = callerSess, update(owner, c)
			}
			t.push(owner, except, []peerKey{c.peer}, update(owner, c))
		}
	}
	users, chats := st.entities(a.id, []peerKey{p, userPeer(a.id)})
	out := &tg.Updates{Users: users, Chats: chats, Date: t.now}
	if result != nil {
		out.Updates = []tg.UpdateClass{result}
	}
	return out, nil
}

// Poll describes a poll for Message.Poll.
type Poll struct {
	Question       string
	Answers        []string
	MultipleChoice bool
}

// Vote makes the actor vote for options (answer indexes; none retracts).
func (a *Actor) Vote(p Peer, id int, options ...int) error {
	err := a.with(func(t *tx, me *account) error {
		_, err := t.vote(me, p.key(), id, options, 0)
		return err
	})
	return describe("vote", err)
}

func (s *Server) registerPolls(d *tg.ServerDispatcher) {
	st := s.state
	d.OnMessagesSendVote(func(ctx context.Context, req *tg.MessagesSendVoteRequest) (tg.UpdatesClass, error) {
		var out tg.UpdatesClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			p, err := st.inputPeer(a.id, req.Peer)
			if err != nil {
				return err
			}
			var opts []int
			for _, o := range req.Options {
				if len(o) != 1 {
					return errPollOptionInvalid
				}
				opts = append(opts, int(o[0]-'0'))
			}
			out, err = t.vote(a, p, req.MsgID, opts, callerFrom(ctx).sess.ID)
			return err
		})
		return out, err
	})
}
