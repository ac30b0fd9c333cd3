package tgtestserver

import (
	"context"
	"sort"
	"strings"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

var (
	errChatTitleEmpty   = tgerr.New(400, "CHAT_TITLE_EMPTY")
	errUserAlreadyPart  = tgerr.New(400, "USER_ALREADY_PARTICIPANT")
	errChatNotModified  = tgerr.New(400, "CHAT_NOT_MODIFIED")
	errChannelForumOnly = tgerr.New(400, "CHANNEL_FORUM_MISSING")
)

// serviceResult wraps the caller's copy of a service message into updates.
func (t *tx) serviceResult(a *account, dl *delivery, extra ...tg.UpdateClass) *tg.Updates {
	u := t.sentResult(a, dl, randomInt64(), false).(*tg.Updates)
	u.Updates = append(u.Updates[1:], extra...) // no updateMessageID for service messages
	users, chats := t.st.entities(a.id, append(peersOf(dl.own), userPeer(a.id)))
	u.Users, u.Chats = users, chats
	return u
}

// createChat makes a basic group of a and members.
func (t *tx) createChat(a *account, title string, members []*account, callerSess int64) (*chat, *delivery, error) {
	st := t.st
	if strings.TrimSpace(title) == "" {
		return nil, nil, errChatTitleEmpty
	}
	st.nextChatID++
	c := &chat{id: st.nextChatID, title: title, creator: a.id, date: t.now, members: map[int64]*member{}}
	c.addMember(&member{userID: a.id, date: t.now, creator: true, admin: true})
	var ids []int64
	for _, m := range members {
		if m.id == a.id {
			continue
		}
		c.addMember(&member{userID: m.id, inviter: a.id, date: t.now})
		ids = append(ids, m.id)
	}
	st.chats[c.id] = c
	dl, err := t.deliver(a, chatPeer(c.id), sendOpts{action: &tg.MessageActionChatCreate{Title: title, Users: append([]int64{a.id}, ids...)}}, callerSess)
	if err != nil {
		return nil, nil, err
	}
	return c, dl, nil
}

func (t *tx) addChatUser(a *account, c *chat, u *account, callerSess int64) (*delivery, error) {
	if _, ok := c.members[a.id]; !ok || c.migratedTo != 0 {
		return nil, errChatWriteForbid
	}
	if _, ok := c.members[u.id]; ok {
		return nil, errUserAlreadyPart
	}
	c.addMember(&member{userID: u.id, inviter: a.id, date: t.now})
	return t.deliver(a, chatPeer(c.id), sendOpts{action: &tg.MessageActionChatAddUser{Users: []int64{u.id}}}, callerSess)
}

func (t *tx) removeChatUser(a *account, c *chat, u *account, callerSess int64) (*delivery, error) {
	if _, ok := c.members[u.id]; !ok {
		return nil, errUserNotPart
	}
	if a.id != u.id && c.creator != a.id {
		return nil, errChatAdminReq
	}
	dl, err := t.deliver(a, chatPeer(c.id), sendOpts{action: &tg.MessageActionChatDeleteUser{UserID: u.id}}, callerSess)
	if err != nil {
		return nil, err
	}
	c.removeMember(u.id)
	return dl, nil
}

func (t *tx) editChatTitle(a *account, c *chat, title string, callerSess int64) (*delivery, error) {
	if strings.TrimSpace(title) == "" {
		return nil, errChatTitleEmpty
	}
	if title == c.title {
		return nil, errChatNotModified
	}
	c.title = title
	return t.deliver(a, chatPeer(c.id), sendOpts{action: &tg.MessageActionChatEditTitle{Title: title}}, callerSess)
}

// createChannel makes a supergroup (megagroup), forum or broadcast channel.
func (t *tx) createChannel(a *account, title, about string, broadcast, forum bool, callerSess int64) (*channel, *delivery, error) {
	st := t.st
	if strings.TrimSpace(title) == "" {
		return nil, nil, errChatTitleEmpty
	}
	st.nextChannelID++
	c := &channel{
		id:        st.nextChannelID,
		title:     title,
		about:     about,
		broadcast: broadcast,
		megagroup: !broadcast,
		forum:     forum && !broadcast,
		creator:   a.id,
		date:      t.now,
		members:   map[int64]*member{},
		msgs:      map[int]*message{},
		topics:    map[int]*topic{},
		readInbox: map[int64]int{},
	}
	c.addMember(&member{userID: a.id, date: t.now, creator: true, admin: true})
	st.channels[c.id] = c
	dl, err := t.deliverChannel(a, c, sendOpts{action: &tg.MessageActionChannelCreate{Title: title}}, callerSess)
	if err != nil {
		return nil, nil, err
	}
	if c.forum {
		// Every forum has the "General" topic, ID 1 (its creation message).
		c.topics[dl.own.id] = &topic{id: dl.own.id, title: "General", date: t.now, creator: a.id}
	}
	return c, dl, nil
}

// joinChannel adds u (invited by inviter, or joining itself when equal).
func (t *tx) joinChannel(c *channel, u *account, inviter *account, callerSess int64) (*delivery, error) {
	if _, ok := c.members[u.id]; ok {
		return nil, errUserAlreadyPart
	}
	if r, ok := c.settings.banned[u.id]; ok && r.ViewMessages {
		if inviter.id == u.id {
			return nil, errChannelPrivate // a removed user cannot come back alone
		}
		delete(c.settings.banned, u.id) // an admin's invite lifts the ban, as on Telegram
	}
	c.addMember(&member{userID: u.id, inviter: inviter.id, date: t.now})
	var dl *delivery
	if !c.broadcast {
		var err error
		action := &tg.MessageActionChatAddUser{Users: []int64{u.id}}
		if dl, err = t.deliverChannel(inviter, c, sendOpts{action: action}, callerSess); err != nil {
			return nil, err
		}
	}
	t.push(u.id, 0, []peerKey{channelPeer(c.id)}, &tg.UpdateChannel{ChannelID: c.id})
	return dl, nil
}

func (t *tx) leaveChannel(c *channel, u *account, callerSess int64) (*delivery, error) {
	if _, ok := c.members[u.id]; !ok {
		return nil, errUserNotPart
	}
	return t.removeFromChannel(u, c, u, callerSess)
}

// removeFromChannel takes member u out of c on by's behalf (u itself when leaving): supergroups
// get the service message, u gets updateChannel.
func (t *tx) removeFromChannel(by *account, c *channel, u *account, callerSess int64) (*delivery, error) {
	var dl *delivery
	if !c.broadcast {
		var err error
		if dl, err = t.deliverChannel(by, c, sendOpts{action: &tg.MessageActionChatDeleteUser{UserID: u.id}}, callerSess); err != nil {
			return nil, err
		}
	}
	c.removeMember(u.id)
	t.push(u.id, 0, []peerKey{channelPeer(c.id)}, &tg.UpdateChannel{ChannelID: c.id})
	return dl, nil
}

func (t *tx) editChannelTitle(a *account, c *channel, title string, callerSess int64) (*delivery, error) {
	mem, ok := c.members[a.id]
	if !ok || (!mem.admin && !mem.creator) {
		return nil, errChatAdminReq
	}
	if strings.TrimSpace(title) == "" {
		return nil, errChatTitleEmpty
	}
	if title == c.title {
		return nil, errChatNotModified
	}
	c.title = title
	return t.deliverChannel(a, c, sendOpts{action: &tg.MessageActionChatEditTitle{Title: title}}, callerSess)
}

// migrate turns basic group c into a supergroup, as Telegram does when a
// group grows or gets an admin feature: both sides get a service message.
func (t *tx) migrate(a *account, c *chat, callerSess int64) (*channel, *delivery, *delivery, error) {
	st := t.st
	if c.migratedTo != 0 {
		return nil, nil, nil, tgerr.New(400, "CHAT_ID_INVALID")
	}
	if c.creator != a.id {
		return nil, nil, nil, errChatAdminReq
	}
	st.nextChannelID++
	ch := &channel{
		id:               st.nextChannelID,
		title:            c.title,
		about:            c.about,
		megagroup:        true,
		creator:          c.creator,
		date:             t.now,
		photo:            c.photo,
		members:          map[int64]*member{},
		msgs:             map[int]*message{},
		topics:           map[int]*topic{},
		readInbox:        map[int64]int{},
		migratedFromChat: c.id,
	}
	for _, id := range c.order {
		m := *c.members[id]
		ch.addMember(&m)
	}
	st.channels[ch.id] = ch
	toDl, err := t.deliver(a, chatPeer(c.id), sendOpts{action: &tg.MessageActionChatMigrateTo{ChannelID: ch.id}}, callerSess)
	if err != nil {
		return nil, nil, nil, err
	}
	ch.migratedFromMaxID = toDl.own.id
	c.migratedTo = ch.id
	c.deactivated = true
	fromDl, err := t.deliverChannel(a, ch, sendOpts{action: &tg.MessageActionChannelMigrateFrom{Title: c.title, ChatID: c.id}}, callerSess)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, id := range ch.order {
		t.push(id, 0, []peerKey{chatPeer(c.id), channelPeer(ch.id)}, &tg.UpdateChannel{ChannelID: ch.id}, &tg.UpdateChat{ChatID: c.id})
	}
	return ch, toDl, fromDl, nil
}

func (t *tx) createTopic(a *account, c *channel, title string, color int, callerSess int64) (*topic, *delivery, error) {
	if !c.forum {
		return nil, nil, errChannelForumOnly
	}
	if strings.TrimSpace(title) == "" {
		return nil, nil, tgerr.New(400, "TOPIC_TITLE_EMPTY")
	}
	dl, err := t.deliverChannel(a, c, sendOpts{action: &tg.MessageActionTopicCreate{Title: title, IconColor: color}}, callerSess)
	if err != nil {
		return nil, nil, err
	}
	tp := &topic{id: dl.own.id, title: title, iconColor: color, date: t.now, creator: a.id}
	dl.own.topID = tp.id
	c.topics[tp.id] = tp
	return tp, dl, nil
}

func (st *store) renderTopic(viewer int64, c *channel, tp *topic) *tg.ForumTopic {
	top := tp.id
	for id, m := range c.msgs {
		if !m.deleted && m.topID == tp.id && id > top {
			top = id
		}
	}
	return &tg.ForumTopic{
		ID:              tp.id,
		Date:            tp.date,
		Peer:            channelPeer(c.id).tg(),
		Title:           tp.title,
		IconColor:       tp.iconColor,
		TopMessage:      top,
		ReadInboxMaxID:  c.readInbox[viewer],
		ReadOutboxMaxID: c.readOutbox,
		FromID:          userPeer(tp.creator).tg(),
		NotifySettings:  tg.PeerNotifySettings{},
		Closed:          tp.closed,
		My:              tp.creator == viewer,
	}
}

func (st *store) chatFull(viewer int64, c *chat) *tg.MessagesChatFull {
	parts := &tg.ChatParticipants{ChatID: c.id, Version: c.version}
	peers := []peerKey{chatPeer(c.id)}
	for _, id := range c.order {
		m := c.members[id]
		switch {
		case m.creator:
			parts.Participants = append(parts.Participants, &tg.ChatParticipantCreator{UserID: id})
		case m.admin:
			parts.Participants = append(parts.Participants, &tg.ChatParticipantAdmin{UserID: id, InviterID: m.inviter, Date: m.date})
		default:
			parts.Participants = append(parts.Participants, &tg.ChatParticipant{UserID: id, InviterID: m.inviter, Date: m.date})
		}
		peers = append(peers, userPeer(id))
	}
	full := &tg.ChatFull{ID: c.id, About: c.about, Participants: parts, NotifySettings: tg.PeerNotifySettings{}}
	full.SetAvailableReactions(c.settings.availableReactions())
	if c.photo != nil {
		full.ChatPhoto = st.renderPhoto(c.photo)
	}
	users, chats := st.entities(viewer, peers)
	return &tg.MessagesChatFull{FullChat: full, Users: users, Chats: chats}
}

func (st *store) channelFull(viewer int64, c *channel) *tg.MessagesChatFull {
	admins := 0
	for _, m := range c.members {
		if m.admin || m.creator {
			admins++
		}
	}
	full := &tg.ChannelFull{
		ID:                  c.id,
		About:               c.about,
		ParticipantsCount:   len(c.members),
		AdminsCount:         admins,
		ReadInboxMaxID:      c.readInbox[viewer],
		ReadOutboxMaxID:     c.readOutbox,
		UnreadCount:         st.channelUnread(c, viewer),
		ChatPhoto:           &tg.PhotoEmpty{},
		NotifySettings:      tg.PeerNotifySettings{},
		Pts:                 c.pts,
		CanViewParticipants: true,
		MigratedFromChatID:  c.migratedFromChat,
		MigratedFromMaxID:   c.migratedFromMaxID,
	}
	full.SetAvailableReactions(c.settings.availableReactions())
	if c.photo != nil {
		full.ChatPhoto = st.renderPhoto(c.photo)
	}
	peers := []peerKey{channelPeer(c.id)}
	if c.migratedFromChat != 0 {
		peers = append(peers, chatPeer(c.migratedFromChat))
	}
	users, chats := st.entities(viewer, peers)
	return &tg.MessagesChatFull{FullChat: full, Users: users, Chats: chats}
}

func (st *store) renderParticipant(viewer int64, c *channel, m *member) tg.ChannelParticipantClass {
	switch {
	case m.creator:
		return &tg.ChannelParticipantCreator{UserID: m.userID, AdminRights: fullAdminRights(c.broadcast), Rank: m.rank}
	case m.admin:
		return &tg.ChannelParticipantAdmin{UserID: m.userID, InviterID: m.inviter, PromotedBy: c.creator, Date: m.date, AdminRights: fullAdminRights(c.broadcast), Rank: m.rank, Self: m.userID == viewer}
	case m.userID == viewer:
		return &tg.ChannelParticipantSelf{UserID: m.userID, InviterID: m.inviter, Date: m.date}
	default:
		return &tg.ChannelParticipant{UserID: m.userID, Date: m.date}
	}
}

func (s *Server) registerChats(d *tg.ServerDispatcher) {
	st := s.state
	type chatOp func(t *tx, a *account) (tg.UpdatesClass, error)
	run := func(ctx context.Context, op chatOp) (tg.UpdatesClass, error) {
		var out tg.UpdatesClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			out, err = op(t, a)
			return err
		})
		return out, err
	}
	sess := func(ctx context.Context) int64 { return callerFrom(ctx).sess.ID }
	chatByID := func(id int64) (*chat, error) {
		c := st.chats[id]
		if c == nil {
			return nil, errChatIDInvalid
		}
		return c, nil
	}

	s.registerChatSettings(d)
	d.OnMessagesCreateChat(func(ctx context.Context, req *tg.MessagesCreateChatRequest) (*tg.MessagesInvitedUsers, error) {
		u, err := run(ctx, func(t *tx, a *account) (tg.UpdatesClass, error) {
			var members []*account
			for _, in := range req.Users {
				m, err := st.inputUser(a.id, in)
				if err != nil {
					return nil, err
				}
				members = append(members, m)
			}
			_, dl, err := t.createChat(a, req.Title, members, sess(ctx))
			if err != nil {
				return nil, err
			}
			return t.serviceResult(a, dl), nil
		})
		if err != nil {
			return nil, err
		}
		return &tg.MessagesInvitedUsers{Updates: u}, nil
	})
	d.OnMessagesAddChatUser(func(ctx context.Context, req *tg.MessagesAddChatUserRequest) (*tg.MessagesInvitedUsers, error) {
		u, err := run(ctx, func(t *tx, a *account) (tg.UpdatesClass, error) {
			c, err := chatByID(req.ChatID)
			if err != nil {
				return nil, err
			}
			m, err := st.inputUser(a.id, req.UserID)
			if err != nil {
				return nil, err
			}
			dl, err := t.addChatUser(a, c, m, sess(ctx))
			if err != nil {
				return nil, err
			}
			return t.serviceResult(a, dl), nil
		})
		if err != nil {
			return nil, err
		}
		return &tg.MessagesInvitedUsers{Updates: u}, nil
	})
	d.OnMessagesDeleteChatUser(func(ctx context.Context, req *tg.MessagesDeleteChatUserRequest) (tg.UpdatesClass, error) {
		return run(ctx, func(t *tx, a *account) (tg.UpdatesClass, error) {
			c, err := chatByID(req.ChatID)
			if err != nil {
				return nil, err
			}
			m, err := st.inputUser(a.id, req.UserID)
			if err != nil {
				return nil, err
			}
			dl, err := t.removeChatUser(a, c, m, sess(ctx))
			if err != nil {
				return nil, err
			}
			return t.serviceResult(a, dl), nil
		})
	})
	d.OnMessagesEditChatTitle(func(ctx context.Context, req *tg.MessagesEditChatTitleRequest) (tg.UpdatesClass, error) {
		return run(ctx, func(t *tx, a *account) (tg.UpdatesClass, error) {
			c, err := chatByID(req.ChatID)
			if err != nil {
				return nil, err
			}
			dl, err := t.editChatTitle(a, c, req.Title, sess(ctx))
			if err != nil {
				return nil, err
			}
			return t.serviceResult(a, dl), nil
		})
	})
	d.OnMessagesMigrateChat(func(ctx context.Context, chatID int64) (tg.UpdatesClass, error) {
		return run(ctx, func(t *tx, a *account) (tg.UpdatesClass, error) {
			c, err := chatByID(chatID)
			if err != nil {
				return nil, err
			}
			ch, toDl, fromDl, err := t.migrate(a, c, sess(ctx))
			if err != nil {
				return nil, err
			}
			users, chats := st.entities(a.id, []peerKey{chatPeer(c.id), channelPeer(ch.id), userPeer(a.id)})
			return &tg.Updates{
				Updates: []tg.UpdateClass{
					&tg.UpdateChannel{ChannelID: ch.id},
					&tg.UpdateNewMessage{Message: st.renderMessage(a.id, toDl.own), Pts: toDl.pts, PtsCount: 1},
					&tg.UpdateNewChannelMessage{Message: st.renderMessage(a.id, fromDl.own), Pts: fromDl.pts, PtsCount: 1},
				},
				Users: users, Chats: chats, Date: t.now,
			}, nil
		})
	})
	d.OnMessagesGetFullChat(func(ctx context.Context, chatID int64) (*tg.MessagesChatFull, error) {
		var out *tg.MessagesChatFull
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			c, err := chatByID(chatID)
			if err != nil {
				return err
			}
			out = st.chatFull(a.id, c)
			return nil
		})
		return out, err
	})
	d.OnMessagesGetChats(func(ctx context.Context, ids []int64) (tg.MessagesChatsClass, error) {
		out := &tg.MessagesChats{}
		err := st.do(func(t *tx) error {
			var peers []peerKey
			for _, id := range ids {
				peers = append(peers, chatPeer(id))
			}
			_, out.Chats = st.entities(callerFrom(ctx).userID, peers)
			return nil
		})
		return out, err
	})
	d.OnChannelsCreateChannel(func(ctx context.Context, req *tg.ChannelsCreateChannelRequest) (tg.UpdatesClass, error) {
		return run(ctx, func(t *tx, a *account) (tg.UpdatesClass, error) {
			if !req.Broadcast && !req.Megagroup {
				return nil, tgerr.New(400, "CHANNEL_TYPE_INVALID")
			}
			c, dl, err := t.createChannel(a, req.Title, req.About, req.Broadcast, req.Forum, sess(ctx))
			if err != nil {
				return nil, err
			}
			return t.serviceResult(a, dl, &tg.UpdateChannel{ChannelID: c.id}), nil
		})
	})
	d.OnChannelsInviteToChannel(func(ctx context.Context, req *tg.ChannelsInviteToChannelRequest) (*tg.MessagesInvitedUsers, error) {
		u, err := run(ctx, func(t *tx, a *account) (tg.UpdatesClass, error) {
			c, err := st.inputChannel(a.id, req.Channel)
			if err != nil {
				return nil, err
			}
			if _, ok := c.members[a.id]; !ok {
				return nil, errChatWriteForbid
			}
			res := &tg.Updates{Date: t.now}
			peers := []peerKey{channelPeer(c.id)}
			for _, in := range req.Users {
				m, err := st.inputUser(a.id, in)
				if err != nil {
					return nil, err
				}
				dl, err := t.joinChannel(c, m, a, sess(ctx))
				if err != nil {
					return nil, err
				}
				if dl != nil {
					res.Updates = append(res.Updates, &tg.UpdateNewChannelMessage{Message: st.renderMessage(a.id, dl.own), Pts: dl.pts, PtsCount: 1})
					peers = append(peers, peersOf(dl.own)...)
				}
			}
			res.Users, res.Chats = st.entities(a.id, peers)
			return res, nil
		})
		if err != nil {
			return nil, err
		}
		return &tg.MessagesInvitedUsers{Updates: u}, nil
	})
	d.OnChannelsJoinChannel(func(ctx context.Context, in tg.InputChannelClass) (tg.MessagesChatInviteJoinResultClass, error) {
		u, err := run(ctx, func(t *tx, a *account) (tg.UpdatesClass, error) {
			c, err := st.inputChannel(a.id, in)
			if err != nil {
				return nil, err
			}
			dl, err := t.joinChannel(c, a, a, sess(ctx))
			if err != nil {
				return nil, err
			}
			if dl == nil {
				users, chats := st.entities(a.id, []peerKey{channelPeer(c.id)})
				return &tg.Updates{Updates: []tg.UpdateClass{&tg.UpdateChannel{ChannelID: c.id}}, Users: users, Chats: chats, Date: t.now}, nil
			}
			return t.serviceResult(a, dl, &tg.UpdateChannel{ChannelID: c.id}), nil
		})
		if err != nil {
			return nil, err
		}
		return &tg.MessagesChatInviteJoinResultOk{Updates: u}, nil
	})
	d.OnChannelsLeaveChannel(func(ctx context.Context, in tg.InputChannelClass) (tg.UpdatesClass, error) {
		return run(ctx, func(t *tx, a *account) (tg.UpdatesClass, error) {
			c, err := st.inputChannel(a.id, in)
			if err != nil {
				return nil, err
			}
			if _, err := t.leaveChannel(c, a, sess(ctx)); err != nil {
				return nil, err
			}
			users, chats := st.entities(a.id, []peerKey{channelPeer(c.id)})
			return &tg.Updates{Updates: []tg.UpdateClass{&tg.UpdateChannel{ChannelID: c.id}}, Users: users, Chats: chats, Date: t.now}, nil
		})
	})
	d.OnChannelsEditTitle(func(ctx context.Context, req *tg.ChannelsEditTitleRequest) (tg.UpdatesClass, error) {
		return run(ctx, func(t *tx, a *account) (tg.UpdatesClass, error) {
			c, err := st.inputChannel(a.id, req.Channel)
			if err != nil {
				return nil, err
			}
			dl, err := t.editChannelTitle(a, c, req.Title, sess(ctx))
			if err != nil {
				return nil, err
			}
			return t.serviceResult(a, dl), nil
		})
	})
	d.OnChannelsGetFullChannel(func(ctx context.Context, in tg.InputChannelClass) (*tg.MessagesChatFull, error) {
		var out *tg.MessagesChatFull
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			c, err := st.inputChannel(a.id, in)
			if err != nil {
				return err
			}
			out = st.channelFull(a.id, c)
			return nil
		})
		return out, err
	})
	d.OnChannelsGetChannels(func(ctx context.Context, ins []tg.InputChannelClass) (tg.MessagesChatsClass, error) {
		out := &tg.MessagesChats{}
		err := st.do(func(t *tx) error {
			viewer := callerFrom(ctx).userID
			var peers []peerKey
			for _, in := range ins {
				c, err := st.inputChannel(viewer, in)
				if err != nil {
					return err
				}
				peers = append(peers, channelPeer(c.id))
			}
			_, out.Chats = st.entities(viewer, peers)
			return nil
		})
		return out, err
	})
	d.OnChannelsGetParticipants(func(ctx context.Context, req *tg.ChannelsGetParticipantsRequest) (tg.ChannelsChannelParticipantsClass, error) {
		var out *tg.ChannelsChannelParticipants
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			c, err := st.inputChannel(a.id, req.Channel)
			if err != nil {
				return err
			}
			mem, ok := c.members[a.id]
			if !ok && !c.isPublic() {
				return errChannelPrivate
			}
			if c.broadcast && (!ok || (!mem.admin && !mem.creator)) {
				return errChatAdminReq
			}
			var list []*member
			for _, id := range c.order {
				m := c.members[id]
				u := st.users[id]
				switch f := req.Filter.(type) {
				case *tg.ChannelParticipantsAdmins:
					if !m.admin && !m.creator {
						continue
					}
				case *tg.ChannelParticipantsBots:
					if !u.bot {
						continue
					}
				case *tg.ChannelParticipantsKicked, *tg.ChannelParticipantsBanned:
					continue
				case *tg.ChannelParticipantsSearch:
					q := strings.ToLower(f.Q)
					if q != "" && !strings.Contains(strings.ToLower(u.first+" "+u.last+" "+u.username), q) {
						continue
					}
				}
				list = append(list, m)
			}
			sort.SliceStable(list, func(i, j int) bool { return list[i].date < list[j].date })
			total := len(list)
			start := min(max(req.Offset, 0), total)
			limit := req.Limit
			if limit <= 0 || limit > 200 {
				limit = 200
			}
			end := min(start+limit, total)
			out = &tg.ChannelsChannelParticipants{Count: total}
			peers := []peerKey{channelPeer(c.id)}
			for _, m := range list[start:end] {
				out.Participants = append(out.Participants, st.renderParticipant(a.id, c, m))
				peers = append(peers, userPeer(m.userID))
			}
			out.Users, out.Chats = st.entities(a.id, peers)
			return nil
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	})
	d.OnChannelsGetParticipant(func(ctx context.Context, req *tg.ChannelsGetParticipantRequest) (*tg.ChannelsChannelParticipant, error) {
		var out *tg.ChannelsChannelParticipant
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			c, err := st.inputChannel(a.id, req.Channel)
			if err != nil {
				return err
			}
			p, err := st.inputPeer(a.id, req.Participant)
			if err != nil {
				return err
			}
			m := c.members[p.id]
			if p.kind != peerUser || m == nil {
				return errUserNotPart
			}
			users, chats := st.entities(a.id, []peerKey{p, channelPeer(c.id)})
			out = &tg.ChannelsChannelParticipant{Participant: st.renderParticipant(a.id, c, m), Users: users, Chats: chats}
			return nil
		})
		return out, err
	})
	d.OnMessagesCreateForumTopic(func(ctx context.Context, req *tg.MessagesCreateForumTopicRequest) (tg.UpdatesClass, error) {
		return run(ctx, func(t *tx, a *account) (tg.UpdatesClass, error) {
			p, err := st.inputPeer(a.id, req.Peer)
			if err != nil {
				return nil, err
			}
			if p.kind != peerChannel {
				return nil, errChannelForumOnly
			}
			_, dl, err := t.createTopic(a, st.channels[p.id], req.Title, req.IconColor, sess(ctx))
			if err != nil {
				return nil, err
			}
			return t.sentResult(a, dl, req.RandomID, false), nil
		})
	})
	d.OnMessagesGetForumTopics(func(ctx context.Context, req *tg.MessagesGetForumTopicsRequest) (*tg.MessagesForumTopics, error) {
		var out *tg.MessagesForumTopics
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			p, err := st.inputPeer(a.id, req.Peer)
			if err != nil {
				return err
			}
			if p.kind != peerChannel {
				return errChannelForumOnly
			}
			c := st.channels[p.id]
			var tps []*topic
			for _, tp := range c.topics {
				if req.Q == "" || strings.Contains(strings.ToLower(tp.title), strings.ToLower(req.Q)) {
					tps = append(tps, tp)
				}
			}
			sort.Slice(tps, func(i, j int) bool { return tps[i].id > tps[j].id })
			out = &tg.MessagesForumTopics{Count: len(tps), Pts: c.pts}
			peers := []peerKey{p}
			for _, tp := range tps {
				out.Topics = append(out.Topics, st.renderTopic(a.id, c, tp))
				if m := c.msgs[tp.id]; m != nil {
					out.Messages = append(out.Messages, st.renderMessage(a.id, m))
					peers = append(peers, peersOf(m)...)
				}
			}
			out.Users, out.Chats = st.entities(a.id, peers)
			return nil
		})
		return out, err
	})
}
