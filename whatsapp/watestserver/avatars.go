package watestserver

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// avatar is a profile or group picture: served unencrypted from the media host, like WhatsApp's.
type avatar struct {
	id   string
	key  string
	hash []byte
}

// SetAvatar sets the profile picture of an account (user JID) or a group (group JID), as its phone
// would, and notifies every device (events.Picture; kept for offline devices). nil data removes it.
func (srv *Server) SetAvatar(jid types.JID, data []byte) (string, error) {
	srv.mu.Lock()
	id, sends, err := srv.setAvatarLocked(jid, data, types.EmptyJID)
	srv.mu.Unlock()
	runAll(sends)
	return id, err
}

// setAvatarLocked stores or removes a picture and prepares the picture notifications.
func (srv *Server) setAvatarLocked(jid types.JID, data []byte, author types.JID) (string, []func(), error) {
	if srv.avatars == nil {
		srv.avatars = map[string]*avatar{}
	}
	target := jid.ToNonAD()
	switch target.Server {
	case types.DefaultUserServer, types.HiddenUserServer:
		acct := srv.accountOfLocked(target)
		if acct == nil {
			return "", nil, fmt.Errorf("set avatar of %s: account not registered", jid)
		}
		target = acct.jid()
	case types.GroupServer:
		if srv.groups[target.User] == nil {
			return "", nil, fmt.Errorf("set avatar of %s: no such group", jid)
		}
	default:
		return "", nil, fmt.Errorf("set avatar of %s: not a user or group JID", jid)
	}
	var change waBinary.Node
	var id string
	if data == nil {
		delete(srv.avatars, target.String())
		change = waBinary.Node{Tag: "delete", Attrs: waBinary.Attrs{"jid": target}}
	} else {
		sum := sha256.Sum256(data)
		key := randomString(32)
		srv.media[key] = &mediaBlob{data: append([]byte(nil), data...), mmsType: "image"}
		srv.idCounter++
		id = strconv.FormatInt(time.Now().Unix(), 10) + strconv.FormatUint(srv.idCounter, 10)
		srv.avatars[target.String()] = &avatar{id: id, key: key, hash: sum[:]}
		change = waBinary.Node{Tag: "set", Attrs: waBinary.Attrs{"jid": target, "id": id}}
	}
	if !author.IsEmpty() {
		change.Attrs["author"] = author
	}
	notifID := srv.nextIDLocked()
	node := waBinary.Node{
		Tag:     "notification",
		Attrs:   waBinary.Attrs{"type": "picture", "from": target, "id": notifID, "t": time.Now().Unix()},
		Content: []waBinary.Node{change},
	}
	var sends []func()
	for _, acct := range srv.accounts {
		for _, dev := range acct.devices {
			sends = append(sends, srv.enqueueLocked(dev, &queued{node: node, class: "notification", id: notifID, typ: "picture", from: target}))
		}
	}
	return id, sends, nil
}

// handleSetPicture lets a device set its own account's picture or, as a group admin (or any
// member of an unlocked group), a group's picture.
func (srv *Server) handleSetPicture(c *conn, node *waBinary.Node) {
	target, ok := node.Attrs["target"].(types.JID)
	if !ok {
		target = c.device.acct.jid()
	}
	var data []byte
	if pic, ok := node.GetOptionalChildByTag("picture"); ok {
		data, _ = pic.Content.([]byte)
		if len(data) == 0 {
			srv.replyIQError(c, node, 406, "not-acceptable")
			return
		}
	}
	srv.mu.Lock()
	me := c.device.acct
	allowed := false
	if target.Server == types.GroupServer {
		g := srv.groups[target.User]
		allowed = g != nil && g.hasMember(me.phone) && (!g.locked || g.isAdmin(me.phone))
	} else {
		allowed = srv.accountOfLocked(target) == me
	}
	if !allowed {
		srv.mu.Unlock()
		srv.replyIQError(c, node, 401, "not-authorized")
		return
	}
	id, sends, err := srv.setAvatarLocked(target, data, me.jid())
	srv.mu.Unlock()
	if err != nil {
		srv.replyIQError(c, node, 404, "item-not-found")
		return
	}
	if data == nil {
		srv.replyIQ(c, node, nil)
	} else {
		srv.replyIQ(c, node, []waBinary.Node{{Tag: "picture", Attrs: waBinary.Attrs{"id": id}}})
	}
	runAll(sends)
}

// handlePictureIQ answers profile picture URL queries (xmlns w:profile:picture).
func (srv *Server) handlePictureIQ(c *conn, node *waBinary.Node) {
	target, _ := node.Attrs["target"].(types.JID)
	pic, ok := node.GetOptionalChildByTag("picture")
	if !ok {
		srv.replyIQError(c, node, 400, "bad-request")
		return
	}
	existing, _ := pic.Attrs["id"].(string)
	srv.mu.Lock()
	if acct := srv.accountOfLocked(target.ToNonAD()); acct != nil {
		target = acct.jid()
	}
	av := srv.avatars[target.ToNonAD().String()]
	srv.mu.Unlock()
	if av == nil {
		srv.replyIQError(c, node, 404, "item-not-found")
		return
	}
	if existing == av.id {
		srv.replyIQ(c, node, []waBinary.Node{{Tag: "picture", Attrs: waBinary.Attrs{"status": 304}}})
		return
	}
	directPath := "/v/t61.24694-24/" + av.key + "?ccb=11-4&oh=test&oe=test"
	srv.replyIQ(c, node, []waBinary.Node{{Tag: "picture", Attrs: waBinary.Attrs{
		"id":          av.id,
		"type":        "image",
		"url":         "https://" + MediaHost + directPath,
		"direct_path": directPath,
		"hash":        base64.StdEncoding.EncodeToString(av.hash),
	}}})
}
