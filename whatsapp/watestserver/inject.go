package watestserver

import (
	"fmt"
	"strings"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// InjectUndecryptable delivers to a device a message from account from whose ciphertext cannot be
// decrypted, as happens when sessions break: whatsmeow emits events.UndecryptableMessage and
// sends a retry receipt (relayed to from's devices). It returns the message ID.
func (srv *Server) InjectUndecryptable(from string, to types.JID) (string, error) {
	id := "3EB0" + strings.ToUpper(randomString(16))
	srv.mu.Lock()
	sender := srv.accounts[from]
	target := srv.deviceLocked(to)
	if sender == nil || target == nil {
		srv.mu.Unlock()
		return "", fmt.Errorf("inject undecryptable message from %s to %s: sender account and target device must exist", from, to)
	}
	node := waBinary.Node{
		Tag: "message",
		Attrs: waBinary.Attrs{
			"id": id, "type": "text", "t": time.Now().Unix(),
			"from": types.JID{User: sender.phone, Device: 0, Server: types.DefaultUserServer},
		},
		Content: []waBinary.Node{{
			Tag:     "enc",
			Attrs:   waBinary.Attrs{"v": "2", "type": "msg"},
			Content: append([]byte{0x33}, randomBytes(60)...),
		}},
	}
	if sender.pushName != "" {
		node.Attrs["notify"] = sender.pushName
	}
	send := srv.enqueueLocked(target, &queued{node: node, class: "message", id: id, from: sender.jid()})
	srv.mu.Unlock()
	send()
	return id, nil
}
