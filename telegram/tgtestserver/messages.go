package tgtestserver

import (
	"context"
	"sort"

	"github.com/gotd/td/tg"
)

func replyIDs(in tg.InputReplyToClass) (replyTo, topID int) {
	if r, ok := in.(*tg.InputReplyToMessage); ok {
		return r.ReplyToMsgID, r.TopMsgID
	}
	return 0, 0
}

func firstReaction(rs []tg.ReactionClass) string {
	for _, r := range rs {
		if e, ok := r.(*tg.ReactionEmoji); ok {
			return e.Emoticon
		}
	}
	return ""
}

func (s *Server) registerMessages(d *tg.ServerDispatcher) {
	st := s.state
	d.OnMessagesSendMessage(func(ctx context.Context, req *tg.MessagesSendMessageRequest) (tg.UpdatesClass, error) {
		var out tg.UpdatesClass
		var sender int64
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			if err = a.claimRandomID(req.RandomID); err != nil {
				return err
			}
			p, err := st.inputPeer(a.id, req.Peer)
			if err != nil {
				return err
			}
			reply, top := replyIDs(req.ReplyTo)
			dl, err := t.deliver(a, p, sendOpts{text: req.Message, entities: req.Entities, replyTo: reply, topID: top, silent: req.Silent, noWebpage: req.NoWebpage}, callerFrom(ctx).sess.ID)
			if err != nil {
				return err
			}
			a.recordRandomID(req.RandomID, dl.own.id)
			sender = a.id
			out = t.sentResult(a, dl, req.RandomID, true)
			return nil
		})
		if err == nil && s.loseAnswer(sender) {
			return nil, errAnswerLost
		}
		return out, err
	})
	d.OnMessagesSendMedia(func(ctx context.Context, req *tg.MessagesSendMediaRequest) (tg.UpdatesClass, error) {
		var out tg.UpdatesClass
		var sender int64
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			if err = a.claimRandomID(req.RandomID); err != nil {
				return err
			}
			p, err := st.inputPeer(a.id, req.Peer)
			if err != nil {
				return err
			}
			c := callerFrom(ctx)
			var med *media
			if wp, ok := req.Media.(*tg.InputMediaWebPage); ok {
				med, err = st.inputWebPage(req.Message, wp)
			} else {
				med, err = st.inputMedia(a.id, c.keyID, req.Media)
			}
			if err != nil {
				return err
			}
			reply, top := replyIDs(req.ReplyTo)
			dl, err := t.deliver(a, p, sendOpts{text: req.Message, entities: req.Entities, media: med, replyTo: reply, topID: top, noWebpage: med == nil}, c.sess.ID)
			if err != nil {
				return err
			}
			a.recordRandomID(req.RandomID, dl.own.id)
			sender = a.id
			out = t.sentResult(a, dl, req.RandomID, false)
			return nil
		})
		if err == nil && s.loseAnswer(sender) {
			return nil, errAnswerLost
		}
		return out, err
	})
	d.OnMessagesSendMultiMedia(func(ctx context.Context, req *tg.MessagesSendMultiMediaRequest) (tg.UpdatesClass, error) {
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
			c := callerFrom(ctx)
			reply, top := replyIDs(req.ReplyTo)
			group := randomInt64()
			all := &tg.Updates{Date: t.now}
			var peers []peerKey
			for _, item := range req.MultiMedia {
				med, err := st.inputMedia(a.id, c.keyID, item.Media)
				if err != nil {
					return err
				}
				dl, err := t.deliver(a, p, sendOpts{text: item.Message, entities: item.Entities, media: med, replyTo: reply, topID: top, groupedID: group}, c.sess.ID)
				if err != nil {
					return err
				}
				u := t.sentResult(a, dl, item.RandomID, false).(*tg.Updates)
				all.Updates = append(all.Updates, u.Updates...)
				peers = append(peers, peersOf(dl.own)...)
			}
			all.Users, all.Chats = st.entities(a.id, peers)
			out = all
			return nil
		})
		return out, err
	})
	d.OnMessagesEditMessage(func(ctx context.Context, req *tg.MessagesEditMessageRequest) (tg.UpdatesClass, error) {
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
			c := callerFrom(ctx)
			var text *string
			if v, ok := req.GetMessage(); ok {
				text = &v
			}
			var med *media
			if live, ok := req.Media.(*tg.InputMediaGeoLive); ok {
				if med, err = inputLive(live); err != nil {
					return err
				}
			} else if req.Media != nil {
				if med, err = st.inputMedia(a.id, c.keyID, req.Media); err != nil {
					return err
				}
			}
			out, err = t.edit(a, p, req.ID, text, req.Entities, med, c.sess.ID)
			return err
		})
		return out, err
	})
	d.OnMessagesDeleteMessages(func(ctx context.Context, req *tg.MessagesDeleteMessagesRequest) (*tg.MessagesAffectedMessages, error) {
		var out tg.MessagesAffectedMessages
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			out = t.deleteCommon(a, req.ID, req.Revoke, callerFrom(ctx).sess.ID)
			return nil
		})
		return &out, err
	})
	d.OnChannelsDeleteMessages(func(ctx context.Context, req *tg.ChannelsDeleteMessagesRequest) (*tg.MessagesAffectedMessages, error) {
		var out tg.MessagesAffectedMessages
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			c, err := st.inputChannel(a.id, req.Channel)
			if err != nil {
				return err
			}
			out, err = t.deleteChannel(a, c, req.ID, callerFrom(ctx).sess.ID)
			return err
		})
		return &out, err
	})
	d.OnMessagesSendReaction(func(ctx context.Context, req *tg.MessagesSendReactionRequest) (tg.UpdatesClass, error) {
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
			out, err = t.react(a, p, req.MsgID, firstReaction(req.Reaction), callerFrom(ctx).sess.ID)
			return err
		})
		return out, err
	})
	d.OnMessagesReadHistory(func(ctx context.Context, req *tg.MessagesReadHistoryRequest) (*tg.MessagesAffectedMessages, error) {
		var out tg.MessagesAffectedMessages
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			p, err := st.inputPeer(a.id, req.Peer)
			if err != nil {
				return err
			}
			if p.kind == peerChannel {
				return errPeerIDInvalid
			}
			out, err = t.readHistory(a, p, req.MaxID, callerFrom(ctx).sess.ID)
			return err
		})
		return &out, err
	})
	d.OnChannelsReadHistory(func(ctx context.Context, req *tg.ChannelsReadHistoryRequest) (bool, error) {
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			c, err := st.inputChannel(a.id, req.Channel)
			if err != nil {
				return err
			}
			_, err = t.readHistory(a, channelPeer(c.id), req.MaxID, callerFrom(ctx).sess.ID)
			return err
		})
		return err == nil, err
	})
	d.OnMessagesSetTyping(func(ctx context.Context, req *tg.MessagesSetTypingRequest) (bool, error) {
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			p, err := st.inputPeer(a.id, req.Peer)
			if err != nil {
				return err
			}
			return t.typing(a, p, req.TopMsgID, req.Action)
		})
		return err == nil, err
	})
	d.OnMessagesGetHistory(func(ctx context.Context, req *tg.MessagesGetHistoryRequest) (tg.MessagesMessagesClass, error) {
		var out tg.MessagesMessagesClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			if a.bot {
				return errBotMethodInvalid
			}
			p, err := st.inputPeer(a.id, req.Peer)
			if err != nil {
				return err
			}
			out, err = st.history(a, p, req)
			return err
		})
		return out, err
	})
	d.OnMessagesGetMessages(func(ctx context.Context, ids []tg.InputMessageClass) (tg.MessagesMessagesClass, error) {
		var out tg.MessagesMessagesClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			lookup := func(id int) *message { return a.box.msgs[id] }
			msgs, peers := st.pickMessages(a, ids, lookup)
			users, chats := st.entities(a.id, peers)
			out = &tg.MessagesMessages{Messages: msgs, Users: users, Chats: chats}
			return nil
		})
		return out, err
	})
	d.OnChannelsGetMessages(func(ctx context.Context, req *tg.ChannelsGetMessagesRequest) (tg.MessagesMessagesClass, error) {
		var out tg.MessagesMessagesClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			c, err := st.inputChannel(a.id, req.Channel)
			if err != nil {
				return err
			}
			msgs, peers := st.pickMessages(a, req.ID, func(id int) *message { return c.msgs[id] })
			users, chats := st.entities(a.id, append(peers, channelPeer(c.id)))
			out = &tg.MessagesChannelMessages{Pts: c.pts, Count: len(msgs), Messages: msgs, Users: users, Chats: chats}
			return nil
		})
		return out, err
	})
	d.OnMessagesGetDialogs(func(ctx context.Context, req *tg.MessagesGetDialogsRequest) (tg.MessagesDialogsClass, error) {
		var out tg.MessagesDialogsClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			if a.bot {
				return errBotMethodInvalid
			}
			out = st.dialogs(a, req)
			return nil
		})
		return out, err
	})
	d.OnMessagesGetPeerDialogs(func(ctx context.Context, in []tg.InputDialogPeerClass) (*tg.MessagesPeerDialogs, error) {
		var out *tg.MessagesPeerDialogs
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			out = &tg.MessagesPeerDialogs{State: st.state(a)}
			var peers []peerKey
			for _, dp := range in {
				ip, ok := dp.(*tg.InputDialogPeer)
				if !ok {
					continue
				}
				p, err := st.inputPeer(a.id, ip.Peer)
				if err != nil {
					return err
				}
				dl, top := st.dialogFor(a, p)
				out.Dialogs = append(out.Dialogs, dl)
				if top != nil {
					out.Messages = append(out.Messages, st.renderMessage(a.id, top))
					peers = append(peers, peersOf(top)...)
				}
				peers = append(peers, p)
			}
			out.Users, out.Chats = st.entities(a.id, peers)
			return nil
		})
		return out, err
	})
}

