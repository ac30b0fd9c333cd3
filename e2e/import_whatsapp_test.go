package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/importer"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// TestImportIntoWhatsAppPortal links WhatsApp (the project's test server) through the bridge,
// imports a one-to-one chat export given with --chat +phone, and checks that the imported room
// became the chat's portal: the contact's history comes from their phone-number ghost, and what
// they send afterwards on WhatsApp arrives in the same room from the same ghost.
func TestImportIntoWhatsAppPortal(t *testing.T) {
	const alicePhone, bobPhone = "33620000001", "33620000002"
	srv, err := watestserver.Start(watestserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer srv.TrustRoot()()
	br := bridgetest.New(t, bridgetest.Options{
		Binary: passerelleBin, Engine: "postgres", DisableEncryption: true, LogLevel: "info",
		Edit: whatsappSection(t, srv),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alice := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("waportal"))

	linkWhatsAppQR(t, ctx, br, srv, alice, alicePhone)

	chat := "31/12/2023, 21:41 - Bob: Bonne année !\n" +
		"31/12/2023, 21:42 - Alice Martin: Merci, à toi aussi\n" +
		"31/12/2023, 21:43 - Bob: On se voit demain ?\n"
	export := filepath.Join(t.TempDir(), "WhatsApp Chat with Bob.txt")
	if err = os.WriteFile(export, []byte(chat), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, stderr, code := runImportCLI(t, br, "whatsapp", export, "--user", string(alice.UserID), "--chat", "+"+bobPhone)
	if code != 0 {
		t.Fatalf("import exited %d: %s\n%s", code, stderr, br.LogTail(30))
	}
	if sum.Imported != 3 || len(sum.Rooms) != 1 || sum.Rooms[0].Kind != importer.KindPortal {
		t.Fatalf("summary = %+v; want 3 messages in a new portal", sum)
	}
	room := sum.Rooms[0].RoomID
	bobGhost := ghostMXID(t, br, "wa."+bobPhone)
	aliceGhost := ghostMXID(t, br, "wa."+alicePhone)
	var history []*event.Event
	for _, e := range roomTimeline(t, alice, room, 3) {
		if e.Type == event.EventMessage {
			history = append(history, e)
		}
	}
	if len(history) != 3 || history[0].Sender != bobGhost || history[1].Sender != aliceGhost || history[2].Sender != bobGhost {
		t.Fatalf("history senders: %v; want Bob's ghost %s and Alice's own ghost %s", history, bobGhost, aliceGhost)
	}
	if history[0].Timestamp != time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC).UnixMilli() {
		t.Errorf("first message ts %d", history[0].Timestamp)
	}

	bob, err := srv.NewPhone(ctx, bobPhone, watestserver.PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, err = bob.SendText(ctx, types.NewJID(alicePhone, types.DefaultUserServer), "Oui, à demain"); err != nil {
		t.Fatal(err)
	}
	live := br.WaitForEvent(t, alice, room, history[2].ID, func(evt *event.Event) bool {
		return evt.Type == event.EventMessage && evt.Content.AsMessage().Body == "Oui, à demain"
	})
	if live.Sender != bobGhost {
		t.Errorf("live message from %s, want %s like the history", live.Sender, bobGhost)
	}
}
