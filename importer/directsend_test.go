package importer

import (
	"fmt"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
)

// A room the importer made and someone encrypted since gets no plaintext: the importer's direct
// send (directSend) leaves encrypted rooms to bridgev2, which this bridge (encryption off)
// refuses, so the new messages fail instead of going out unencrypted.
func testEncryptedRoomGetsNoPlaintext(t *testing.T, h *harness) {
	cli, u := h.newUser("enc")
	var msgs []map[string]any
	for i := 1; i <= 4; i++ {
		msgs = append(msgs, tgMsg(i, 1500000000+int64(i), 200+int64(i%2), fmt.Sprint("E", i%2), fmt.Sprint("message ", i), nil))
	}
	first := h.run(&Request{User: u, Network: portal.Telegram, Path: writeTG(t, "Chiffré", "private_supergroup", 7707, msgs[:2], nil)})
	if first.Imported != 2 || len(first.Rooms) != 1 || first.Rooms[0].Kind != KindStandalone {
		t.Fatalf("first run = %+v, want 2 imported into a standalone room", first)
	}
	room := first.Rooms[0].RoomID
	if _, err := h.br.Bot.SendState(h.ctx, room, event.StateEncryption, "", &event.Content{
		Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1},
	}, time.Time{}); err != nil {
		t.Fatalf("encrypt %s: %v", room, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if enc, err := h.mc.StateStore.IsEncrypted(h.ctx, room); err == nil && enc {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the bridge's state store never saw %s encrypted (%v)", room, err)
		}
	}
	second := h.run(&Request{User: u, Network: portal.Telegram, Path: writeTG(t, "Chiffré", "private_supergroup", 7707, msgs, nil)})
	if second.Rooms[0].RoomID != room || second.Skipped != 2 || second.Imported != 0 || second.Failed != 2 {
		t.Fatalf("second run = %+v, want the 2 new messages failed in %s", second, room)
	}
	var bodies []string
	for _, e := range timeline(t, cli, room, 2) {
		if e.Type == event.EventMessage {
			bodies = append(bodies, e.Content.AsMessage().Body)
		}
	}
	if fmt.Sprint(bodies) != "[message 1 message 2]" {
		t.Fatalf("room messages = %q, want only the 2 sent before the room was encrypted", bodies)
	}
}
