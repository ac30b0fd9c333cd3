package portal

import (
	"strings"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/networkid"
)

// RemoteIDKey is the content field naming the remote message a Matrix event was bridged from.
// It lets the bridge send that event again under the same transaction ID after a crash or a
// database outage (see package delivery), so the homeserver keeps one copy, and it tells
// clients and audits which remote message an event stands for.
const RemoteIDKey = "fi.passerelle.remote_id"

// StampRemoteID writes the remote message and part ID into every part of a converted message.
func StampRemoteID(cm *bridgev2.ConvertedMessage, msgID networkid.MessageID) {
	if cm == nil {
		return
	}
	for _, part := range cm.Parts {
		if part == nil {
			continue
		}
		if part.Extra == nil {
			part.Extra = map[string]any{}
		}
		v := string(msgID)
		if part.ID != "" {
			v += "/" + string(part.ID)
		}
		part.Extra[RemoteIDKey] = v
	}
}

// RemoteMessageOf is the message part of a RemoteIDKey value: the remote message ID without the
// part ID StampRemoteID may have appended (a WhatsApp message ID holds two slashes itself).
func RemoteMessageOf(remoteID string) string {
	slashes := 0
	if strings.HasPrefix(remoteID, WhatsApp.prefix()) {
		slashes = 2
	}
	for i := 0; i < len(remoteID); i++ {
		if remoteID[i] == '/' {
			if slashes == 0 {
				return remoteID[:i]
			}
			slashes--
		}
	}
	return remoteID
}
