package watestserver

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

func (srv *Server) replyIQ(c *conn, req *waBinary.Node, content []waBinary.Node) {
	node := waBinary.Node{Tag: "iq", Attrs: waBinary.Attrs{"id": req.Attrs["id"], "type": "result", "from": types.ServerJID}}
	if to, ok := req.Attrs["to"]; ok {
		node.Attrs["from"] = to
	}
	if content != nil {
		node.Content = content
	}
	if err := c.send(node); err != nil {
		c.log.Debug().Err(err).Msg("Failed to answer iq")
	}
}

func (srv *Server) replyIQError(c *conn, req *waBinary.Node, code int, text string) {
	node := waBinary.Node{
		Tag:     "iq",
		Attrs:   waBinary.Attrs{"id": req.Attrs["id"], "type": "error", "from": types.ServerJID},
		Content: []waBinary.Node{{Tag: "error", Attrs: waBinary.Attrs{"code": code, "text": text}}},
	}
	if err := c.send(node); err != nil {
		c.log.Debug().Err(err).Msg("Failed to answer iq")
	}
}

// handleIQ answers the info queries of a logged-in device.
func (srv *Server) handleIQ(c *conn, node *waBinary.Node) {
	xmlns, _ := node.Attrs["xmlns"].(string)
	typ, _ := node.Attrs["type"].(string)
	switch {
	case xmlns == "w:p":
		srv.replyIQ(c, node, nil)
	case xmlns == "passive":
		srv.handlePassive(c, node)
	case xmlns == "encrypt" && typ == "get":
		if _, ok := node.GetOptionalChildByTag("count"); ok {
			srv.mu.Lock()
			n := len(c.device.preKeys)
			srv.mu.Unlock()
			srv.replyIQ(c, node, []waBinary.Node{{Tag: "count", Attrs: waBinary.Attrs{"value": n}}})
		} else if keyNode, ok := node.GetOptionalChildByTag("key"); ok {
			srv.handleKeyFetch(c, node, &keyNode)
		} else {
			srv.replyIQError(c, node, 400, "bad-request")
		}
	case xmlns == "encrypt" && typ == "set":
		srv.handlePreKeyUpload(c, node)
	case xmlns == "usync":
		srv.handleUsync(c, node)
	case xmlns == "w:m":
		srv.handleMediaConn(c, node)
	case xmlns == "privacy" && typ == "get":
		var cats []waBinary.Node
		for _, name := range []string{"last", "online", "profile", "status", "groupadd", "readreceipts", "calladd"} {
			cats = append(cats, waBinary.Node{Tag: "category", Attrs: waBinary.Attrs{"name": name, "value": "all"}})
		}
		srv.replyIQ(c, node, []waBinary.Node{{Tag: "privacy", Content: cats}})
	case xmlns == "w:sync:app:state" && typ == "set":
		srv.handleAppStateIQ(c, node)
	case xmlns == "md" && typ == "set":
		srv.handleRemoveCompanion(c, node)
	case xmlns == "w:profile:picture" && typ == "get":
		srv.handlePictureIQ(c, node)
	case xmlns == "w:profile:picture" && typ == "set":
		srv.handleSetPicture(c, node)
	case xmlns == "w:g2":
		srv.handleGroupIQ(c, node)
	case xmlns == "status" && typ == "get":
		// Status privacy: statuses go to the poster's contacts (whatsmeow then reads its own
		// contact store for the audience).
		srv.replyIQ(c, node, []waBinary.Node{{Tag: "privacy", Content: []waBinary.Node{{
			Tag: "list", Attrs: waBinary.Attrs{"type": string(types.StatusPrivacyTypeContacts), "default": "true"},
		}}}})
	case xmlns == "w:mex" && typ == "get":
		srv.handleMex(c, node)
	case xmlns == "status" && typ == "set":
		if st, ok := node.GetOptionalChildByTag("status"); ok {
			srv.mu.Lock()
			c.device.acct.status = contentString(st.Content)
			srv.mu.Unlock()
		}
		srv.replyIQ(c, node, nil)
	default:
		c.log.Debug().Str("xmlns", xmlns).Str("type", typ).Msg("Unsupported iq")
		srv.replyIQError(c, node, 501, "feature-not-implemented")
	}
}

