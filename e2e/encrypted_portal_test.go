package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/delivery"
	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// TestEncryptedTelegramPortal runs a Telegram DM through a portal with end-to-bridge encryption,
// as a default deployment has it: the user's client (mautrix crypto) decrypts what the bridge
// posts, the bridge decrypts the user's answer, and what the homeserver stores names the remote
// message only by its keyed reference (delivery.RemoteRefKey), outside the ciphertext.
func TestEncryptedTelegramPortal(t *testing.T) {
	srv := startTelegramServer(t)
	me, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33 6 00 00 07 01", FirstName: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000702", FirstName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	br := bridgetest.New(t, bridgetest.Options{Binary: passerelleBin, Engine: "postgres", Edit: telegramSection(srv)})
	alice := br.Homeserver.NewCryptoUser(t, hstest.UniqueLocalpart("e2ee"))
	mgmt := br.OpenManagementRoom(t, alice.Client)
	tgLoginPhone(t, br, srv, alice.Client, mgmt, "+33600000701")

	ctx, cancel := context.WithTimeout(context.Background(), 2*bridgetest.ReplyTimeout)
	defer cancel()
	if _, err = bob.SendText(tgtestserver.UserPeer(me.ID()), "hello, encrypted"); err != nil {
		t.Fatal(err)
	}
	room := tgWaitInvite(t, alice.Client, map[id.RoomID]bool{mgmt: true})
	if err = alice.WaitForEncryption(ctx, room); err != nil {
		t.Fatalf("the portal is not encrypted: %v", err)
	}
	evt, err := alice.WaitForEvent(ctx, room, "", func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return m != nil && m.Body == "hello, encrypted"
	})
	if err != nil {
		t.Fatalf("the Telegram message did not arrive decryptable: %v", err)
	}

	// What the homeserver stores: ciphertext and the reference, nothing readable.
	var stored struct {
		Type    string                     `json:"type"`
		Content map[string]json.RawMessage `json:"content"`
	}
	if _, err = alice.MakeRequest(ctx, http.MethodGet, alice.BuildClientURL("v3", "rooms", room, "event", evt.ID), nil, &stored); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(stored.Content)
	if stored.Type != event.EventEncrypted.Type || strings.Contains(string(raw), "hello") || stored.Content[portal.RemoteIDKey] != nil {
		t.Errorf("stored event %s %s: want ciphertext only", stored.Type, raw)
	}
	var ref string
	if json.Unmarshal(stored.Content[delivery.RemoteRefKey], &ref) != nil || !strings.Contains(ref, ".") {
		t.Errorf("stored event %s has no remote reference", raw)
	}

	if _, err = alice.SendText(ctx, room, "hi from an encrypted room"); err != nil {
		t.Fatal(err)
	}
	waitTelegram(t, srv, bob.ID(), tgtestserver.UserPeer(me.ID()), "the encrypted answer", func(h []tgtestserver.StoredMessage) bool {
		return tgLastWithText(h, "hi from an encrypted room") != nil
	})
}
