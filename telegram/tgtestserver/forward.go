package tgtestserver

import (
	"context"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

var errBotMethodInvalid = tgerr.New(400, "BOT_METHOD_INVALID")

// forward copies messages a sees in from into to, with a forward header
// naming the original sender (or channel for posts).
func (t *tx) forward(a *account, from peerKey, ids []int, to peerKey, callerSess int64) ([]*delivery, error) {
	var out []*delivery
	for _, id := range ids {
		m, err := t.st.copiesOf(a, from, id)
		if err != nil {
			return nil, err
		}
		if m.action != nil {
			return nil, tgerr.New(400, "MESSAGE_ID_INVALID")
		}
		o := sendOpts{text: m.text, entities: m.entities, media: m.media, fwdFrom: userPeer(m.from), fwdDate: m.date}
		if m.fwdFrom.id != 0 {
			o.fwdFrom, o.fwdDate, o.fwdPost = m.fwdFrom, m.fwdDate, m.fwdPost
		} else if m.post {
			o.fwdFrom, o.fwdPost = m.peer, m.id
		}
		dl, err := t.deliver(a, to, o, callerSess)
		if err != nil {
			return nil, err
		}
		out = append(out, dl)
	}
	return out, nil
}

// Forward forwards messages (IDs in the actor's box or the source channel)
// from one chat to another, as a Telegram user would.
func (a *Actor) Forward(from Peer, ids []int, to Peer) ([]Sent, error) {
	var out []Sent
	err := a.with(func(t *tx, me *account) error {
		if err := t.st.checkPeer(to.key()); err != nil {
			return err
		}
		dls, err := t.forward(me, from.key(), ids, to.key(), 0)
		if err != nil {
			return err
		}
		for _, d := range dls {
			out = append(out, sentOf(d))
		}
		return nil
	})
	return out, describe("forward", err)
}

func (s *Server) registerForward(d *tg.ServerDispatcher) {
	st := s.state
	d.OnMessagesForwardMessages(func(ctx context.Context, req *tg.MessagesForwardMessagesRequest) (tg.UpdatesClass, error) {
		var out tg.UpdatesClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			from, err := st.inputPeer(a.id, req.FromPeer)
			if err != nil {
				return err
			}
			to, err := st.inputPeer(a.id, req.ToPeer)
			if err != nil {
				return err
			}
			if len(req.RandomID) != len(req.ID) {
				return tgerr.New(400, "RANDOM_ID_INVALID")
			}
			dls, err := t.forward(a, from, req.ID, to, callerFrom(ctx).sess.ID)
			if err != nil {
				return err
			}
			all := &tg.Updates{Date: t.now}
			var peers []peerKey
			for i, dl := range dls {
				u := t.sentResult(a, dl, req.RandomID[i], false).(*tg.Updates)
				all.Updates = append(all.Updates, u.Updates...)
				peers = append(peers, peersOf(dl.own)...)
			}
			all.Users, all.Chats = st.entities(a.id, peers)
			out = all
			return nil
		})
		return out, err
	})
	d.OnMessagesUploadMedia(func(ctx context.Context, req *tg.MessagesUploadMediaRequest) (tg.MessageMediaClass, error) {
		var out tg.MessageMediaClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			if _, err := st.inputPeer(a.id, req.Peer); err != nil {
				return err
			}
			med, err := st.inputMedia(a.id, callerFrom(ctx).keyID, req.Media)
			if err != nil {
				return err
			}
			out = st.renderMedia(med)
			return nil
		})
		return out, err
	})
}
