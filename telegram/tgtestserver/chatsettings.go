package tgtestserver

import (
	"context"
	"sort"
	"unicode/utf8"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

var (
	errAboutTooLong     = tgerr.New(400, "CHAT_ABOUT_TOO_LONG")
	errAboutNotModified = tgerr.New(400, "CHAT_ABOUT_NOT_MODIFIED")
	errReactionInvalid  = tgerr.New(400, "REACTION_INVALID")
	errUserAdminInvalid = tgerr.New(400, "USER_ADMIN_INVALID")
	maxAboutLength      = 255
)

// chatSettings are what a group's or channel's admins set beyond title and photo.
type chatSettings struct {
	// reactions is the allowed set; nil allows every emoji (chatReactionsAll).
	reactions []string
	// noReactions forbids reactions (chatReactionsNone).
	noReactions bool
	// banned maps a user removed or restricted with channels.editBanned to the rights taken.
	banned map[int64]tg.ChatBannedRights
}

func (s *chatSettings) availableReactions() tg.ChatReactionsClass {
	switch {
	case s.noReactions:
		return &tg.ChatReactionsNone{}
	case s.reactions == nil:
		return &tg.ChatReactionsAll{}
	}
	out := &tg.ChatReactionsSome{Reactions: []tg.ReactionClass{}}
	for _, e := range s.reactions {
		out.Reactions = append(out.Reactions, &tg.ReactionEmoji{Emoticon: e})
	}
	return out
}

// allows tells whether emoticon may be used as a reaction ("" clears one: always allowed).
func (s *chatSettings) allows(emoticon string) bool {
	if emoticon == "" || (s.reactions == nil && !s.noReactions) {
		return true
	}
	for _, e := range s.reactions {
		if e == emoticon {
			return true
		}
	}
	return false
}

// settingsOf returns the settings of a group or channel (nil for DMs).
func (st *store) settingsOf(p peerKey) *chatSettings {
	switch p.kind {
	case peerChat:
		if c := st.chats[p.id]; c != nil {
			return &c.settings
		}
	case peerChannel:
		if c := st.channels[p.id]; c != nil {
			return &c.settings
		}
	}
	return nil
}

// canChangeInfo: any member of a basic group (Telegram's default rights), admins of channels.
func (st *store) canChangeInfo(a *account, p peerKey) error {
	switch p.kind {
	case peerChat:
		c := st.chats[p.id]
		if c == nil {
			return errChatIDInvalid
		}
		if _, ok := c.members[a.id]; !ok || c.migratedTo != 0 {
			return errChatWriteForbid
		}
	case peerChannel:
		c := st.channels[p.id]
		if c == nil {
			return errChannelInvalid
		}
		if m, ok := c.members[a.id]; !ok || (!m.admin && !m.creator) {
			return errChatAdminReq
		}
	default:
		return errPeerIDInvalid
	}
	return nil
}

// notifyChanged tells every member that the chat's full info changed: updateChat for basic
// groups, updateChannel for channels (Telegram posts no service message for these).
func (t *tx) notifyChanged(p peerKey, callerSess int64, caller int64) {
	var members []int64
	var u tg.UpdateClass
	switch p.kind {
	case peerChat:
		members, u = t.st.chats[p.id].order, &tg.UpdateChat{ChatID: p.id}
	case peerChannel:
		members, u = t.st.channels[p.id].order, &tg.UpdateChannel{ChannelID: p.id}
	}
	for _, uid := range members {
		except := int64(0)
		if uid == caller {
			except = callerSess
		}
		t.push(uid, except, []peerKey{p}, u)
	}
}

// editAbout sets a group's or channel's description (its Matrix room topic).
func (t *tx) editAbout(a *account, p peerKey, about string, callerSess int64) error {
	if err := t.st.canChangeInfo(a, p); err != nil {
		return err
	}
	if utf8.RuneCountInString(about) > maxAboutLength {
		return errAboutTooLong
	}
	var cur *string
	if p.kind == peerChannel {
		cur = &t.st.channels[p.id].about
	} else {
		cur = &t.st.chats[p.id].about
	}
	if *cur == about {
		return errAboutNotModified
	}
	*cur = about
	t.notifyChanged(p, callerSess, a.id)
	return nil
}

// setReactions sets the reactions allowed in a group or channel: nil allows all, an empty
// slice none.
func (t *tx) setReactions(a *account, p peerKey, emojis []string, callerSess int64) error {
	if err := t.st.canChangeInfo(a, p); err != nil {
		return err
	}
	s := t.st.settingsOf(p)
	s.noReactions = emojis != nil && len(emojis) == 0
	s.reactions = nil
	if len(emojis) > 0 {
		s.reactions = append([]string(nil), emojis...)
	}
	t.notifyChanged(p, callerSess, a.id)
	return nil
}

// editBanned applies channels.editBanned: rights with view_messages remove u from the channel
// (a kick: supergroups get the service message of the removal, u gets updateChannel); other
// rights restrict u; empty rights lift a ban.
func (t *tx) editBanned(a *account, c *channel, u *account, rights tg.ChatBannedRights, callerSess int64) (*delivery, error) {
	mem, ok := c.members[a.id]
	if !ok || (!mem.admin && !mem.creator) {
		return nil, errChatAdminReq
	}
	if target, ok := c.members[u.id]; ok && (target.creator || (target.admin && !mem.creator)) {
		return nil, errUserAdminInvalid
	}
	if c.settings.banned == nil {
		c.settings.banned = map[int64]tg.ChatBannedRights{}
	}
	if rights.Zero() || (!rights.ViewMessages && !rights.SendMessages && !rights.SendMedia && !rights.SendPlain) {
		delete(c.settings.banned, u.id)
		return nil, nil
	}
	c.settings.banned[u.id] = rights
	if !rights.ViewMessages {
		return nil, nil
	}
	if _, ok := c.members[u.id]; !ok {
		return nil, nil
	}
	return t.removeFromChannel(a, c, u, callerSess)
}

// SetAbout changes a group's or channel's description as the actor.
func (a *Actor) SetAbout(p Peer, about string) error {
	err := a.with(func(t *tx, me *account) error { return t.editAbout(me, p.key(), about, 0) })
	return describe("edit about", err)
}

// SetAllowedReactions limits the reactions of a group or channel to emojis (nil: all, empty:
// none), as its admins can in the app.
func (a *Actor) SetAllowedReactions(p Peer, emojis []string) error {
	err := a.with(func(t *tx, me *account) error { return t.setReactions(me, p.key(), emojis, 0) })
	return describe("set allowed reactions", err)
}

// Ban removes userID from a supergroup or channel the actor administers (channels.editBanned
// with view_messages).
func (a *Actor) Ban(channelID, userID int64) error {
	err := a.with(func(t *tx, me *account) error {
		c, u := t.st.channels[channelID], t.st.users[userID]
		if c == nil || u == nil {
			return errPeerIDInvalid
		}
		_, err := t.editBanned(me, c, u, tg.ChatBannedRights{ViewMessages: true}, 0)
		return err
	})
	return describe("ban", err)
}

// ChatInfo is a group or channel as the server holds it, for assertions.
type ChatInfo struct {
	Title, About string
	// PhotoID is the current photo (0: none).
	PhotoID int64
	Members []int64
	// Banned are the users removed or restricted with channels.editBanned.
	Banned []int64
	// Reactions is the allowed set (nil: all).
	Reactions []string
}

// Chat describes basic group or channel p.
func (s *Server) Chat(p Peer) (ChatInfo, bool) {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	var info ChatInfo
	var ph *photoFile
	switch p.Kind {
	case PeerChat:
		c := st.chats[p.ID]
		if c == nil {
			return info, false
		}
		info = ChatInfo{Title: c.title, About: c.about, Members: append([]int64(nil), c.order...)}
		ph = c.photo
	case PeerChannel:
		c := st.channels[p.ID]
		if c == nil {
			return info, false
		}
		info = ChatInfo{Title: c.title, About: c.about, Members: append([]int64(nil), c.order...)}
		ph = c.photo
		for id := range c.settings.banned {
			info.Banned = append(info.Banned, id)
		}
		sort.Slice(info.Banned, func(i, j int) bool { return info.Banned[i] < info.Banned[j] })
	default:
		return info, false
	}
	if ph != nil {
		info.PhotoID = ph.id
	}
	info.Reactions = append([]string(nil), st.settingsOf(p.key()).reactions...)
	return info, true
}

func (s *Server) registerChatSettings(d *tg.ServerDispatcher) {
	st := s.state
	ok := func(ctx context.Context, op func(t *tx, a *account) error) (bool, error) {
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			return op(t, a)
		})
		return err == nil, err
	}
	d.OnMessagesEditChatAbout(func(ctx context.Context, req *tg.MessagesEditChatAboutRequest) (bool, error) {
		return ok(ctx, func(t *tx, a *account) error {
			p, err := st.inputPeer(a.id, req.Peer)
			if err != nil {
				return err
			}
			return t.editAbout(a, p, req.About, callerFrom(ctx).sess.ID)
		})
	})
	d.OnMessagesSetChatAvailableReactions(func(ctx context.Context, req *tg.MessagesSetChatAvailableReactionsRequest) (tg.UpdatesClass, error) {
		var out tg.UpdatesClass
		_, err := ok(ctx, func(t *tx, a *account) error {
			p, err := st.inputPeer(a.id, req.Peer)
			if err != nil {
				return err
			}
			var emojis []string
			switch r := req.AvailableReactions.(type) {
			case *tg.ChatReactionsNone:
				emojis = []string{}
			case *tg.ChatReactionsSome:
				emojis = []string{}
				for _, e := range r.Reactions {
					if e, ok := e.(*tg.ReactionEmoji); ok {
						emojis = append(emojis, e.Emoticon)
					}
				}
			}
			if err := t.setReactions(a, p, emojis, callerFrom(ctx).sess.ID); err != nil {
				return err
			}
			users, chats := st.entities(a.id, []peerKey{p})
			u := tg.UpdateClass(&tg.UpdateChat{ChatID: p.id})
			if p.kind == peerChannel {
				u = &tg.UpdateChannel{ChannelID: p.id}
			}
			out = &tg.Updates{Updates: []tg.UpdateClass{u}, Users: users, Chats: chats, Date: t.now}
			return nil
		})
		return out, err
	})
	d.OnChannelsEditBanned(func(ctx context.Context, req *tg.ChannelsEditBannedRequest) (tg.UpdatesClass, error) {
		var out tg.UpdatesClass
		_, err := ok(ctx, func(t *tx, a *account) error {
			c, err := st.inputChannel(a.id, req.Channel)
			if err != nil {
				return err
			}
			p, err := st.inputPeer(a.id, req.Participant)
			if err != nil {
				return err
			}
			u := st.users[p.id]
			if p.kind != peerUser || u == nil {
				return errUserIDInvalid
			}
			dl, err := t.editBanned(a, c, u, req.BannedRights, callerFrom(ctx).sess.ID)
			if err != nil {
				return err
			}
			if dl != nil {
				out = t.serviceResult(a, dl)
				return nil
			}
			users, chats := st.entities(a.id, []peerKey{channelPeer(c.id), p})
			out = &tg.Updates{Updates: []tg.UpdateClass{&tg.UpdateChannel{ChannelID: c.id}}, Users: users, Chats: chats, Date: t.now}
			return nil
		})
		return out, err
	})
	d.OnMessagesGetForumTopicsByID(func(ctx context.Context, req *tg.MessagesGetForumTopicsByIDRequest) (*tg.MessagesForumTopics, error) {
		var out *tg.MessagesForumTopics
		_, err := ok(ctx, func(t *tx, a *account) error {
			p, err := st.inputPeer(a.id, req.Peer)
			if err != nil {
				return err
			}
			c := st.channels[p.id]
			if p.kind != peerChannel || !c.forum {
				return errChannelForumOnly
			}
			if _, member := c.members[a.id]; !member && !c.isPublic() {
				return errChannelPrivate
			}
			out = &tg.MessagesForumTopics{Pts: c.pts, Topics: []tg.ForumTopicClass{}, Messages: []tg.MessageClass{}}
			peers := []peerKey{p}
			for _, id := range req.Topics {
				tp := c.topics[id]
				if tp == nil {
					out.Topics = append(out.Topics, &tg.ForumTopicDeleted{ID: id})
					continue
				}
				out.Topics = append(out.Topics, st.renderTopic(a.id, c, tp))
				if m := c.msgs[tp.id]; m != nil {
					out.Messages = append(out.Messages, st.renderMessage(a.id, m))
					peers = append(peers, peersOf(m)...)
				}
			}
			out.Count = len(out.Topics)
			out.Users, out.Chats = st.entities(a.id, peers)
			return nil
		})
		return out, err
	})
}
