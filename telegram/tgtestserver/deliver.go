package tgtestserver

import (
	"strings"
	"unicode/utf16"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

var (
	errMessageEmpty       = tgerr.New(400, "MESSAGE_EMPTY")
	errMessageTooLong     = tgerr.New(400, "MESSAGE_TOO_LONG")
	errMessageNotModified = tgerr.New(400, "MESSAGE_NOT_MODIFIED")
	errAuthorRequired     = tgerr.New(403, "MESSAGE_AUTHOR_REQUIRED")
	errEntityBounds       = tgerr.New(400, "ENTITY_BOUNDS_INVALID")
	errCaptionTooLong     = tgerr.New(400, "MEDIA_CAPTION_TOO_LONG")
	maxMessageLength      = 4096
	maxCaptionLength      = 1024
)

// sendOpts is one message to deliver.
type sendOpts struct {
	text     string
	entities []tg.MessageEntityClass
	media    *media
	action   tg.MessageActionClass
	replyTo  int // in the sender's box (or the channel)
	topID    int
	silent   bool
	// noWebpage keeps the server from attaching a link preview.
	noWebpage bool
	groupedID int64
	fwdFrom   peerKey
	fwdDate   int
	fwdPost   int
}

// delivery is the outcome of sending: the sender's copy and the pts it
// took in the sender's box (or the channel).
type delivery struct {
	own    *message
	pts    int
	shared *sharedMessage
}

// checkEntities rejects entities outside the text, counting UTF-16 code
// units as Telegram does.
func checkEntities(text string, ents []tg.MessageEntityClass) error {
	n := len(utf16.Encode([]rune(text)))
	for _, e := range ents {
		if e.GetOffset() < 0 || e.GetLength() <= 0 || e.GetOffset()+e.GetLength() > n {
			return errEntityBounds
		}
	}
	return nil
}

// mapCopy finds owner's copy of the message that from's box holds as id.
func mapCopy(from *account, id int, owner int64) int {
	m := from.box.msgs[id]
	if m == nil || m.shared == nil {
		return 0
	}
	if c := m.shared.copies[owner]; c != nil {
		return c.id
	}
	return 0
}

// participants lists who gets a copy of a message in peer p sent by a.
func (st *store) participants(a *account, p peerKey) ([]*account, error) {
	switch p.kind {
	case peerUser:
		b := st.users[p.id]
		if b == nil {
			return nil, errPeerIDInvalid
		}
		if b.id == a.id {
			return []*account{a}, nil
		}
		return []*account{a, b}, nil
	case peerChat:
		c := st.chats[p.id]
		if c == nil {
			return nil, errChatIDInvalid
		}
		if _, ok := c.members[a.id]; !ok || c.migratedTo != 0 {
			return nil, errChatWriteForbid
		}
		out := []*account{a}
		for _, id := range c.order {
			if id != a.id {
				out = append(out, st.users[id])
			}
		}
		return out, nil
	}
	return nil, errPeerIDInvalid
}

// deliver stores a message from a in peer p and pushes it to everyone who
// should see it except the session callerSess (which gets the RPC result).
func (t *tx) deliver(a *account, p peerKey, o sendOpts, callerSess int64) (*delivery, error) {
	st := t.st
	if o.action == nil && o.media == nil && o.text == "" {
		return nil, errMessageEmpty
	}
	n := len(utf16.Encode([]rune(o.text)))
	if o.media != nil && o.media.webpage == nil && n > maxCaptionLength {
		return nil, errCaptionTooLong
	}
	if n > maxMessageLength {
		return nil, errMessageTooLong
	}
	if err := checkEntities(o.text, o.entities); err != nil {
		return nil, err
	}
	o.entities = st.resolveEntities(a.id, o.entities)
	if o.media == nil && o.action == nil && !o.noWebpage {
		if w := st.previewOf(o.text); w != nil {
			o.media = &media{webpage: w}
		}
	}
	if p.kind == peerChannel {
		return t.deliverChannel(a, st.channels[p.id], o, callerSess)
	}
	owners, err := st.participants(a, p)
	if err != nil {
		return nil, err
	}
	shared := &sharedMessage{copies: map[int64]*message{}}
	res := &delivery{shared: shared}
	for _, owner := range owners {
		peer := p
		if p.kind == peerUser && owner.id != a.id {
			peer = userPeer(a.id)
		}
		m := &message{
			peer:      peer,
			from:      a.id,
			date:      t.now,
			text:      o.text,
			entities:  o.entities,
			media:     o.media,
			action:    o.action,
			shared:    shared,
			groupedID: o.groupedID,
			fwdFrom:   o.fwdFrom,
			fwdDate:   o.fwdDate,
			fwdPost:   o.fwdPost,
		}
		if o.replyTo != 0 {
			m.replyTo = mapCopy(a, o.replyTo, owner.id)
		}
		if o.media != nil && o.media.doc != nil && owner.id != a.id && isVoiceOrRound(o.media.doc) {
			m.mediaUnread = true
		}
		if owner.id != a.id && st.mentions(o.text, o.entities, owner) {
			m.mentioned = true
		}
		owner.storeMessage(m)
		shared.copies[owner.id] = m
		if owner.id != a.id {
			owner.dialog(m.peer) // the dialog exists from now on
		}
		ownerID := owner.id
		pts, u := t.addEvent(owner, 1, peersOf(m), true, func(pts int) tg.UpdateClass {
			return &tg.UpdateNewMessage{Message: st.renderMessage(ownerID, m), Pts: pts, PtsCount: 1}
		})
		owner.box.events[len(owner.box.events)-1].msg = m
		except := int64(0)
		if owner.id == a.id {
			except = callerSess
			res.own = m
			res.pts = pts
		} else {
			t.queueIncoming(owner.id, m)
		}
		if short := t.shortMessage(owner.id, m, pts); short != nil {
			t.pushMsg(owner.id, except, short)
			continue
		}
		t.push(owner.id, except, peersOf(m), u)
	}
	return res, nil
}

// shortMessage is Telegram's compact push for a plain text message in a
// DM (updateShortMessage) or basic group (updateShortChatMessage); nil when
// the message needs the full form or Options.FullUpdates is set.
func (t *tx) shortMessage(owner int64, m *message, pts int) tg.UpdatesClass {
	if t.st.srv.opts.FullUpdates || m.media != nil || m.action != nil || m.fwdFrom.id != 0 {
		return nil
	}
	var reply tg.MessageReplyHeaderClass
	if m.replyTo != 0 {
		reply = &tg.MessageReplyHeader{ReplyToMsgID: m.replyTo}
	}
	switch m.peer.kind {
	case peerUser:
		return &tg.UpdateShortMessage{
			Out:         m.from == owner,
			Mentioned:   m.mentioned,
			MediaUnread: m.mediaUnread,
			ID:          m.id,
			UserID:      m.peer.id,
			Message:     m.text,
			Pts:         pts,
			PtsCount:    1,
			Date:        m.date,
			ReplyTo:     reply,
			Entities:    cloneEntities(m.entities),
		}
	case peerChat:
		return &tg.UpdateShortChatMessage{
			Out:       m.from == owner,
			Mentioned: m.mentioned,
			ID:        m.id,
			FromID:    m.from,
			ChatID:    m.peer.id,
			Message:   m.text,
			Pts:       pts,
			PtsCount:  1,
			Date:      m.date,
			ReplyTo:   reply,
			Entities:  cloneEntities(m.entities),
		}
	}
	return nil
}

// resolveEntities turns the client-side inputMessageEntityMentionName into
// messageEntityMentionName, as Telegram stores mentions; mentions of users
// the sender cannot address are dropped.
func (st *store) resolveEntities(viewer int64, ents []tg.MessageEntityClass) []tg.MessageEntityClass {
	out := make([]tg.MessageEntityClass, 0, len(ents))
	for _, e := range ents {
		if in, ok := e.(*tg.InputMessageEntityMentionName); ok {
			u, err := st.inputUser(viewer, in.UserID)
			if err != nil {
				continue
			}
			e = &tg.MessageEntityMentionName{Offset: in.Offset, Length: in.Length, UserID: u.id}
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// mentions tells whether text mentions owner by name entity or @username.
func (st *store) mentions(text string, ents []tg.MessageEntityClass, owner *account) bool {
	units := utf16.Encode([]rune(text))
	for _, e := range ents {
		switch e := e.(type) {
		case *tg.MessageEntityMentionName:
			if e.UserID == owner.id {
				return true
			}
		case *tg.MessageEntityMention:
			if owner.username == "" || e.Offset+e.Length > len(units) {
				continue
			}
			name := string(utf16.Decode(units[e.Offset : e.Offset+e.Length]))
			if strings.EqualFold(strings.TrimPrefix(name, "@"), owner.username) {
				return true
			}
		}
	}
	return false
}

func isVoiceOrRound(d *docFile) bool {
	for _, at := range d.attrs {
		switch at := at.(type) {
		case *tg.DocumentAttributeAudio:
			if at.Voice {
				return true
			}
		case *tg.DocumentAttributeVideo:
			if at.RoundMessage {
				return true
			}
		}
	}
	return false
}

func (t *tx) deliverChannel(a *account, c *channel, o sendOpts, callerSess int64) (*delivery, error) {
	st := t.st
	if c == nil {
		return nil, errChannelInvalid
	}
	mem, ok := c.members[a.id]
	if !ok {
		return nil, errChatWriteForbid
	}
	if c.broadcast && !mem.admin && !mem.creator && o.action == nil {
		return nil, errChatWriteForbid
	}
	m := &message{
		peer:      channelPeer(c.id),
		from:      a.id,
		date:      t.now,
		text:      o.text,
		entities:  o.entities,
		media:     o.media,
		action:    o.action,
		replyTo:   o.replyTo,
		topID:     o.topID,
		post:      c.broadcast && o.action == nil,
		groupedID: o.groupedID,
		fwdFrom:   o.fwdFrom,
		fwdDate:   o.fwdDate,
		fwdPost:   o.fwdPost,
	}
	if m.replyTo != 0 && c.msgs[m.replyTo] == nil {
		m.replyTo = 0
	}
	if c.forum && m.topID == 0 && m.replyTo != 0 {
		m.topID = c.msgs[m.replyTo].topID
	}
	shared := &sharedMessage{copies: map[int64]*message{}}
	m.shared = shared
	c.storeMessage(m)
	shared.copies[0] = m
	pts := t.addChannelEvent(c, 1, peersOf(m), true, func(viewer int64, pts int) tg.UpdateClass {
		return &tg.UpdateNewChannelMessage{Message: st.renderMessage(viewer, m), Pts: pts, PtsCount: 1}
	})
	c.events[len(c.events)-1].msg = m
	for _, id := range c.order {
		except := int64(0)
		if id == a.id {
			except = callerSess
		} else {
			t.queueIncoming(id, m)
		}
		t.push(id, except, peersOf(m), &tg.UpdateNewChannelMessage{Message: st.renderMessage(id, m), Pts: pts, PtsCount: 1})
	}
	return &delivery{own: m, pts: pts, shared: shared}, nil
}

// sentResult is what messages.sendMessage answers the sender: a short
// updateShortSentMessage in DMs and basic groups, full updates in channels
// and for media.
func (t *tx) sentResult(a *account, d *delivery, randomID int64, short bool) tg.UpdatesClass {
	st := t.st
	m := d.own
	if m.peer.kind != peerChannel && short {
		return &tg.UpdateShortSentMessage{
			Out:      true,
			ID:       m.id,
			Pts:      d.pts,
			PtsCount: 1,
			Date:     m.date,
			Entities: cloneEntities(m.entities),
		}
	}
	var nu tg.UpdateClass
	if m.peer.kind == peerChannel {
		nu = &tg.UpdateNewChannelMessage{Message: st.renderMessage(a.id, m), Pts: d.pts, PtsCount: 1}
	} else {
		nu = &tg.UpdateNewMessage{Message: st.renderMessage(a.id, m), Pts: d.pts, PtsCount: 1}
	}
	users, chats := st.entities(a.id, peersOf(m))
	return &tg.Updates{
		Updates: []tg.UpdateClass{&tg.UpdateMessageID{ID: m.id, RandomID: randomID}, nu},
		Users:   users,
		Chats:   chats,
		Date:    t.now,
	}
}

// copiesOf lists the live copies (owner → message) of the message a sees
// as id in peer p; for channels the single copy under owner 0.
func (st *store) copiesOf(a *account, p peerKey, id int) (*message, error) {
	if p.kind == peerChannel {
		c := st.channels[p.id]
		if c == nil {
			return nil, errChannelInvalid
		}
		m := c.msgs[id]
		if m == nil || m.deleted {
			return nil, errMessageIDInvalid
		}
		return m, nil
	}
	m := a.box.msgs[id]
	if m == nil || m.deleted || m.peer != p {
		return nil, errMessageIDInvalid
	}
	return m, nil
}

// edit changes a message's text (and media) in every copy and pushes
// updateEditMessage / updateEditChannelMessage.
func (t *tx) edit(a *account, p peerKey, id int, text *string, ents []tg.MessageEntityClass, med *media, callerSess int64) (tg.UpdatesClass, error) {
	st := t.st
	m, err := st.copiesOf(a, p, id)
	if err != nil {
		return nil, err
	}
	if m.from != a.id || m.action != nil {
		return nil, errAuthorRequired
	}
	newText := m.text
	if text != nil {
		newText = *text
	}
	if err := checkEntities(newText, ents); err != nil {
		return nil, err
	}
	ents = st.resolveEntities(a.id, ents)
	if med != nil && med.live != nil {
		if med, err = t.mergeLive(m, med.live); err != nil {
			return nil, err
		}
		if text == nil {
			ents = m.entities
		}
	}
	if newText == m.text && med == nil && entitiesEqual(ents, m.entities) {
		return nil, errMessageNotModified
	}
	var result []tg.UpdateClass
	for owner, c := range m.shared.copies {
		c.text = newText
		c.entities = ents
		if med != nil {
			c.media = med
		}
		c.editDate = t.now
		if p.kind == peerChannel {
			ch := st.channels[p.id]
			pts := t.addChannelEvent(ch, 1, peersOf(c), false, func(viewer int64, pts int) tg.UpdateClass {
				return &tg.UpdateEditChannelMessage{Message: st.renderMessage(viewer, c), Pts: pts, PtsCount: 1}
			})
			for _, uid := range ch.order {
				u := &tg.UpdateEditChannelMessage{Message: st.renderMessage(uid, c), Pts: pts, PtsCount: 1}
				if uid == a.id {
					result = append(result, &tg.UpdateEditChannelMessage{Message: st.renderMessage(uid, c), Pts: pts, PtsCount: 1})
					t.push(uid, callerSess, peersOf(c), u)
				} else {
					t.push(uid, 0, peersOf(c), u)
				}
			}
			continue
		}
		o := st.users[owner]
		_, u := t.addEvent(o, 1, peersOf(c), false, func(pts int) tg.UpdateClass {
			return &tg.UpdateEditMessage{Message: st.renderMessage(o.id, c), Pts: pts, PtsCount: 1}
		})
		if owner == a.id {
			result = append(result, &tg.UpdateEditMessage{Message: st.renderMessage(o.id, c), Pts: o.box.pts, PtsCount: 1})
			t.push(owner, callerSess, peersOf(c), u)
		} else {
			t.push(owner, 0, peersOf(c), u)
		}
	}
	users, chats := st.entities(a.id, peersOf(m))
	return &tg.Updates{Updates: result, Users: users, Chats: chats, Date: t.now}, nil
}

func entitiesEqual(a, b []tg.MessageEntityClass) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}

// deleteCommon deletes messages of a's box (and, with revoke, the other
// participants' copies); each box gets updateDeleteMessages with IDs only.
func (t *tx) deleteCommon(a *account, ids []int, revoke bool, callerSess int64) tg.MessagesAffectedMessages {
	perOwner := map[int64][]int{}
	for _, id := range ids {
		m := a.box.msgs[id]
		if m == nil || m.deleted {
			continue
		}
		targets := map[int64]*message{a.id: m}
		if revoke && m.shared != nil {
			for owner, c := range m.shared.copies {
				targets[owner] = c
			}
		}
		for owner, c := range targets {
			if c.deleted {
				continue
			}
			c.deleted = true
			perOwner[owner] = append(perOwner[owner], c.id)
		}
	}
	out := tg.MessagesAffectedMessages{Pts: a.box.pts}
	for owner, list := range perOwner {
		o := t.st.users[owner]
		pts, u := t.addEvent(o, len(list), nil, false, func(pts int) tg.UpdateClass {
			return &tg.UpdateDeleteMessages{Messages: list, Pts: pts, PtsCount: len(list)}
		})
		except := int64(0)
		if owner == a.id {
			except = callerSess
			out = tg.MessagesAffectedMessages{Pts: pts, PtsCount: len(list)}
		}
		t.push(owner, except, nil, u)
	}
	return out
}

// deleteChannel deletes channel messages (for everyone).
func (t *tx) deleteChannel(a *account, c *channel, ids []int, callerSess int64) (tg.MessagesAffectedMessages, error) {
	mem, ok := c.members[a.id]
	if !ok {
		return tg.MessagesAffectedMessages{}, errChannelPrivate
	}
	var list []int
	for _, id := range ids {
		m := c.msgs[id]
		if m == nil || m.deleted {
			continue
		}
		if m.from != a.id && !mem.admin && !mem.creator {
			return tg.MessagesAffectedMessages{}, tgerr.New(403, "MESSAGE_DELETE_FORBIDDEN")
		}
		m.deleted = true
		list = append(list, id)
	}
	if len(list) == 0 {
		return tg.MessagesAffectedMessages{Pts: c.pts}, nil
	}
	pts := t.addChannelEvent(c, len(list), nil, false, func(_ int64, pts int) tg.UpdateClass {
		return &tg.UpdateDeleteChannelMessages{ChannelID: c.id, Messages: list, Pts: pts, PtsCount: len(list)}
	})
	for _, uid := range c.order {
		except := int64(0)
		if uid == a.id {
			except = callerSess
		}
		t.push(uid, except, []peerKey{channelPeer(c.id)}, &tg.UpdateDeleteChannelMessages{ChannelID: c.id, Messages: list, Pts: pts, PtsCount: len(list)})
	}
	return tg.MessagesAffectedMessages{Pts: pts, PtsCount: len(list)}, nil
}

// react sets (emoticon != "") or clears a's reaction and pushes
// updateMessageReactions to everyone who has the message.
func (t *tx) react(a *account, p peerKey, id int, emoticon string, callerSess int64) (tg.UpdatesClass, error) {
	st := t.st
	m, err := st.copiesOf(a, p, id)
	if err != nil {
		return nil, err
	}
	if s := st.settingsOf(p); s != nil && !s.allows(emoticon) {
		return nil, errReactionInvalid
	}
	sh := m.shared
	kept := sh.reactions[:0]
	for _, r := range sh.reactions {
		if r.user != a.id {
			kept = append(kept, r)
		}
	}
	sh.reactions = kept
	if emoticon != "" {
		sh.reactions = append(sh.reactions, reactionEntry{user: a.id, emoticon: emoticon, date: t.now})
	}
	var result tg.UpdateClass
	if p.kind == peerChannel {
		c := st.channels[p.id]
		for _, uid := range c.order {
			u := &tg.UpdateMessageReactions{Peer: m.peer.tg(), MsgID: m.id, Reactions: st.renderReactions(uid, m)}
			except := int64(0)
			if uid == a.id {
				result = &tg.UpdateMessageReactions{Peer: m.peer.tg(), MsgID: m.id, Reactions: st.renderReactions(uid, m)}
				except = callerSess
			}
			t.push(uid, except, []peerKey{m.peer}, u)
		}
	} else {
		for owner, c := range sh.copies {
			if c.deleted {
				continue
			}
			u := &tg.UpdateMessageReactions{Peer: c.peer.tg(), MsgID: c.id, Reactions: st.renderReactions(owner, c)}
			except := int64(0)
			if owner == a.id {
				result = &tg.UpdateMessageReactions{Peer: c.peer.tg(), MsgID: c.id, Reactions: st.renderReactions(owner, c)}
				except = callerSess
			}
			t.push(owner, except, []peerKey{c.peer, userPeer(a.id)}, u)
		}
	}
	users, chats := st.entities(a.id, []peerKey{m.peer, userPeer(a.id)})
	ups := []tg.UpdateClass{}
	if result != nil {
		ups = append(ups, result)
	}
	return &tg.Updates{Updates: ups, Users: users, Chats: chats, Date: t.now}, nil
}

// readHistory marks a's inbox read up to maxID and tells the senders with
// updateReadHistoryOutbox (or updateReadChannelOutbox).
func (t *tx) readHistory(a *account, p peerKey, maxID int, callerSess int64) (tg.MessagesAffectedMessages, error) {
	st := t.st
	if p.kind == peerChannel {
		c := st.channels[p.id]
		if _, ok := c.members[a.id]; !ok {
			return tg.MessagesAffectedMessages{}, errChannelPrivate
		}
		if maxID <= 0 || maxID > c.nextID {
			maxID = c.nextID
		}
		if maxID <= c.readInbox[a.id] {
			return tg.MessagesAffectedMessages{Pts: c.pts}, nil
		}
		c.readInbox[a.id] = maxID
		t.push(a.id, callerSess, []peerKey{p}, &tg.UpdateReadChannelInbox{ChannelID: c.id, MaxID: maxID, StillUnreadCount: st.channelUnread(c, a.id), Pts: c.pts})
		if maxID > c.readOutbox {
			c.readOutbox = maxID
			authors := map[int64]bool{}
			for id, m := range c.msgs {
				if id <= maxID && m.from != a.id {
					authors[m.from] = true
				}
			}
			for uid := range authors {
				if _, ok := c.members[uid]; ok {
					t.push(uid, 0, []peerKey{p}, &tg.UpdateReadChannelOutbox{ChannelID: c.id, MaxID: maxID})
				}
			}
		}
		return tg.MessagesAffectedMessages{Pts: c.pts}, nil
	}
	d := a.dialog(p)
	top := 0
	for id, m := range a.box.msgs {
		if m.peer == p && id > top {
			top = id
		}
	}
	if maxID <= 0 || maxID > top {
		maxID = top
	}
	if maxID <= d.readInbox {
		return tg.MessagesAffectedMessages{Pts: a.box.pts}, nil
	}
	d.readInbox = maxID
	unread := 0
	for id, m := range a.box.msgs {
		if m.peer == p && id > maxID && m.from != a.id && !m.deleted {
			unread++
		}
	}
	pts, u := t.addEvent(a, 1, []peerKey{p}, false, func(pts int) tg.UpdateClass {
		return &tg.UpdateReadHistoryInbox{Peer: p.tg(), MaxID: maxID, StillUnreadCount: unread, Pts: pts, PtsCount: 1}
	})
	t.push(a.id, callerSess, []peerKey{p}, u)
	// Outbox receipts: each sender's highest own copy now read.
	readUpTo := map[int64]int{}
	for id, m := range a.box.msgs {
		if m.peer != p || id > maxID || m.from == a.id || m.shared == nil {
			continue
		}
		if c := m.shared.copies[m.from]; c != nil && c.id > readUpTo[m.from] {
			readUpTo[m.from] = c.id
		}
	}
	for uid, upTo := range readUpTo {
		o := st.users[uid]
		if o == nil {
			continue
		}
		peer := p
		if p.kind == peerUser {
			peer = userPeer(a.id)
		}
		od := o.dialog(peer)
		if upTo <= od.readOutbox {
			continue
		}
		od.readOutbox = upTo
		_, ou := t.addEvent(o, 1, []peerKey{peer}, false, func(pts int) tg.UpdateClass {
			return &tg.UpdateReadHistoryOutbox{Peer: peer.tg(), MaxID: upTo, Pts: pts, PtsCount: 1}
		})
		t.push(uid, 0, []peerKey{peer, userPeer(a.id)}, ou)
	}
	return tg.MessagesAffectedMessages{Pts: pts, PtsCount: 1}, nil
}

func (st *store) channelUnread(c *channel, uid int64) int {
	n := 0
	for id, m := range c.msgs {
		if id > c.readInbox[uid] && !m.deleted && m.from != uid {
			n++
		}
	}
	return n
}

// typing pushes a chat action of a in p to the other participants.
func (t *tx) typing(a *account, p peerKey, topID int, action tg.SendMessageActionClass) error {
	st := t.st
	if err := st.checkPeer(p); err != nil {
		return err
	}
	st.typingLog = append(st.typingLog, TypingEvent{From: a.id, Peer: fromKey(p), TopicID: topID, Action: action, Date: t.now})
	if len(st.typingLog) > 1000 {
		st.typingLog = st.typingLog[len(st.typingLog)-1000:]
	}
	switch p.kind {
	case peerUser:
		if st.users[p.id] == nil {
			return errPeerIDInvalid
		}
		if p.id != a.id {
			t.push(p.id, 0, []peerKey{userPeer(a.id)}, &tg.UpdateUserTyping{UserID: a.id, TopMsgID: topID, Action: action})
		}
	case peerChat:
		c := st.chats[p.id]
		if c == nil {
			return errChatIDInvalid
		}
		for _, uid := range c.order {
			if uid != a.id {
				t.push(uid, 0, []peerKey{p, userPeer(a.id)}, &tg.UpdateChatUserTyping{ChatID: c.id, FromID: userPeer(a.id).tg(), Action: action})
			}
		}
	case peerChannel:
		c := st.channels[p.id]
		if c == nil {
			return errChannelInvalid
		}
		for _, uid := range c.order {
			if uid != a.id {
				t.push(uid, 0, []peerKey{p, userPeer(a.id)}, &tg.UpdateChannelUserTyping{ChannelID: c.id, TopMsgID: topID, FromID: userPeer(a.id).tg(), Action: action})
			}
		}
	}
	return nil
}
