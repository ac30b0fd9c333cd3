package watestserver

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"sort"
	"strings"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// enqueue keeps a stanza for a device until the device acknowledges it, and sends it now if the
// device is online. Caller must hold srv.mu; the send happens after the lock is released through
// the returned function.
func (srv *Server) enqueueLocked(dev *device, q *queued) func() {
	dev.queue = append(dev.queue, q)
	if dev.conn == nil || !dev.active {
		return func() {}
	}
	c := dev.conn
	return func() {
		if err := c.send(q.node); err != nil {
			c.log.Debug().Err(err).Msg("Failed to deliver stanza; it stays queued")
		}
	}
}

// sendLiveLocked sends a stanza that is not kept for offline devices (chat state, presence).
func sendLiveLocked(dev *device, node waBinary.Node) func() {
	if dev.conn == nil || !dev.active {
		return func() {}
	}
	c := dev.conn
	return func() { _ = c.send(node) }
}

func runAll(fns []func()) {
	for _, fn := range fns {
		fn()
	}
}

// sameParty reports whether two JIDs name the same account (any device, any address form) or the
// same group.
func (srv *Server) samePartyLocked(a, b types.JID) bool {
	if a.ToNonAD() == b.ToNonAD() {
		return true
	}
	if a.Server == types.GroupServer || b.Server == types.GroupServer {
		return a.Server == b.Server && a.User == b.User
	}
	acctA, acctB := srv.accountOfLocked(a), srv.accountOfLocked(b)
	return acctA != nil && acctA == acctB
}

// senderAttrs names the sending device in the address form the target device uses, with the other
// form alongside, as WhatsApp does.
func senderAttrs(sender *device, target types.JID, attrs waBinary.Attrs, key, altKeyPN, altKeyLID string) {
	if target.Server == types.HiddenUserServer {
		attrs[key] = sender.lidJID()
		attrs[altKeyPN] = sender.jid()
	} else {
		attrs[key] = sender.jid()
		attrs[altKeyLID] = sender.lidJID()
	}
}

