package tgtestserver

import (
	"github.com/gotd/td/tg"
)

// renderUser is target as viewer sees it (own access hash, contact flags).
func (st *store) renderUser(viewer int64, target int64) tg.UserClass {
	a := st.users[target]
	if a == nil {
		return &tg.UserEmpty{ID: target}
	}
	u := &tg.User{
		ID:         a.id,
		AccessHash: st.accessHash(viewer, a.id),
		FirstName:  a.first,
		LastName:   a.last,
		Username:   a.username,
		Self:       viewer == a.id,
		Bot:        a.bot,
		Status:     a.status(st.srv.unix()),
	}
	if v := st.users[viewer]; v != nil && v.contacts[a.id] {
		u.Contact = true
		u.MutualContact = a.contacts[viewer]
	}
	if !a.bot && (u.Self || u.Contact || a.contacts[viewer]) {
		u.Phone = a.phone
	}
	if a.bot {
		u.BotInfoVersion = 1
		u.BotChatHistory = false
		u.BotNochats = false
	}
	if a.photo != nil {
		u.Photo = &tg.UserProfilePhoto{PhotoID: a.photo.id, DCID: st.srv.opts.DC}
	}
	return u
}

func (st *store) renderChat(viewer int64, id int64) tg.ChatClass {
	c := st.chats[id]
	if c == nil {
		return &tg.ChatEmpty{ID: id}
	}
	out := &tg.Chat{
		ID:                id,
		Title:             c.title,
		ParticipantsCount: len(c.members),
		Date:              c.date,
		Version:           c.version,
		Photo:             &tg.ChatPhotoEmpty{},
		Creator:           c.creator == viewer,
	}
	if c.photo != nil {
		out.Photo = &tg.ChatPhoto{PhotoID: c.photo.id, DCID: st.srv.opts.DC}
	}
	if _, ok := c.members[viewer]; !ok {
		out.Left = true
	}
	if c.migratedTo != 0 {
		out.Deactivated = true
		out.MigratedTo = &tg.InputChannel{ChannelID: c.migratedTo, AccessHash: st.accessHash(viewer, c.migratedTo)}
	}
	return out
}

func (st *store) renderChannel(viewer int64, id int64) tg.ChatClass {
	c := st.channels[id]
	if c == nil {
		return &tg.ChannelForbidden{ID: id, Title: "deleted"}
	}
	out := &tg.Channel{
		ID:                id,
		AccessHash:        st.accessHash(viewer, id),
		Title:             c.title,
		Username:          c.username,
		Broadcast:         c.broadcast,
		Megagroup:         c.megagroup,
		Forum:             c.forum,
		Date:              c.date,
		Photo:             &tg.ChatPhotoEmpty{},
		ParticipantsCount: len(c.members),
		Creator:           c.creator == viewer,
	}
	if c.photo != nil {
		out.Photo = &tg.ChatPhoto{PhotoID: c.photo.id, DCID: st.srv.opts.DC}
	}
	if m, ok := c.members[viewer]; !ok {
		out.Left = true
	} else if m.admin || m.creator {
		out.AdminRights = fullAdminRights(c.broadcast)
	}
	return out
}

func fullAdminRights(broadcast bool) tg.ChatAdminRights {
	r := tg.ChatAdminRights{
		ChangeInfo:     true,
		DeleteMessages: true,
		BanUsers:       true,
		InviteUsers:    true,
		PinMessages:    true,
		ManageCall:     true,
		ManageTopics:   !broadcast,
	}
	if broadcast {
		r.PostMessages = true
		r.EditMessages = true
	}
	return r
}

// entities renders the users and chats named by peers (deduplicated).
func (st *store) entities(viewer int64, peers []peerKey) ([]tg.UserClass, []tg.ChatClass) {
	users := []tg.UserClass{}
	chats := []tg.ChatClass{}
	seen := map[peerKey]bool{}
	for _, p := range peers {
		if p.id == 0 || seen[p] {
			continue
		}
		seen[p] = true
		switch p.kind {
		case peerUser:
			users = append(users, st.renderUser(viewer, p.id))
		case peerChat:
			chats = append(chats, st.renderChat(viewer, p.id))
			if c := st.chats[p.id]; c != nil && c.migratedTo != 0 && !seen[channelPeer(c.migratedTo)] {
				seen[channelPeer(c.migratedTo)] = true
				chats = append(chats, st.renderChannel(viewer, c.migratedTo))
			}
		case peerChannel:
			chats = append(chats, st.renderChannel(viewer, p.id))
		}
	}
	return users, chats
}