// handlePassive marks a device active: from then on it gets stanzas, starting with its offline
// queue, which ends with <ib><offline/></ib> as on WhatsApp.
func (srv *Server) handlePassive(c *conn, node *waBinary.Node) {
	_, active := node.GetOptionalChildByTag("active")
	if !active {
		srv.mu.Lock()
		c.device.active = false
		srv.mu.Unlock()
		srv.replyIQ(c, node, nil)
		return
	}
	// Active before the answer: whatsmeow reports Connected on the answer, and whatever is
	// sent from then on (including live-only stanzas like calls and typing) must reach it.
	srv.mu.Lock()
	current := c.device.conn == c
	pending := make([]waBinary.Node, 0, len(c.device.queue))
	if current {
		c.device.active = true
		for _, q := range c.device.queue {
			pending = append(pending, q.node)
		}
	}
	srv.mu.Unlock()
	srv.replyIQ(c, node, nil)
	if !current {
		return
	}
	for _, n := range pending {
		if err := c.send(n); err != nil {
			return
		}
	}
	_ = c.send(waBinary.Node{Tag: "ib", Attrs: waBinary.Attrs{"from": types.ServerJID}, Content: []waBinary.Node{{
		Tag: "offline", Attrs: waBinary.Attrs{"count": len(pending)},
	}}})
}

func parsePreKey(node waBinary.Node, signed bool) (preKey, error) {
	id, _ := node.GetChildByTag("id").Content.([]byte)
	value, _ := node.GetChildByTag("value").Content.([]byte)
	if len(id) != 3 || len(value) != 32 {
		return preKey{}, fmt.Errorf("%s: want a 3-byte id and a 32-byte value", node.Tag)
	}
	pk := preKey{id: binary.BigEndian.Uint32(append([]byte{0}, id...)), pub: value}
	if signed {
		sig, _ := node.GetChildByTag("signature").Content.([]byte)
		if len(sig) != 64 {
			return preKey{}, fmt.Errorf("%s: want a 64-byte signature", node.Tag)
		}
		pk.sig = sig
	}
	return pk, nil
}

func (srv *Server) handlePreKeyUpload(c *conn, node *waBinary.Node) {
	identity, _ := node.GetChildByTag("identity").Content.([]byte)
	reg, _ := node.GetChildByTag("registration").Content.([]byte)
	if len(identity) != 32 || len(reg) != 4 {
		srv.replyIQError(c, node, 400, "bad-request")
		return
	}
	var uploaded []preKey
	list := node.GetChildByTag("list")
	for _, child := range list.GetChildren() {
		pk, err := parsePreKey(child, false)
		if err != nil {
			srv.replyIQError(c, node, 400, "bad-request")
			return
		}
		uploaded = append(uploaded, pk)
	}
	skey, err := parsePreKey(node.GetChildByTag("skey"), true)
	if err != nil {
		srv.replyIQError(c, node, 400, "bad-request")
		return
	}
	srv.mu.Lock()
	dev := c.device
	if [32]byte(identity) != dev.identity {
		srv.mu.Unlock()
		srv.replyIQError(c, node, 409, "conflict")
		return
	}
	dev.regID = binary.BigEndian.Uint32(reg)
	dev.signedPreKey = skey
	dev.preKeys = append(dev.preKeys, uploaded...)
	srv.mu.Unlock()
	srv.replyIQ(c, node, nil)
}

func preKeyNode(tag string, pk preKey) waBinary.Node {
	var id [4]byte
	binary.BigEndian.PutUint32(id[:], pk.id)
	children := []waBinary.Node{{Tag: "id", Content: id[1:]}, {Tag: "value", Content: pk.pub}}
	if pk.sig != nil {
		children = append(children, waBinary.Node{Tag: "signature", Content: pk.sig})
	}
	return waBinary.Node{Tag: tag, Content: children}
}

// handleKeyFetch hands out prekey bundles, one one-time prekey per request, as the server does.
func (srv *Server) handleKeyFetch(c *conn, node, keyNode *waBinary.Node) {
	var users []waBinary.Node
	srv.mu.Lock()
	for _, u := range keyNode.GetChildren() {
		jid, ok := u.Attrs["jid"].(types.JID)
		if u.Tag != "user" || !ok {
			continue
		}
		dev := srv.deviceLocked(jid)
		if dev == nil {
			users = append(users, waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}, Content: []waBinary.Node{{
				Tag: "error", Attrs: waBinary.Attrs{"code": 404, "text": "item-not-found"},
			}}})
			continue
		}
		var reg [4]byte
		binary.BigEndian.PutUint32(reg[:], dev.regID)
		children := []waBinary.Node{
			{Tag: "registration", Content: reg[:]},
			{Tag: "type", Content: []byte{5}},
			{Tag: "identity", Content: dev.identity[:]},
			preKeyNode("skey", dev.signedPreKey),
		}
		if len(dev.preKeys) > 0 {
			children = append(children, preKeyNode("key", dev.preKeys[0]))
			dev.preKeys = dev.preKeys[1:]
		}
		users = append(users, waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}, Content: children})
	}
	srv.mu.Unlock()
	srv.replyIQ(c, node, []waBinary.Node{{Tag: "list", Content: users}})
}

