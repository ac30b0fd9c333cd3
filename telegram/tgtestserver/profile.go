package tgtestserver

import (
	"context"
	"strings"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// audience lists the accounts that see userID: itself, its contacts, those
// who added it, DM partners and members of shared groups and channels.
func (st *store) audience(userID int64) []int64 {
	seen := map[int64]bool{userID: true}
	for id, a := range st.users {
		if a.contacts[userID] {
			seen[id] = true
		}
		if _, ok := a.dialogs[userPeer(userID)]; ok {
			seen[id] = true
		}
	}
	if a := st.users[userID]; a != nil {
		for p := range a.dialogs {
			if p.kind == peerUser {
				seen[p.id] = true
			}
		}
		for id := range a.contacts {
			seen[id] = true
		}
	}
	for _, c := range st.chats {
		if _, ok := c.members[userID]; ok {
			for id := range c.members {
				seen[id] = true
			}
		}
	}
	for _, c := range st.channels {
		if _, ok := c.members[userID]; ok && !c.broadcast {
			for id := range c.members {
				seen[id] = true
			}
		}
	}
	out := make([]int64, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	return out
}

// SetName renames the account; everyone who sees it gets updateUserName.
func (a *Actor) SetName(first, last string) error {
	if strings.TrimSpace(first) == "" {
		return errf("SetName: first name is empty")
	}
	err := a.with(func(t *tx, me *account) error {
		me.first, me.last = first, last
		for _, uid := range t.st.audience(me.id) {
			u := &tg.UpdateUserName{UserID: me.id, FirstName: first, LastName: last}
			if me.username != "" {
				u.Usernames = []tg.Username{{Username: me.username, Active: true, Editable: true}}
			}
			t.push(uid, 0, []peerKey{userPeer(me.id)}, u)
		}
		return nil
	})
	return describe("set name", err)
}

// SetPhoto changes the account's profile photo (JPEG/PNG; nil removes it);
// everyone who sees it gets updateUser with the new user object.
func (a *Actor) SetPhoto(image []byte) error {
	err := a.with(func(t *tx, me *account) error {
		if len(image) == 0 {
			me.photo = nil
		} else {
			p, err := t.st.newPhoto(image)
			if err != nil {
				return err
			}
			me.photo = p
		}
		for _, uid := range t.st.audience(me.id) {
			t.push(uid, 0, []peerKey{userPeer(me.id)}, &tg.UpdateUser{UserID: me.id})
		}
		return nil
	})
	return describe("set photo", err)
}

// setChatPhoto changes a group's or channel's photo with the service
// message Telegram posts for it.
func (t *tx) setChatPhoto(a *account, p peerKey, ph *photoFile, callerSess int64) (*delivery, error) {
	var action tg.MessageActionClass = &tg.MessageActionChatDeletePhoto{}
	if ph != nil {
		action = &tg.MessageActionChatEditPhoto{Photo: t.st.renderPhoto(ph)}
	}
	switch p.kind {
	case peerChat:
		c := t.st.chats[p.id]
		if c == nil {
			return nil, errChatIDInvalid
		}
		if _, ok := c.members[a.id]; !ok {
			return nil, errChatWriteForbid
		}
		c.photo = ph
		return t.deliver(a, p, sendOpts{action: action}, callerSess)
	case peerChannel:
		c := t.st.channels[p.id]
		if c == nil {
			return nil, errChannelInvalid
		}
		mem, ok := c.members[a.id]
		if !ok || (!mem.admin && !mem.creator) {
			return nil, errChatAdminReq
		}
		c.photo = ph
		return t.deliverChannel(a, c, sendOpts{action: action}, callerSess)
	}
	return nil, errPeerIDInvalid
}

// SetGroupPhoto changes a group's or channel's photo (nil removes it).
func (a *Actor) SetGroupPhoto(p Peer, image []byte) error {
	err := a.with(func(t *tx, me *account) error {
		var ph *photoFile
		if len(image) > 0 {
			var err error
			if ph, err = t.st.newPhoto(image); err != nil {
				return err
			}
		}
		_, err := t.setChatPhoto(me, p.key(), ph, 0)
		return err
	})
	return describe("set group photo", err)
}

// pin pins (or unpins) a message: updatePinnedMessages in each box, or
// updatePinnedChannelMessages with channel pts.
func (t *tx) pin(a *account, p peerKey, id int, unpin bool, callerSess int64) (tg.UpdatesClass, error) {
	st := t.st
	m, err := st.copiesOf(a, p, id)
	if err != nil {
		return nil, err
	}
	var result []tg.UpdateClass
	if p.kind == peerChannel {
		c := st.channels[p.id]
		ids := []int{m.id}
		pts := t.addChannelEvent(c, 1, []peerKey{p}, false, func(_ int64, pts int) tg.UpdateClass {
			return &tg.UpdatePinnedChannelMessages{Pinned: !unpin, ChannelID: c.id, Messages: ids, Pts: pts, PtsCount: 1}
		})
		for _, uid := range c.order {
			except := int64(0)
			if uid == a.id {
				except = callerSess
				result = append(result, &tg.UpdatePinnedChannelMessages{Pinned: !unpin, ChannelID: c.id, Messages: []int{m.id}, Pts: pts, PtsCount: 1})
			}
			t.push(uid, except, []peerKey{p}, &tg.UpdatePinnedChannelMessages{Pinned: !unpin, ChannelID: c.id, Messages: []int{m.id}, Pts: pts, PtsCount: 1})
		}
	} else {
		for owner, c := range m.shared.copies {
			if c.deleted {
				continue
			}
			o := st.users[owner]
			peer, cid := c.peer, c.id
			pts, u := t.addEvent(o, 1, []peerKey{peer}, false, func(pts int) tg.UpdateClass {
				return &tg.UpdatePinnedMessages{Pinned: !unpin, Peer: peer.tg(), Messages: []int{cid}, Pts: pts, PtsCount: 1}
			})
			except := int64(0)
			if owner == a.id {
				except = callerSess
				result = append(result, &tg.UpdatePinnedMessages{Pinned: !unpin, Peer: peer.tg(), Messages: []int{cid}, Pts: pts, PtsCount: 1})
			}
			t.push(owner, except, []peerKey{peer}, u)
		}
	}
	users, chats := st.entities(a.id, []peerKey{p, userPeer(a.id)})
	return &tg.Updates{Updates: result, Users: users, Chats: chats, Date: t.now}, nil
}

// Pin pins message id (in the actor's box or the channel) in p.
func (a *Actor) Pin(p Peer, id int) error {
	err := a.with(func(t *tx, me *account) error {
		_, err := t.pin(me, p.key(), id, false, 0)
		return err
	})
	return describe("pin", err)
}

func (s *Server) registerProfile(d *tg.ServerDispatcher) {
	st := s.state
	chatPhoto := func(ctx context.Context, a *account, in tg.InputChatPhotoClass) (*photoFile, error) {
		switch p := in.(type) {
		case *tg.InputChatPhotoEmpty:
			return nil, nil
		case *tg.InputChatUploadedPhoto:
			data, _, err := st.assemble(callerFrom(ctx).keyID, p.File)
			if err != nil {
				return nil, err
			}
			ph, err := st.newPhoto(data)
			if err != nil {
				return nil, tgerr.New(400, "IMAGE_PROCESS_FAILED")
			}
			return ph, nil
		case *tg.InputChatPhoto:
			ip, ok := p.ID.(*tg.InputPhoto)
			if !ok || st.photos[ip.ID] == nil || st.photos[ip.ID].accessHash != ip.AccessHash {
				return nil, tgerr.New(400, "PHOTO_INVALID")
			}
			return st.photos[ip.ID], nil
		}
		return nil, tgerr.New(400, "PHOTO_INVALID")
	}
	edit := func(ctx context.Context, p func(a *account) (peerKey, error), in tg.InputChatPhotoClass) (tg.UpdatesClass, error) {
		var out tg.UpdatesClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			pk, err := p(a)
			if err != nil {
				return err
			}
			ph, err := chatPhoto(ctx, a, in)
			if err != nil {
				return err
			}
			dl, err := t.setChatPhoto(a, pk, ph, callerFrom(ctx).sess.ID)
			if err != nil {
				return err
			}
			out = t.serviceResult(a, dl)
			return nil
		})
		return out, err
	}
	d.OnMessagesEditChatPhoto(func(ctx context.Context, req *tg.MessagesEditChatPhotoRequest) (tg.UpdatesClass, error) {
		return edit(ctx, func(*account) (peerKey, error) {
			if st.chats[req.ChatID] == nil {
				return peerKey{}, errChatIDInvalid
			}
			return chatPeer(req.ChatID), nil
		}, req.Photo)
	})
	d.OnChannelsEditPhoto(func(ctx context.Context, req *tg.ChannelsEditPhotoRequest) (tg.UpdatesClass, error) {
		return edit(ctx, func(a *account) (peerKey, error) {
			c, err := st.inputChannel(a.id, req.Channel)
			if err != nil {
				return peerKey{}, err
			}
			return channelPeer(c.id), nil
		}, req.Photo)
	})
	d.OnMessagesUpdatePinnedMessage(func(ctx context.Context, req *tg.MessagesUpdatePinnedMessageRequest) (tg.UpdatesClass, error) {
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
			out, err = t.pin(a, p, req.ID, req.Unpin, callerFrom(ctx).sess.ID)
			return err
		})
		return out, err
	})
	d.OnAccountUpdateStatus(func(ctx context.Context, offline bool) (bool, error) {
		return true, nil
	})
	d.OnAccountUpdateProfile(func(ctx context.Context, req *tg.AccountUpdateProfileRequest) (tg.UserClass, error) {
		var out tg.UserClass
		err := st.do(func(t *tx) error {
			a, err := st.self(ctx)
			if err != nil {
				return err
			}
			if v, ok := req.GetFirstName(); ok {
				if strings.TrimSpace(v) == "" {
					return errFirstNameInvalid
				}
				a.first = v
			}
			if v, ok := req.GetLastName(); ok {
				a.last = v
			}
			if v, ok := req.GetAbout(); ok {
				a.about = v
			}
			for _, uid := range st.audience(a.id) {
				except := int64(0)
				if uid == a.id {
					except = callerFrom(ctx).sess.ID
				}
				t.push(uid, except, []peerKey{userPeer(a.id)}, &tg.UpdateUserName{UserID: a.id, FirstName: a.first, LastName: a.last})
			}
			out = st.renderUser(a.id, a.id)
			return nil
		})
		return out, err
	})
}
