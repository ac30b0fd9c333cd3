package watestserver

import (
	"fmt"
	"strings"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// Calls are signalling only: the server rings the callee's online devices (events.CallOffer),
// ends calls (events.CallTerminate) and relays a device's <call><reject/></call>. There is no
// media. Calls are not kept for offline devices.

// OfferCall rings every online device of account to with a call from account from (as if from's
// phone called) and returns the call ID.
func (srv *Server) OfferCall(from, to string, video bool) (string, error) {
	callID := strings.ToUpper(randomString(16))
	media := waBinary.Node{Tag: "audio", Attrs: waBinary.Attrs{"enc": "opus", "rate": "16000"}}
	if video {
		media = waBinary.Node{Tag: "video", Attrs: waBinary.Attrs{"enc": "vp8", "dec": "vp8"}}
	}
	return callID, srv.sendCall(from, to, waBinary.Node{Tag: "offer", Content: []waBinary.Node{media}}, callID)
}

// EndCall tells account to's devices that from's call ended (reason "timeout" makes it a missed
// call on phones).
func (srv *Server) EndCall(from, to, callID, reason string) error {
	if reason == "" {
		reason = "timeout"
	}
	return srv.sendCall(from, to, waBinary.Node{Tag: "terminate", Attrs: waBinary.Attrs{"reason": reason}}, callID)
}

func (srv *Server) sendCall(from, to string, child waBinary.Node, callID string) error {
	var sends []func()
	srv.mu.Lock()
	caller, callee := srv.accounts[from], srv.accounts[to]
	if caller == nil || callee == nil {
		srv.mu.Unlock()
		return fmt.Errorf("call from %s to %s: both accounts must be registered", from, to)
	}
	if child.Attrs == nil {
		child.Attrs = waBinary.Attrs{}
	}
	child.Attrs["call-id"] = callID
	child.Attrs["call-creator"] = caller.jid()
	child.Attrs["caller_lid"] = caller.lidJID()
	node := waBinary.Node{
		Tag: "call",
		Attrs: waBinary.Attrs{
			"from": caller.jid(), "id": srv.nextIDLocked(), "t": time.Now().Unix(),
			"platform": "android", "version": "2.25.1.1",
		},
		Content: []waBinary.Node{child},
	}
	if caller.pushName != "" {
		node.Attrs["notify"] = caller.pushName
	}
	for _, dev := range callee.sortedDevices() {
		sends = append(sends, sendLiveLocked(dev, node))
	}
	srv.calls = append(srv.calls, CallRecord{ID: callID, From: from, To: to, Event: child.Tag})
	srv.mu.Unlock()
	runAll(sends)
	return nil
}

// CallRecord is one call event the server saw: offers and ends it sent, rejections devices sent.
type CallRecord struct {
	ID    string
	From  string // phone number of the side that acted
	To    string
	Event string // offer, terminate, reject
}

// Calls lists the call events so far.
func (srv *Server) Calls() []CallRecord {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]CallRecord(nil), srv.calls...)
}

// handleCall relays a device's call stanza (whatsmeow sends reject) to the other side's devices.
func (srv *Server) handleCall(c *conn, node *waBinary.Node) {
	to, ok := node.Attrs["to"].(types.JID)
	children := node.GetChildren()
	_ = c.send(waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{"class": "call", "id": node.Attrs["id"], "from": to}})
	if !ok || len(children) != 1 {
		return
	}
	child := children[0]
	var sends []func()
	srv.mu.Lock()
	me := c.device.acct
	if other := srv.accountOfLocked(to); other != nil {
		relayed := waBinary.Node{Tag: "call", Attrs: waBinary.Attrs{"from": me.jid(), "id": srv.nextIDLocked(), "t": time.Now().Unix()}, Content: []waBinary.Node{child}}
		for _, dev := range other.sortedDevices() {
			sends = append(sends, sendLiveLocked(dev, relayed))
		}
		callID, _ := child.Attrs["call-id"].(string)
		srv.calls = append(srv.calls, CallRecord{ID: callID, From: me.phone, To: other.phone, Event: child.Tag})
	}
	srv.mu.Unlock()
	runAll(sends)
}
