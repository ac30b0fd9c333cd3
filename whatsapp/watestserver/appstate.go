package watestserver

import (
	"time"

	"google.golang.org/protobuf/proto"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waServerSync"
	"go.mau.fi/whatsmeow/types"
)

// The app state (mute, pin, archive, contacts' names…) is a per-account, per-collection list of
// encrypted patches that devices upload and fetch; the server only orders them and numbers their
// versions, as WhatsApp's does. Keys are shared between devices by the phone (Phone.ShareAppStateKeys).

// handleAppStateIQ serves w:sync:app:state: each <collection> either uploads a <patch> at the
// version the device has, or fetches the patches after that version.
func (srv *Server) handleAppStateIQ(c *conn, node *waBinary.Node) {
	syncNode, ok := node.GetOptionalChildByTag("sync")
	if !ok {
		srv.replyIQError(c, node, 400, "bad-request")
		return
	}
	var out []waBinary.Node
	var changed []waBinary.Node
	srv.mu.Lock()
	acct := c.device.acct
	if acct.appState == nil {
		acct.appState = map[string][][]byte{}
	}
	for _, coll := range syncNode.GetChildrenByTag("collection") {
		ag := coll.AttrGetter()
		name := ag.String("name")
		from := ag.OptionalInt("version")
		patches := acct.appState[name]
		patchNodes := coll.GetChildrenByTag("patch")
		if len(patchNodes) == 0 {
			out = append(out, appStateCollection(name, len(patches), patches, from, nil))
			continue
		}
		if from != len(patches) {
			out = append(out, appStateCollection(name, len(patches), patches, from, &waBinary.Node{
				Tag: "error", Attrs: waBinary.Attrs{"code": 409, "text": "conflict"},
			}))
			continue
		}
		bad := false
		for _, pn := range patchNodes {
			raw, _ := pn.Content.([]byte)
			var patch waServerSync.SyncdPatch
			if proto.Unmarshal(raw, &patch) != nil {
				bad = true
				break
			}
			patch.Version = &waServerSync.SyncdVersion{Version: proto.Uint64(uint64(len(patches) + 1))}
			numbered, err := proto.Marshal(&patch)
			if err != nil {
				bad = true
				break
			}
			patches = append(patches, numbered)
		}
		if bad {
			out = append(out, waBinary.Node{Tag: "collection", Attrs: waBinary.Attrs{"name": name, "type": "error"},
				Content: []waBinary.Node{{Tag: "error", Attrs: waBinary.Attrs{"code": 400, "text": "bad-request"}}}})
			continue
		}
		acct.appState[name] = patches
		out = append(out, waBinary.Node{Tag: "collection", Attrs: waBinary.Attrs{"name": name, "version": len(patches)}})
		changed = append(changed, waBinary.Node{Tag: "collection", Attrs: waBinary.Attrs{"name": name, "version": len(patches)}})
	}
	var sends []func()
	if len(changed) > 0 {
		id := srv.nextIDLocked()
		notif := waBinary.Node{
			Tag:     "notification",
			Attrs:   waBinary.Attrs{"type": "server_sync", "from": types.ServerJID, "id": id, "t": time.Now().Unix()},
			Content: changed,
		}
		for _, dev := range acct.sortedDevices() {
			if dev != c.device {
				sends = append(sends, srv.enqueueLocked(dev, &queued{node: notif, class: "notification", id: id, typ: "server_sync", from: types.ServerJID}))
			}
		}
	}
	srv.mu.Unlock()
	srv.replyIQ(c, node, []waBinary.Node{{Tag: "sync", Content: out}})
	runAll(sends)
}

// appStateCollection lists the patches after version from (with an error child for a refused
// upload).
func appStateCollection(name string, version int, patches [][]byte, from int, errNode *waBinary.Node) waBinary.Node {
	attrs := waBinary.Attrs{"name": name, "version": version, "has_more_patches": false}
	var children []waBinary.Node
	if errNode != nil {
		attrs["type"] = "error"
		children = append(children, *errNode)
	}
	if from < 0 || from > len(patches) {
		from = 0
	}
	var list []waBinary.Node
	for _, p := range patches[from:] {
		list = append(list, waBinary.Node{Tag: "patch", Content: p})
	}
	children = append(children, waBinary.Node{Tag: "patches", Content: list})
	return waBinary.Node{Tag: "collection", Attrs: attrs, Content: children}
}