// handleMessage relays a message stanza: each <to> of <participants> carries the ciphertext for
// one device; the server hands every device its part (plus the group's sender-key ciphertext) and
// acknowledges the stanza to the sender. Nothing is decrypted here.
func (srv *Server) handleMessage(c *conn, node *waBinary.Node) {
	ag := node.AttrGetter()
	id := ag.String("id")
	to := ag.JID("to")
	if !ag.OK() {
		c.log.Warn().Str("node", node.XMLString()).Msg("Message without id or to")
		return
	}
	now := time.Now().Unix()
	ack := waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{"class": "message", "id": id, "from": to, "t": now}}

	var perDevice map[types.JID]waBinary.Node
	var shared []waBinary.Node
	for _, child := range node.GetChildren() {
		switch child.Tag {
		case "participants":
			perDevice = map[types.JID]waBinary.Node{}
			for _, p := range child.GetChildren() {
				jid, ok := p.Attrs["jid"].(types.JID)
				if p.Tag == "to" && ok && len(p.GetChildren()) > 0 {
					perDevice[jid] = p.GetChildren()[0]
				}
			}
		case "reporting", "tctoken":
		default:
			shared = append(shared, child)
		}
	}

	base := waBinary.Attrs{"id": id, "t": now}
	for _, k := range []string{"type", "edit", "category"} {
		if v, ok := node.Attrs[k]; ok {
			base[k] = v
		}
	}

	var sends []func()
	srv.mu.Lock()
	sender := c.device
	if sender.acct.pushName != "" {
		base["notify"] = sender.acct.pushName
	}
	build := func(target types.JID, enc *waBinary.Node, attrs waBinary.Attrs) waBinary.Node {
		for k, v := range base {
			attrs[k] = v
		}
		content := make([]waBinary.Node, 0, len(shared)+1)
		if enc != nil {
			content = append(content, *enc)
		}
		content = append(content, shared...)
		return waBinary.Node{Tag: "message", Attrs: attrs, Content: content}
	}

	// retryToOne relays a group or status retry: one device, named by the participant attribute.
	retryToOne := func() {
		target, ok := node.Attrs["participant"].(types.JID)
		if dev := srv.deviceLocked(target); ok && dev != nil && len(shared) > 0 {
			attrs := waBinary.Attrs{"from": to}
			senderAttrs(sender, target, attrs, "participant", "participant_pn", "participant_lid")
			msg := build(target, nil, attrs)
			sends = append(sends, srv.enqueueLocked(dev, &queued{node: msg, class: "message", id: id, from: to}))
		}
	}

	switch to.Server {
	case types.GroupServer:
		g := srv.groups[to.User]
		if g == nil || !g.hasMember(sender.acct.phone) || (g.announce && !g.isAdmin(sender.acct.phone) && perDevice != nil) {
			srv.mu.Unlock()
			ack.Attrs["error"] = 403
			_ = c.send(ack)
			return
		}
		if perDevice == nil {
			retryToOne()
			break
		}
		for _, phone := range g.memberPhones() {
			acct := srv.accounts[phone]
			if acct == nil {
				continue
			}
			for _, dev := range acct.sortedDevices() {
				if dev == sender {
					continue
				}
				var enc *waBinary.Node
				target := dev.jid()
				for _, form := range []types.JID{dev.jid(), dev.lidJID()} {
					if e, ok := perDevice[form]; ok {
						enc = &e
						target = form
					}
				}
				attrs := waBinary.Attrs{"from": to}
				senderAttrs(sender, target, attrs, "participant", "participant_pn", "participant_lid")
				msg := build(target, enc, attrs)
				sends = append(sends, srv.enqueueLocked(dev, &queued{node: msg, class: "message", id: id, from: to}))
			}
		}
	case types.BroadcastServer:
		// A status update: the poster chose the audience (its contacts), so every device it
		// encrypted the sender key for gets the message, as from status@broadcast with the poster
		// as participant.
		if to != types.StatusBroadcastJID {
			srv.mu.Unlock()
			ack.Attrs["error"] = 404
			_ = c.send(ack)
			return
		}
		if perDevice == nil {
			retryToOne()
			break
		}
		for target, enc := range perDevice {
			dev := srv.deviceLocked(target)
			if dev == nil || dev == sender {
				continue
			}
			attrs := waBinary.Attrs{"from": to}
			senderAttrs(sender, target, attrs, "participant", "participant_pn", "participant_lid")
			msg := build(target, &enc, attrs)
			sends = append(sends, srv.enqueueLocked(dev, &queued{node: msg, class: "message", id: id, from: to}))
		}
	case types.DefaultUserServer, types.HiddenUserServer:
		recipient := srv.accountOfLocked(to)
		if recipient == nil {
			srv.mu.Unlock()
			ack.Attrs["error"] = 404
			_ = c.send(ack)
			return
		}
		if perDevice == nil {
			// A retry or a peer message (between devices of one account, like history sync):
			// the enc is for the one device in "to".
			if node.Attrs["category"] == "peer" && recipient != sender.acct {
				srv.mu.Unlock()
				ack.Attrs["error"] = 403
				_ = c.send(ack)
				return
			}
			perDevice = map[types.JID]waBinary.Node{}
			var rest []waBinary.Node
			for _, child := range shared {
				if child.Tag == "enc" && perDevice[to].Tag == "" {
					perDevice[to] = child
				} else {
					rest = append(rest, child)
				}
			}
			shared = rest
		}
		for target, enc := range perDevice {
			dev := srv.deviceLocked(target)
			if dev == nil || dev == sender || (dev.acct != recipient && dev.acct != sender.acct) {
				continue
			}
			attrs := waBinary.Attrs{}
			senderAttrs(sender, target, attrs, "from", "sender_pn", "sender_lid")
			if dev.acct == sender.acct && node.Attrs["category"] != "peer" {
				attrs["recipient"] = to.ToNonAD()
				delete(attrs, "sender_lid")
				delete(attrs, "sender_pn")
			}
			if r, ok := node.Attrs["recipient"].(types.JID); ok && dev.acct == sender.acct {
				attrs["recipient"] = r
			}
			msg := build(target, &enc, attrs)
			from, _ := attrs["from"].(types.JID)
			sends = append(sends, srv.enqueueLocked(dev, &queued{node: msg, class: "message", id: id, from: from}))
		}
	default:
		c.log.Debug().Stringer("to", to).Msg("Message to an unsupported server: acknowledged, not relayed")
	}
	if _, fanout := node.GetOptionalChildByTag("participants"); fanout {
		ack.Attrs["phash"] = srv.participantHashLocked(to, sender)
	}
	phone := sender.acct.phone
	srv.mu.Unlock()
	if lost, ok := srv.takeLostAck(phone); ok {
		runAll(sends)
		srv.loseAck(phone, lost)
		return
	}
	_ = c.send(ack)
	runAll(sends)
}

