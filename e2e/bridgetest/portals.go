package bridgetest

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// JoinNextPortal waits until the user is invited to a room not in known (a portal the bridge just
// created), joins it, adds it to known and returns it. Invites to spaces (bridgev2's personal
// filtering space) are joined and recorded in known along the way, never returned. It works for
// a hstest.CryptoUser's Client too: the invite is read with a separate full-state /sync request.
func JoinNextPortal(t testing.TB, cli *mautrix.Client, known map[id.RoomID]bool) id.RoomID {
	t.Helper()
	if known == nil {
		known = map[id.RoomID]bool{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), ReplyTimeout)
	defer cancel()
	var lastErr error
	for {
		resp, err := cli.SyncRequest(ctx, 0, "", "", false, event.PresenceOffline)
		if err != nil {
			lastErr = err
		} else {
			// Join every new space first, then return one new room; other new rooms are left
			// for the next call.
			var next id.RoomID
			for room, inv := range resp.Rooms.Invite {
				switch {
				case known[room]:
				case isSpace(inv):
					known[room] = true
					if _, err := cli.JoinRoomByID(ctx, room); err != nil {
						t.Fatalf("bridgetest: %s joins space %s: %v", cli.UserID, room, err)
					}
				case next == "" || room < next:
					next = room
				}
			}
			if next != "" {
				known[next] = true
				if _, err := cli.JoinRoomByID(ctx, next); err != nil {
					t.Fatalf("bridgetest: %s joins %s: %v", cli.UserID, next, err)
				}
				return next
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("bridgetest: %s was not invited to a new portal within %s (last sync error: %v)", cli.UserID, ReplyTimeout, lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func isSpace(inv *mautrix.SyncInvitedRoom) bool {
	for _, evt := range inv.State.Events {
		if evt.Type == event.StateCreate {
			_ = evt.Content.ParseRaw(evt.Type)
			if c := evt.Content.AsCreate(); c != nil && c.Type == event.RoomTypeSpace {
				return true
			}
		}
	}
	return false
}
