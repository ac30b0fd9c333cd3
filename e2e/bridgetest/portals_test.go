package bridgetest

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/hstest"
)

func TestJoinNextPortal(t *testing.T) {
	hs := hstest.New(t, hstest.Options{})
	ctx := context.Background()
	alice := hs.NewUser(t, "alice")
	bob := hs.NewUser(t, "bob")
	space, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset:          "private_chat",
		Invite:          []id.UserID{bob.UserID},
		CreationContent: map[string]any{"type": event.RoomTypeSpace},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Invites to different rooms may reach the sync stream in any order: make sure the space's
	// is visible before the portal exists, so the call must deal with both.
	for deadline := time.Now().Add(ReplyTimeout); ; time.Sleep(100 * time.Millisecond) {
		resp, err := bob.SyncRequest(ctx, 0, "", "", false, event.PresenceOffline)
		if err == nil && resp.Rooms.Invite[space.RoomID] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob never saw the space invite (last error %v)", err)
		}
	}
	known := map[id.RoomID]bool{}
	old, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	known[old.RoomID] = true
	portal, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}

	if got := JoinNextPortal(t, bob, known); got != portal.RoomID {
		t.Fatalf("JoinNextPortal returned %s, want the new room %s (space %s, known %s)", got, portal.RoomID, space.RoomID, old.RoomID)
	}
	if !known[space.RoomID] || !known[portal.RoomID] {
		t.Errorf("known after the call: %v", known)
	}
	joined, err := bob.JoinedRooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	has := map[id.RoomID]bool{}
	for _, r := range joined.JoinedRooms {
		has[r] = true
	}
	if !has[portal.RoomID] || !has[space.RoomID] || has[old.RoomID] {
		t.Errorf("bob's rooms %v: want the portal and the space joined, the known room left alone", joined.JoinedRooms)
	}
}
