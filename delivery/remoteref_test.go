package delivery

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"maunium.net/go/mautrix/bridgev2/matrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
)

// megolm stands in for mautrix's encryption: it replaces the content as CryptoHelper.Encrypt does.
type megolm struct{ matrix.Crypto }

func (megolm) Encrypt(_ context.Context, _ id.RoomID, _ event.Type, content *event.Content) error {
	content.Parsed = &event.EncryptedEventContent{Algorithm: id.AlgorithmMegolmV1, MegolmCiphertext: []byte("AwgA"), SessionID: "s"}
	content.Raw = nil
	return nil
}

func TestEncryptedSendCarriesReference(t *testing.T) {
	c := &bridgeCrypto{Crypto: megolm{}, key: refKey("pickle")}
	encrypt := func(remoteID string) (string, map[string]any) {
		content := &event.Content{Parsed: &event.MessageEventContent{MsgType: event.MsgText, Body: "secret text"}, Raw: map[string]any{}}
		if remoteID != "" {
			content.Raw[portal.RemoteIDKey] = remoteID
		}
		if err := c.Encrypt(context.Background(), "!r:example.org", event.EventMessage, content); err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(content)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return string(raw), out
	}
	const wa = "wa.33600000002@s.whatsapp.net/33600000002@s.whatsapp.net/3EB0ABCDEF"
	raw, out := encrypt(wa + "/1")
	if strings.Contains(raw, "3EB0ABCDEF") || strings.Contains(raw, portal.RemoteIDKey) || strings.Contains(raw, "secret text") {
		t.Fatalf("the remote message is readable outside the ciphertext: %s", raw)
	}
	ref, _ := out[RemoteRefKey].(string)
	if ref != remoteRef(refKey("pickle"), wa+"/1") || out["algorithm"] != string(id.AlgorithmMegolmV1) {
		t.Fatalf("encrypted content %s: want the reference beside the ciphertext", raw)
	}
	mk, ok := markerOf([]byte(raw))
	if !ok || mk.key != RemoteRefKey || mk.value != ref {
		t.Fatalf("markerOf(%s) = %+v, %v", raw, mk, ok)
	}
	// Parts of one message share the message half (looked up together); other messages and
	// other keys give other references; no remote ID, no reference.
	_, part2 := encrypt(wa + "/2")
	_, other := encrypt(wa + "X")
	p2 := markerFromRef(t, part2)
	if p2.message != mk.message || p2.value == mk.value {
		t.Errorf("two parts of one message: %+v and %+v", mk, p2)
	}
	if o := markerFromRef(t, other); o.message == mk.message {
		t.Errorf("two messages share the message half: %+v and %+v", mk, o)
	}
	if remoteRef(refKey("other pickle"), wa+"/1") == ref {
		t.Error("the reference does not depend on the key")
	}
	if raw, out := encrypt(""); out[RemoteRefKey] != nil {
		t.Errorf("an event naming no remote message got a reference: %s", raw)
	}
}

func markerFromRef(t *testing.T, content map[string]any) marker {
	t.Helper()
	raw, _ := json.Marshal(content)
	mk, ok := markerOf(raw)
	if !ok {
		t.Fatalf("no marker in %s", raw)
	}
	return mk
}