// peersOf lists who a message mentions: its chat, sender, owner and the
// users of a service action.
func peersOf(m *message) []peerKey {
	ps := []peerKey{m.peer}
	if m.from != 0 {
		ps = append(ps, userPeer(m.from))
	}
	if m.fwdFrom.id != 0 {
		ps = append(ps, m.fwdFrom)
	}
	if m.owner != 0 {
		ps = append(ps, userPeer(m.owner))
	}
	switch a := m.action.(type) {
	case *tg.MessageActionChatAddUser:
		for _, u := range a.Users {
			ps = append(ps, userPeer(u))
		}
	case *tg.MessageActionChatDeleteUser:
		ps = append(ps, userPeer(a.UserID))
	case *tg.MessageActionChatCreate:
		for _, u := range a.Users {
			ps = append(ps, userPeer(u))
		}
	case *tg.MessageActionChatMigrateTo:
		ps = append(ps, channelPeer(a.ChannelID))
	case *tg.MessageActionChannelMigrateFrom:
		ps = append(ps, chatPeer(a.ChatID))
	}
	return ps
}

// renderMessage is one copy of a message as viewer sees it.
func (st *store) renderMessage(viewer int64, m *message) tg.MessageClass {
	if m.action != nil {
		sm := &tg.MessageService{
			ID:     m.id,
			Out:    m.from == viewer && viewer != 0,
			PeerID: m.peer.tg(),
			Date:   m.date,
			Action: cloneAction(m.action),
		}
		if m.peer.kind != peerUser {
			sm.FromID = userPeer(m.from).tg()
		}
		if m.topID != 0 && m.topID != m.id {
			sm.ReplyTo = &tg.MessageReplyHeader{ForumTopic: true, ReplyToMsgID: m.topID}
		}
		return sm
	}
	out := &tg.Message{
		ID:          m.id,
		Out:         m.from == viewer && viewer != 0,
		PeerID:      m.peer.tg(),
		Date:        m.date,
		Message:     m.text,
		Entities:    cloneEntities(m.entities),
		EditDate:    m.editDate,
		Post:        m.post,
		MediaUnread: m.mediaUnread,
		Mentioned:   m.mentioned,
		GroupedID:   m.groupedID,
	}
	if m.peer.kind != peerUser && !m.post {
		out.FromID = userPeer(m.from).tg()
	}
	if m.media != nil {
		out.Media = st.renderMediaFor(viewer, m.media)
	}
	if m.owner == 0 && viewer != m.from {
		if v := st.users[viewer]; v != nil && st.mentions(m.text, m.entities, v) {
			out.Mentioned = true
		}
	}
	if m.fwdFrom.id != 0 {
		out.FwdFrom = tg.MessageFwdHeader{FromID: m.fwdFrom.tg(), Date: m.fwdDate, ChannelPost: m.fwdPost}
	}
	switch {
	case m.replyTo != 0:
		h := &tg.MessageReplyHeader{ReplyToMsgID: m.replyTo}
		if m.topID != 0 && m.topID != m.replyTo {
			h.ForumTopic = true
			h.ReplyToTopID = m.topID
		} else if m.topID != 0 {
			h.ForumTopic = true
		}
		out.ReplyTo = h
	case m.topID != 0:
		out.ReplyTo = &tg.MessageReplyHeader{ForumTopic: true, ReplyToMsgID: m.topID}
	}
	if m.shared != nil && len(m.shared.reactions) > 0 {
		out.Reactions = st.renderReactions(viewer, m)
	}
	return out
}

func (st *store) renderReactions(viewer int64, m *message) tg.MessageReactions {
	counts := map[string]int{}
	var order []string
	chosen := map[string]int{}
	var recent []tg.MessagePeerReaction
	for i, r := range m.shared.reactions {
		if counts[r.emoticon] == 0 {
			order = append(order, r.emoticon)
		}
		counts[r.emoticon]++
		if r.user == viewer {
			chosen[r.emoticon] = i + 1
		}
		recent = append(recent, tg.MessagePeerReaction{
			PeerID:   userPeer(r.user).tg(),
			Date:     r.date,
			Reaction: &tg.ReactionEmoji{Emoticon: r.emoticon},
			My:       r.user == viewer,
		})
	}
	res := tg.MessageReactions{CanSeeList: m.peer.kind != peerChannel || !m.post}
	for _, e := range order {
		rc := tg.ReactionCount{Reaction: &tg.ReactionEmoji{Emoticon: e}, Count: counts[e]}
		if n, ok := chosen[e]; ok {
			rc.ChosenOrder = n
		}
		res.Results = append(res.Results, rc)
	}
	if res.CanSeeList {
		res.RecentReactions = recent
	}
	return res
}
