package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/delivery"
	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
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
	checkReceivedEncrypted(t, ctx, alice, room, "hello, encrypted")

	if _, err = alice.SendText(ctx, room, "hi from an encrypted room"); err != nil {
		t.Fatal(err)
	}
	waitTelegram(t, srv, bob.ID(), tgtestserver.UserPeer(me.ID()), "the encrypted answer", func(h []tgtestserver.StoredMessage) bool {
		return tgLastWithText(h, "hi from an encrypted room") != nil
	})
}

// TestEncryptedWhatsAppPortal is TestEncryptedTelegramPortal for WhatsApp (on SQLite).
func TestEncryptedWhatsAppPortal(t *testing.T) {
	srv, err := watestserver.Start(watestserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer srv.TrustRoot()()
	br := bridgetest.New(t, bridgetest.Options{Binary: passerelleBin, Engine: "sqlite3-fk-wal", Edit: whatsappSection(t, srv)})
	alice := br.Homeserver.NewCryptoUser(t, hstest.UniqueLocalpart("wa-e2ee"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const alicePhone, bobPhone = "33610000701", "33610000702"
	linkWhatsAppQR(t, ctx, br, srv, alice.Client, alicePhone)
	bob, err := srv.NewPhone(ctx, bobPhone, watestserver.PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, err = bob.SendText(ctx, types.NewJID(alicePhone, types.DefaultUserServer), "hello, encrypted"); err != nil {
		t.Fatal(err)
	}
	room := waitInvite(t, ctx, alice.Client)
	if _, err = alice.JoinRoomByID(ctx, room); err != nil {
		t.Fatalf("join portal room: %v", err)
	}
	checkReceivedEncrypted(t, ctx, alice, room, "hello, encrypted")

	from := len(bob.Events.Events())
	if _, err = alice.SendText(ctx, room, "hi from an encrypted room"); err != nil {
		t.Fatal(err)
	}
	waitPhone(t, ctx, bob, from, "hi from an encrypted room")
}

// checkReceivedEncrypted waits until the portal room is encrypted and a message with text
// arrives decryptable at the crypto client, then reads that event as the homeserver stores it:
// ciphertext and the remote message's keyed reference only, nothing of the text nor the remote ID.
func checkReceivedEncrypted(t *testing.T, ctx context.Context, user *hstest.CryptoUser, room id.RoomID, text string) {
	t.Helper()
	if err := user.WaitForEncryption(ctx, room); err != nil {
		t.Fatalf("the portal is not encrypted: %v", err)
	}
	evt, err := user.WaitForEvent(ctx, room, "", func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return m != nil && m.Body == text
	})
	if err != nil {
		t.Fatalf("the message %q did not arrive decryptable: %v", text, err)
	}
	cli, evtID, secret := user.Client, evt.ID, text
	var stored struct {
		Type    string                     `json:"type"`
		Content map[string]json.RawMessage `json:"content"`
	}
	if _, err := cli.MakeRequest(ctx, http.MethodGet, cli.BuildClientURL("v3", "rooms", room, "event", evtID), nil, &stored); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(stored.Content)
	if stored.Type != event.EventEncrypted.Type || strings.Contains(string(raw), secret) || stored.Content[portal.RemoteIDKey] != nil {
		t.Errorf("stored event %s %s: want ciphertext only", stored.Type, raw)
	}
	var ref string
	if json.Unmarshal(stored.Content[delivery.RemoteRefKey], &ref) != nil || !strings.Contains(ref, ".") {
		t.Errorf("stored event %s has no remote reference", raw)
	}
}
