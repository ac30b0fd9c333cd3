package tgtestserver

import (
	"context"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// differenceLimit is how many pts events one getDifference answer carries
// before it becomes a differenceSlice.
const differenceLimit = 100

// addEvent appends a pts step to an account's common box and returns the
// new pts.
func (t *tx) addEvent(a *account, count int, peers []peerKey, newMessage bool, render func(pts int) tg.UpdateClass) (int, tg.UpdateClass) {
	a.box.pts += count
	pts := a.box.pts
	a.box.events = append(a.box.events, event{
		pts:        pts,
		count:      count,
		date:       t.now,
		peers:      peers,
		newMessage: newMessage,
		// Rendered afresh for every getDifference: TL objects must not be
		// shared between encoders (see clone.go).
		render: func(int64) tg.UpdateClass { return render(pts) },
	})
	return pts, render(pts)
}

// addChannelEvent appends a pts step to a channel; render gets the viewer so
// `out` flags are right for each member.
func (t *tx) addChannelEvent(c *channel, count int, peers []peerKey, newMessage bool, render func(viewer int64, pts int) tg.UpdateClass) int {
	c.pts += count
	pts := c.pts
	c.lastEventDate = t.now
	c.events = append(c.events, event{
		pts:        pts,
		count:      count,
		date:       t.now,
		peers:      peers,
		newMessage: newMessage,
		render:     func(viewer int64) tg.UpdateClass { return render(viewer, pts) },
	})
	return pts
}

// storeMessage allocates an ID in the account's box and stores m there.
func (a *account) storeMessage(m *message) {
	a.box.nextID++
	m.id = a.box.nextID
	m.owner = a.id
	a.box.msgs[m.id] = m
}

func (c *channel) storeMessage(m *message) {
	c.nextID++
	m.id = c.nextID
	m.owner = 0
	c.msgs[m.id] = m
}

func (st *store) state(a *account) tg.UpdatesState {
	return tg.UpdatesState{
		Pts:         a.box.pts,
		Qts:         a.box.qts,
		Date:        st.srv.unix(),
		Seq:         0,
		UnreadCount: st.unreadTotal(a),
	}
}

func (st *store) unreadTotal(a *account) int {
	n := 0
	for _, m := range a.box.msgs {
		if m.deleted || m.from == a.id {
			continue
		}
		if m.id > a.dialog(m.peer).readInbox {
			n++
		}
	}
	return n
}

func (s *Server) registerUpdates(d *tg.ServerDispatcher) {
	st := s.state
	d.OnUpdatesGetState(func(ctx context.Context) (*tg.UpdatesState, error) {
		var out tg.UpdatesState
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			out = st.state(a)
			return nil
		})
		return &out, err
	})
	d.OnUpdatesGetDifference(func(ctx context.Context, req *tg.UpdatesGetDifferenceRequest) (tg.UpdatesDifferenceClass, error) {
		var out tg.UpdatesDifferenceClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			out = st.difference(a, req)
			return nil
		})
		return out, err
	})
	d.OnUpdatesGetChannelDifference(func(ctx context.Context, req *tg.UpdatesGetChannelDifferenceRequest) (tg.UpdatesChannelDifferenceClass, error) {
		var out tg.UpdatesChannelDifferenceClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			c, err := st.inputChannel(a.id, req.Channel)
			if err != nil {
				return err
			}
			if _, ok := c.members[a.id]; !ok && !c.isPublic() {
				return tgerr.New(400, "CHANNEL_PRIVATE")
			}
			out = st.channelDifference(a, c, req)
			return nil
		})
		return out, err
	})
}

func (st *store) difference(a *account, req *tg.UpdatesGetDifferenceRequest) tg.UpdatesDifferenceClass {
	state := st.state(a)
	var (
		msgs   []tg.MessageClass
		others []tg.UpdateClass
		peers  []peerKey
		last   = req.Pts
	)
	n := 0
	sliced := false
	for _, e := range a.box.events {
		if e.pts <= req.Pts {
			continue
		}
		if n == differenceLimit {
			sliced = true
			break
		}
		n++
		last = e.pts
		u := e.render(a.id)
		peers = append(peers, e.peers...)
		if nm, ok := u.(*tg.UpdateNewMessage); ok && e.newMessage {
			if !e.gone() {
				msgs = append(msgs, nm.Message)
			}
			continue
		}
		others = append(others, u)
	}
	if !sliced {
		// Channels that moved since the client's date: it must fetch their
		// own difference, as Telegram tells it with updateChannelTooLong.
		for _, c := range st.channels {
			if _, ok := c.members[a.id]; !ok {
				continue
			}
			// Dates have one-second resolution: a channel that moved in
			// the client's last second is reported too (a spurious
			// channel difference is empty and cheap; a missed one loses
			// messages).
			if c.pts > 0 && c.lastEventDate >= req.Date {
				others = append(others, &tg.UpdateChannelTooLong{ChannelID: c.id, Pts: c.pts})
				peers = append(peers, channelPeer(c.id))
			}
		}
	}
	if n == 0 && len(others) == 0 {
		// Nothing happened (a difference of vanished messages still moves the client's pts).
		return &tg.UpdatesDifferenceEmpty{Date: state.Date, Seq: state.Seq}
	}
	peers = append(peers, userPeer(a.id))
	users, chats := st.entities(a.id, peers)
	if sliced {
		inter := state
		inter.Pts = last
		return &tg.UpdatesDifferenceSlice{
			NewMessages:          msgs,
			NewEncryptedMessages: []tg.EncryptedMessageClass{},
			OtherUpdates:         others,
			Users:                users,
			Chats:                chats,
			IntermediateState:    inter,
		}
	}
	return &tg.UpdatesDifference{
		NewMessages:          orEmptyMessages(msgs),
		NewEncryptedMessages: []tg.EncryptedMessageClass{},
		OtherUpdates:         orEmptyUpdates(others),
		Users:                users,
		Chats:                chats,
		State:                state,
	}
}

func (st *store) channelDifference(a *account, c *channel, req *tg.UpdatesGetChannelDifferenceRequest) tg.UpdatesChannelDifferenceClass {
	limit := req.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if req.Pts >= c.pts {
		return &tg.UpdatesChannelDifferenceEmpty{Final: true, Pts: c.pts, Timeout: 30}
	}
	var (
		msgs   []tg.MessageClass
		others []tg.UpdateClass
		peers  = []peerKey{channelPeer(c.id), userPeer(a.id)}
		pts    = req.Pts
		n      int
		final  = true
	)
	for _, e := range c.events {
		if e.pts <= req.Pts {
			continue
		}
		if n == limit {
			final = false
			break
		}
		n++
		pts = e.pts
		u := e.render(a.id)
		peers = append(peers, e.peers...)
		if nm, ok := u.(*tg.UpdateNewChannelMessage); ok && e.newMessage {
			if !e.gone() {
				msgs = append(msgs, nm.Message)
			}
			continue
		}
		others = append(others, u)
	}
	users, chats := st.entities(a.id, peers)
	return &tg.UpdatesChannelDifference{
		Final:        final,
		Pts:          pts,
		Timeout:      30,
		NewMessages:  orEmptyMessages(msgs),
		OtherUpdates: orEmptyUpdates(others),
		Users:        users,
		Chats:        chats,
	}
}

func orEmptyMessages(m []tg.MessageClass) []tg.MessageClass {
	if m == nil {
		return []tg.MessageClass{}
	}
	return m
}

func orEmptyUpdates(u []tg.UpdateClass) []tg.UpdateClass {
	if u == nil {
		return []tg.UpdateClass{}
	}
	return u
}