// handleUsync answers user queries: device lists, LIDs, "is on WhatsApp" contact checks, status.
func (srv *Server) handleUsync(c *conn, node *waBinary.Node) {
	usync, ok := node.GetOptionalChildByTag("usync")
	if !ok {
		srv.replyIQError(c, node, 400, "bad-request")
		return
	}
	srv.usyncQueries.Add(1)
	queryNode := usync.GetChildByTag("query")
	query := queryNode.GetChildren()
	var out []waBinary.Node
	srv.mu.Lock()
	listNode := usync.GetChildByTag("list")
	for _, u := range listNode.GetChildren() {
		if u.Tag != "user" {
			continue
		}
		jid, hasJID := u.Attrs["jid"].(types.JID)
		var contactQuery string
		if contact, ok := u.GetOptionalChildByTag("contact"); ok {
			contactQuery = contentString(contact.Content)
		}
		var acct *account
		if hasJID {
			acct = srv.accountOfLocked(jid)
		} else if contactQuery != "" {
			phone := strings.TrimPrefix(strings.TrimSuffix(contactQuery, "@c.us"), "+")
			acct = srv.accounts[phone]
			jid = types.NewJID(phone, types.DefaultUserServer)
		}
		var children []waBinary.Node
		for _, q := range query {
			switch q.Tag {
			case "devices":
				var devs []waBinary.Node
				if acct != nil {
					for _, d := range acct.sortedDevices() {
						devs = append(devs, waBinary.Node{Tag: "device", Attrs: waBinary.Attrs{"id": int(d.id)}})
					}
				}
				children = append(children, waBinary.Node{Tag: "devices", Content: []waBinary.Node{
					{Tag: "device-list", Content: devs},
				}})
			case "lid":
				if acct != nil {
					children = append(children, waBinary.Node{Tag: "lid", Attrs: waBinary.Attrs{"val": acct.lidJID()}})
				} else {
					children = append(children, waBinary.Node{Tag: "lid"})
				}
			case "contact":
				typ := "out"
				if acct != nil {
					typ = "in"
				}
				children = append(children, waBinary.Node{Tag: "contact", Attrs: waBinary.Attrs{"type": typ}, Content: []byte(contactQuery)})
			case "status":
				status := ""
				if acct != nil {
					status = acct.status
				}
				children = append(children, waBinary.Node{Tag: "status", Attrs: waBinary.Attrs{"t": time.Now().Unix()}, Content: []byte(status)})
			case "picture":
				children = append(children, waBinary.Node{Tag: "picture"})
			}
		}
		out = append(out, waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}, Content: children})
	}
	srv.mu.Unlock()
	srv.replyIQ(c, node, []waBinary.Node{{
		Tag:   "usync",
		Attrs: usync.Attrs,
		Content: []waBinary.Node{
			{Tag: "result"},
			{Tag: "list", Content: out},
		},
	}})
}

// contentString reads a node's text content, which decodes as bytes or as a string.
func contentString(content any) string {
	switch v := content.(type) {
	case []byte:
		return string(v)
	case string:
		return v
	}
	return ""
}

// handleRemoveCompanion unlinks a device at the request of a device of the same account
// (whatsmeow's Client.Logout unlinks itself this way).
func (srv *Server) handleRemoveCompanion(c *conn, node *waBinary.Node) {
	rm, ok := node.GetOptionalChildByTag("remove-companion-device")
	jid, jidOK := rm.Attrs["jid"].(types.JID)
	if !ok || !jidOK {
		srv.replyIQError(c, node, 400, "bad-request")
		return
	}
	srv.mu.Lock()
	dev := srv.deviceLocked(jid)
	if dev == nil || dev.acct != c.device.acct {
		srv.mu.Unlock()
		srv.replyIQError(c, node, 404, "item-not-found")
		return
	}
	delete(dev.acct.devices, dev.id)
	other := dev.conn
	acct := dev.acct
	srv.mu.Unlock()
	srv.replyIQ(c, node, nil)
	if other != nil && other != c {
		other.close(&waBinary.Node{Tag: "stream:error", Attrs: waBinary.Attrs{"code": "401"}, Content: []waBinary.Node{{
			Tag: "conflict", Attrs: waBinary.Attrs{"type": "device_removed"},
		}}})
	}
	c.log.Info().Stringer("removed", jid).Msg("Device unlinked by the account")
	srv.notifyDevicesChanged(acct)
}