func (st *store) pickMessages(a *account, ids []tg.InputMessageClass, lookup func(int) *message) ([]tg.MessageClass, []peerKey) {
	var msgs []tg.MessageClass
	var peers []peerKey
	for _, in := range ids {
		id := 0
		switch v := in.(type) {
		case *tg.InputMessageID:
			id = v.ID
		case *tg.InputMessageReplyTo:
			if m := lookup(v.ID); m != nil {
				id = m.replyTo
			}
		}
		m := lookup(id)
		if m == nil || m.deleted {
			msgs = append(msgs, &tg.MessageEmpty{ID: id})
			continue
		}
		msgs = append(msgs, st.renderMessage(a.id, m))
		peers = append(peers, peersOf(m)...)
	}
	return msgs, peers
}

// peerMessages lists the live messages a sees in p, newest first.
func (st *store) peerMessages(a *account, p peerKey) []*message {
	var out []*message
	if p.kind == peerChannel {
		for _, m := range st.channels[p.id].msgs {
			if !m.deleted {
				out = append(out, m)
			}
		}
	} else {
		for _, m := range a.box.msgs {
			if !m.deleted && m.peer == p {
				out = append(out, m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id > out[j].id })
	return out
}

// sliceHistory applies getHistory's offset_id/offset_date/add_offset/limit/
// max_id/min_id to messages sorted newest first.
func sliceHistory(ms []*message, offsetID, offsetDate, addOffset, limit, maxID, minID int) []*message {
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	start := 0
	switch {
	case offsetID > 0:
		start = len(ms)
		for i, m := range ms {
			if m.id < offsetID {
				start = i
				break
			}
		}
	case offsetDate > 0:
		start = len(ms)
		for i, m := range ms {
			if m.date < offsetDate {
				start = i
				break
			}
		}
	}
	start += addOffset
	if start < 0 {
		limit += start
		start = 0
	}
	if limit <= 0 || start >= len(ms) {
		return nil
	}
	end := min(start+limit, len(ms))
	var out []*message
	for _, m := range ms[start:end] {
		if maxID > 0 && m.id >= maxID {
			continue
		}
		if minID > 0 && m.id <= minID {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (st *store) history(a *account, p peerKey, req *tg.MessagesGetHistoryRequest) (tg.MessagesMessagesClass, error) {
	if p.kind == peerChannel {
		c := st.channels[p.id]
		if _, ok := c.members[a.id]; !ok && !c.isPublic() {
			return nil, errChannelPrivate
		}
	}
	all := st.peerMessages(a, p)
	picked := sliceHistory(all, req.OffsetID, req.OffsetDate, req.AddOffset, req.Limit, req.MaxID, req.MinID)
	msgs := []tg.MessageClass{}
	peers := []peerKey{p}
	for _, m := range picked {
		msgs = append(msgs, st.renderMessage(a.id, m))
		peers = append(peers, peersOf(m)...)
	}
	users, chats := st.entities(a.id, peers)
	if p.kind == peerChannel {
		return &tg.MessagesChannelMessages{Pts: st.channels[p.id].pts, Count: len(all), Messages: msgs, Users: users, Chats: chats}, nil
	}
	if len(all) > len(msgs) {
		return &tg.MessagesMessagesSlice{Count: len(all), Messages: msgs, Users: users, Chats: chats}, nil
	}
	return &tg.MessagesMessages{Messages: msgs, Users: users, Chats: chats}, nil
}

// dialogFor builds a's dialog with p and its top message.
func (st *store) dialogFor(a *account, p peerKey) (*tg.Dialog, *message) {
	ms := st.peerMessages(a, p)
	var top *message
	if len(ms) > 0 {
		top = ms[0]
	}
	dl := &tg.Dialog{Peer: p.tg(), NotifySettings: tg.PeerNotifySettings{}}
	if top != nil {
		dl.TopMessage = top.id
	}
	if p.kind == peerChannel {
		c := st.channels[p.id]
		dl.Pts = c.pts
		dl.ReadInboxMaxID = c.readInbox[a.id]
		dl.ReadOutboxMaxID = c.readOutbox
		dl.UnreadCount = st.channelUnread(c, a.id)
		return dl, top
	}
	ds := a.dialog(p)
	dl.ReadInboxMaxID = ds.readInbox
	dl.ReadOutboxMaxID = ds.readOutbox
	dl.Pinned = ds.pinned
	for _, m := range ms {
		if m.id > ds.readInbox && m.from != a.id {
			dl.UnreadCount++
		}
	}
	return dl, top
}

type dialogEntry struct {
	peer   peerKey
	dialog *tg.Dialog
	top    *message
}

func (st *store) dialogs(a *account, req *tg.MessagesGetDialogsRequest) tg.MessagesDialogsClass {
	seen := map[peerKey]bool{}
	var entries []dialogEntry
	add := func(p peerKey) {
		if seen[p] {
			return
		}
		seen[p] = true
		dl, top := st.dialogFor(a, p)
		if top == nil {
			return
		}
		entries = append(entries, dialogEntry{peer: p, dialog: dl, top: top})
	}
	for _, m := range a.box.msgs {
		if !m.deleted {
			add(m.peer)
		}
	}
	for _, c := range st.channels {
		if _, ok := c.members[a.id]; ok {
			add(channelPeer(c.id))
		}
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].top.date != entries[j].top.date {
			return entries[i].top.date > entries[j].top.date
		}
		if entries[i].peer.kind != entries[j].peer.kind {
			return entries[i].peer.kind < entries[j].peer.kind
		}
		return entries[i].peer.id > entries[j].peer.id
	})
	total := len(entries)
	start := 0
	if off, err := st.inputPeer(a.id, req.OffsetPeer); err == nil && req.OffsetPeer != nil {
		if _, empty := req.OffsetPeer.(*tg.InputPeerEmpty); !empty {
			start = len(entries)
			for i, e := range entries {
				if e.peer == off {
					start = i + 1
					break
				}
			}
		}
	} else if req.OffsetDate > 0 {
		start = len(entries)
		for i, e := range entries {
			if e.top.date < req.OffsetDate {
				start = i
				break
			}
		}
	}
	limit := req.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	end := min(start+limit, len(entries))
	if start > end {
		start = end
	}
	page := entries[start:end]
	var (
		dls   []tg.DialogClass
		msgs  []tg.MessageClass
		peers []peerKey
	)
	for _, e := range page {
		dls = append(dls, e.dialog)
		msgs = append(msgs, st.renderMessage(a.id, e.top))
		peers = append(peers, e.peer)
		peers = append(peers, peersOf(e.top)...)
	}
	users, chats := st.entities(a.id, peers)
	if len(page) < total {
		return &tg.MessagesDialogsSlice{Count: total, Dialogs: dls, Messages: msgs, Users: users, Chats: chats}
	}
	return &tg.MessagesDialogs{Dialogs: dls, Messages: msgs, Users: users, Chats: chats}
}
