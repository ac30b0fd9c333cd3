package hstest

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestCryptoUsersExchangeEncryptedMessages checks the E2EE client: what alice sends in an
// encrypted room is stored encrypted on the server and bob reads it decrypted.
func TestCryptoUsersExchangeEncryptedMessages(t *testing.T) {
	hs := New(t, Options{})
	alice := hs.NewCryptoUser(t, "alice")
	bob := hs.NewCryptoUser(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat",
		Invite: []id.UserID{bob.UserID},
		InitialState: []*event.Event{{
			Type:    event.StateEncryption,
			Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
		}},
	})
	if err != nil {
		t.Fatalf("create encrypted room: %v", err)
	}
	if _, err = bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatalf("bob joins: %v", err)
	}
	if _, err = alice.WaitForEvent(ctx, room.RoomID, "", func(evt *event.Event) bool {
		return evt.Type == event.StateMember && evt.GetStateKey() == bob.UserID.String() &&
			evt.Content.AsMember().Membership == event.MembershipJoin
	}); err != nil {
		t.Fatalf("alice never saw bob join: %v", err)
	}
	if err = alice.WaitForEncryption(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	sent, err := alice.SendText(ctx, room.RoomID, "secret bonjour")
	if err != nil {
		t.Fatalf("alice sends: %v", err)
	}
	// The room key travels as a to-device message and may arrive after the event: wait for the
	// decrypted form, which replaces the encrypted one in the timeline.
	got, err := bob.WaitForEvent(ctx, room.RoomID, "", func(evt *event.Event) bool {
		return evt.ID == sent.EventID && evt.Type != event.EventEncrypted
	})
	if err != nil {
		t.Fatalf("bob never decrypted alice's message: %v", err)
	}
	if got.Type != event.EventMessage || !got.Mautrix.WasEncrypted {
		t.Fatalf("bob got %s (was encrypted: %v), want a decrypted m.room.message", got.Type.Type, got.Mautrix.WasEncrypted)
	}
	if body := got.Content.AsMessage().Body; body != "secret bonjour" {
		t.Fatalf("bob decrypted %q", body)
	}

	// On the server the message is ciphertext.
	plain, err := hs.Client(bob.UserID, bob.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if _, err = plain.MakeRequest(ctx, "GET", plain.BuildClientURL("v3", "rooms", room.RoomID, "event", sent.EventID), nil, &raw); err != nil {
		t.Fatalf("fetch raw event: %v", err)
	}
	if raw["type"] != event.EventEncrypted.Type {
		t.Fatalf("the server stored the message as %v, want %s", raw["type"], event.EventEncrypted.Type)
	}
}
