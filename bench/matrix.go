package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// sourceMatrix names the Matrix client's sync as a receiver.
const sourceMatrix = "matrix"

// syncLoop long-polls /sync for cli and reports the body of every m.room.message in joined rooms
// to arr, stamped with the time the sync response arrived: what a Matrix client shows.
type syncLoop struct {
	cli    *mautrix.Client
	arr    *arrivals
	cancel context.CancelFunc
	done   chan error
}

func startSync(ctx context.Context, cli *mautrix.Client, arr *arrivals) (*syncLoop, error) {
	filter, err := cli.CreateFilter(ctx, &mautrix.Filter{
		Room: &mautrix.RoomFilter{
			// Large enough that a burst never comes back "limited" with events missing.
			Timeline:  &mautrix.FilterPart{Limit: 5000, Types: []event.Type{event.EventMessage}},
			State:     &mautrix.FilterPart{LazyLoadMembers: true},
			Ephemeral: &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}},
		},
		Presence:    &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}},
		AccountData: &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("create sync filter for %s: %w", cli.UserID, err)
	}
	first, err := cli.SyncRequest(ctx, 0, "", filter.FilterID, false, event.PresenceOffline)
	if err != nil {
		return nil, fmt.Errorf("initial sync of %s: %w", cli.UserID, err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &syncLoop{cli: cli, arr: arr, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- s.run(ctx, first.NextBatch, filter.FilterID) }()
	return s, nil
}

func (s *syncLoop) run(ctx context.Context, since, filterID string) error {
	for {
		resp, err := s.cli.SyncRequest(ctx, 30000, since, filterID, false, event.PresenceOffline)
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		since = resp.NextBatch
		for _, room := range resp.Rooms.Join {
			for _, evt := range room.Timeline.Events {
				if evt.Type != event.EventMessage {
					continue
				}
				if body, ok := evt.Content.Raw["body"].(string); ok {
					s.arr.seen(sourceMatrix, body, now)
				}
			}
		}
	}
}

// decryptedArrivals reports every decrypted m.room.message of cli's crypto client (its own
// sync, see hstest.CryptoUser) to arr, stamped when it was decrypted: what an encrypting client
// shows.
func decryptedArrivals(cli *mautrix.Client, arr *arrivals) error {
	syncer, ok := cli.Syncer.(mautrix.ExtensibleSyncer)
	if !ok {
		return fmt.Errorf("the crypto client of %s has no syncer to listen to", cli.UserID)
	}
	syncer.OnEventType(event.EventMessage, func(_ context.Context, evt *event.Event) {
		if evt.Mautrix.EventSource&event.SourceDecrypted == 0 {
			return
		}
		if body, ok := evt.Content.Raw["body"].(string); ok {
			arr.seen(sourceMatrix, body, time.Now())
		}
	})
	return nil
}

func (s *syncLoop) stop() {
	s.cancel()
	<-s.done
}

// joinNextInvite waits until cli is invited to a room that is neither in known nor a space,
// joins it and returns it.
func joinNextInvite(ctx context.Context, cli *mautrix.Client, known map[id.RoomID]bool, timeout time.Duration) (id.RoomID, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		resp, err := cli.SyncRequest(ctx, 0, "", "", false, event.PresenceOffline)
		if err == nil {
			for room, inv := range resp.Rooms.Invite {
				if known[room] || isSpace(inv) {
					continue
				}
				known[room] = true
				if _, err := cli.JoinRoomByID(ctx, room); err != nil {
					return "", fmt.Errorf("%s joins %s: %w", cli.UserID, room, err)
				}
				return room, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", errors.New(cli.UserID.String() + " was not invited to a portal in time")
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
