package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
)

// RemoteRefKey is the field an encrypted bridged event carries outside its ciphertext in place of
// portal.RemoteIDKey (which is encrypted with the rest of the content): a keyed hash of the
// remote message, so that after a homeserver crash the bridge can still recognise the event it
// sent (stableTxnTransport) without telling the homeserver which remote message it is. The key
// derives from the bridge's pickle key, which the homeserver never sees.
const RemoteRefKey = "fi.passerelle.remote_ref"

// marker is what names the remote message a send carries, as the homeserver can read it.
type marker struct {
	// key is the content field: portal.RemoteIDKey, or RemoteRefKey on an encrypted event.
	key string
	// value is the field's value; message is the part that names the remote message without
	// its part (parts of one message are looked up together, see stableTxnTransport.settled).
	value, message string
}

// markerOf reads the marker of a send's content; ok is false when it has none.
func markerOf(raw []byte) (marker, bool) {
	hasID, hasRef := bytes.Contains(raw, []byte(portal.RemoteIDKey)), bytes.Contains(raw, []byte(RemoteRefKey))
	if !hasID && !hasRef {
		return marker{}, false
	}
	var content map[string]json.RawMessage
	if json.Unmarshal(raw, &content) != nil {
		return marker{}, false
	}
	var v string
	if hasID && json.Unmarshal(content[portal.RemoteIDKey], &v) == nil && v != "" {
		return marker{key: portal.RemoteIDKey, value: v, message: portal.RemoteMessageOf(v)}, true
	}
	if hasRef && json.Unmarshal(content[RemoteRefKey], &v) == nil && v != "" {
		message, _, _ := strings.Cut(v, ".")
		return marker{key: RemoteRefKey, value: v, message: message}, true
	}
	return marker{}, false
}

// barrierField is the field naming the message in a barrier event, which is never encrypted.
func (mk marker) barrierField() string {
	if mk.key == RemoteRefKey {
		return "remote_ref"
	}
	return "remote_id"
}

// Encrypt encrypts as mautrix does, then adds the reference to the encrypted content.
func (c *bridgeCrypto) Encrypt(ctx context.Context, roomID id.RoomID, evtType event.Type, content *event.Content) error {
	remoteID, _ := content.Raw[portal.RemoteIDKey].(string)
	if err := c.Crypto.Encrypt(ctx, roomID, evtType, content); err != nil {
		return err
	}
	if _, encrypted := content.Parsed.(*event.EncryptedEventContent); encrypted && remoteID != "" {
		if content.Raw == nil {
			content.Raw = map[string]any{}
		}
		content.Raw[RemoteRefKey] = remoteRef(c.key, remoteID)
	}
	return nil
}

// remoteRef is "<hash of the message>.<hash of message and part>": the first half groups the
// parts of one message as portal.RemoteMessageOf does for plain IDs.
func remoteRef(key []byte, remoteID string) string {
	h := func(s string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
	}
	return h(portal.RemoteMessageOf(remoteID)) + "." + h(remoteID)
}

// refKey derives the reference key from the bridge's pickle key.
func refKey(pickleKey string) []byte {
	m := hmac.New(sha256.New, []byte(pickleKey))
	m.Write([]byte("passerelle remote message reference"))
	return m.Sum(nil)
}