// participantHashLocked is the hash of the device list a sender should have encrypted for, in
// whatsmeow's format: when it differs from the client's, whatsmeow drops its cached device or
// member list, so a device it did not know of gets the next message.
func (srv *Server) participantHashLocked(to types.JID, sender *device) string {
	var accounts []*account
	lid := to.Server == types.HiddenUserServer
	if to.Server == types.GroupServer {
		if g := srv.groups[to.User]; g != nil {
			for _, phone := range g.memberPhones() {
				if acct := srv.accounts[phone]; acct != nil {
					accounts = append(accounts, acct)
				}
			}
		}
	} else if acct := srv.accountOfLocked(to); acct != nil {
		accounts = append(accounts, acct)
		if acct != sender.acct {
			accounts = append(accounts, sender.acct)
		}
	}
	var names []string
	for _, acct := range accounts {
		for _, dev := range acct.sortedDevices() {
			if lid {
				names = append(names, dev.lidJID().ADString())
			} else {
				names = append(names, dev.jid().ADString())
			}
		}
	}
	sort.Strings(names)
	sum := sha256.Sum256([]byte(strings.Join(names, "")))
	return "2:" + base64.RawStdEncoding.EncodeToString(sum[:6])
}

func receiptIDs(node *waBinary.Node) []string {
	ids := []string{}
	if id, ok := node.Attrs["id"].(string); ok {
		ids = append(ids, id)
	}
	if list, ok := node.GetOptionalChildByTag("list"); ok {
		for _, item := range list.GetChildren() {
			if id, ok := item.Attrs["id"].(string); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// handleReceipt takes a device's receipt: it acknowledges the messages it names (they leave the
// device's queue) and relays it to the devices of the message's sender.
func (srv *Server) handleReceipt(c *conn, node *waBinary.Node) {
	ag := node.AttrGetter()
	to := ag.JID("to")
	if !ag.OK() {
		return
	}
	typ := ag.OptionalString("type")
	ids := receiptIDs(node)
	now := time.Now().Unix()
	ack := waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{"class": "receipt", "id": node.Attrs["id"], "from": to}}
	if typ != "" {
		ack.Attrs["type"] = typ
	}

	var sends []func()
	srv.mu.Lock()
	reader := c.device
	reader.queue = removePending(reader.queue, func(q *queued) bool {
		return q.class == "message" && slices.Contains(ids, q.id) && srv.samePartyLocked(q.from, to)
	})

	var targets []*device
	attrs := waBinary.Attrs{"id": node.Attrs["id"], "t": now}
	if typ != "" {
		attrs["type"] = typ
	}
	if to.Server == types.GroupServer {
		participant, ok := node.Attrs["participant"].(types.JID)
		if acct := srv.accountOfLocked(participant); ok && acct != nil {
			targets = acct.sortedDevices()
		}
		attrs["from"] = to
		attrs["participant"] = reader.jid()
	} else if acct := srv.accountOfLocked(to); acct != nil {
		if typ == "retry" && to.Device != 0 {
			if dev := acct.devices[to.Device]; dev != nil {
				targets = []*device{dev}
			}
		} else {
			targets = acct.sortedDevices()
		}
		if to.Server == types.HiddenUserServer {
			attrs["from"] = reader.lidJID()
		} else {
			attrs["from"] = reader.jid()
		}
		if r, ok := node.Attrs["recipient"]; ok {
			attrs["recipient"] = r
		}
	}
	var content []waBinary.Node
	for _, child := range node.GetChildren() {
		content = append(content, child)
	}
	for _, dev := range targets {
		if dev == reader {
			continue
		}
		relayed := waBinary.Node{Tag: "receipt", Attrs: attrs}
		if len(content) > 0 {
			relayed.Content = content
		}
		from, _ := attrs["from"].(types.JID)
		sends = append(sends, srv.enqueueLocked(dev, &queued{node: relayed, class: "receipt", id: ids[0], typ: typ, from: from}))
	}
	// Reading on one device marks the chat read on the account's other devices: they get the
	// receipt as coming from the reading device, with the chat as recipient (or participant in
	// a group).
	if typ == "read" || typ == "read-self" || typ == "played" || typ == "played-self" {
		own := waBinary.Attrs{"id": node.Attrs["id"], "t": now, "type": typ}
		if to.Server == types.GroupServer {
			own["from"] = to
			own["participant"] = reader.jid()
			if p, ok := node.Attrs["participant"]; ok {
				own["recipient"] = p
			}
		} else {
			own["from"] = reader.jid()
			own["recipient"] = to.ToNonAD()
		}
		for _, dev := range reader.acct.sortedDevices() {
			if dev == reader || slices.Contains(targets, dev) {
				continue
			}
			relayed := waBinary.Node{Tag: "receipt", Attrs: own}
			if len(content) > 0 {
				relayed.Content = content
			}
			from, _ := own["from"].(types.JID)
			sends = append(sends, srv.enqueueLocked(dev, &queued{node: relayed, class: "receipt", id: ids[0], typ: typ, from: from}))
		}
	}
	srv.mu.Unlock()
	_ = c.send(ack)
	runAll(sends)
}

// handleAck removes an acknowledged stanza from the device's queue.
func (srv *Server) handleAck(c *conn, node *waBinary.Node) {
	ag := node.AttrGetter()
	class := ag.OptionalString("class")
	id := ag.OptionalString("id")
	to := ag.OptionalJIDOrEmpty("to")
	typ := ag.OptionalString("type")
	srv.mu.Lock()
	defer srv.mu.Unlock()
	c.device.queue = removePending(c.device.queue, func(q *queued) bool {
		if q.class != class || q.id != id {
			return false
		}
		if class != "message" && q.typ != typ {
			return false
		}
		return to.IsEmpty() || srv.samePartyLocked(q.from, to)
	})
}

// handlePresence records availability and push names and serves presence subscriptions.
func (srv *Server) handlePresence(c *conn, node *waBinary.Node) {
	ag := node.AttrGetter()
	typ := ag.OptionalString("type")
	var sends []func()
	srv.mu.Lock()
	acct := c.device.acct
	switch typ {
	case "available", "unavailable":
		if name := ag.OptionalString("name"); name != "" {
			acct.pushName = name
		}
		acct.available = typ == "available"
		if !acct.available {
			acct.lastSeen = time.Now()
		}
		update := srv.presenceNodeLocked(acct)
		for phone := range acct.subscribers {
			if sub := srv.accounts[phone]; sub != nil {
				for _, dev := range sub.sortedDevices() {
					sends = append(sends, sendLiveLocked(dev, update))
				}
			}
		}
	case "subscribe":
		if target := srv.accountOfLocked(ag.JID("to")); target != nil {
			target.subscribers[acct.phone] = struct{}{}
			sends = append(sends, func() { _ = c.send(srv.presenceNode(target)) })
		}
	case "unsubscribe":
		if target := srv.accountOfLocked(ag.JID("to")); target != nil {
			delete(target.subscribers, acct.phone)
		}
	}
	srv.mu.Unlock()
	runAll(sends)
}

func (srv *Server) presenceNode(acct *account) waBinary.Node {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.presenceNodeLocked(acct)
}

func (srv *Server) presenceNodeLocked(acct *account) waBinary.Node {
	attrs := waBinary.Attrs{"from": acct.jid()}
	if !acct.available {
		attrs["type"] = "unavailable"
		if !acct.lastSeen.IsZero() {
			attrs["last"] = acct.lastSeen.Unix()
		}
	}
	return waBinary.Node{Tag: "presence", Attrs: attrs}
}

// handleChatState relays typing notifications to the devices that are online; they are not kept.
func (srv *Server) handleChatState(c *conn, node *waBinary.Node) {
	to, ok := node.Attrs["to"].(types.JID)
	if !ok || len(node.GetChildren()) != 1 {
		return
	}
	state := node.GetChildren()[0]
	var sends []func()
	srv.mu.Lock()
	sender := c.device
	if to.Server == types.GroupServer {
		if g := srv.groups[to.User]; g != nil && g.hasMember(sender.acct.phone) {
			relayed := waBinary.Node{Tag: "chatstate", Attrs: waBinary.Attrs{"from": to, "participant": sender.acct.jid()}, Content: []waBinary.Node{state}}
			for _, phone := range g.memberPhones() {
				if acct := srv.accounts[phone]; acct != nil && acct != sender.acct {
					for _, dev := range acct.sortedDevices() {
						sends = append(sends, sendLiveLocked(dev, relayed))
					}
				}
			}
		}
	} else if acct := srv.accountOfLocked(to); acct != nil {
		from := sender.acct.jid()
		if to.Server == types.HiddenUserServer {
			from = sender.acct.lidJID()
		}
		relayed := waBinary.Node{Tag: "chatstate", Attrs: waBinary.Attrs{"from": from}, Content: []waBinary.Node{state}}
		for _, dev := range acct.sortedDevices() {
			sends = append(sends, sendLiveLocked(dev, relayed))
		}
	}
	srv.mu.Unlock()
	runAll(sends)
}
