package hstest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	_ "go.mau.fi/util/dbutil/litestream" // registers the sqlite3-fk-wal driver the crypto store uses
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// CryptoUser is a registered user whose client does end-to-end encryption (mautrix's crypto
// helper with goolm, keys in an SQLite file) and syncs in the background, like a user's Element
// would. Bridged rooms are encrypted by default, so tests that read what the bridge posts there
// need one. SendText and friends on the embedded Client encrypt automatically in encrypted rooms
// once the sync has seen the room's m.room.encryption state (see WaitForEncryption).
type CryptoUser struct {
	*mautrix.Client
	// Helper is the crypto helper, for tests that need the OlmMachine.
	Helper *cryptohelper.CryptoHelper

	mu        sync.Mutex
	timeline  map[id.RoomID][]*event.Event
	changed   chan struct{}
	syncErr   error
	stop      func()
	closeOnce sync.Once
}

// NewCryptoUser registers @localpart:localhost (password Password(localpart)), sets up its crypto
// (device keys and one-time keys uploaded) and starts syncing; everything stops when the test ends.
func (hs *Homeserver) NewCryptoUser(t testing.TB, localpart string) *CryptoUser {
	t.Helper()
	u, err := hs.StartCryptoUser(context.Background(), localpart, filepath.Join(t.TempDir(), "crypto.db"))
	if err != nil {
		t.Fatalf("hstest: %v", err)
	}
	t.Cleanup(u.Close)
	return u
}

// StartCryptoUser is NewCryptoUser without a testing.TB: the crypto store is the SQLite file at
// dbPath; call Close when done.
func (hs *Homeserver) StartCryptoUser(ctx context.Context, localpart, dbPath string) (*CryptoUser, error) {
	cli, err := hs.RegisterUser(ctx, localpart, Password(localpart))
	if err != nil {
		return nil, err
	}
	syncer := &quickRetrySyncer{DefaultSyncer: mautrix.NewDefaultSyncer()}
	cli.Syncer = syncer
	helper, err := cryptohelper.NewCryptoHelper(cli, []byte("passerelle-hstest-pickle-key"), dbPath)
	if err != nil {
		return nil, fmt.Errorf("crypto for %s: %w", cli.UserID, err)
	}
	if err = helper.Init(ctx); err != nil {
		return nil, fmt.Errorf("crypto init for %s: %w", cli.UserID, err)
	}
	cli.Crypto = helper
	u := &CryptoUser{Client: cli, Helper: helper, timeline: map[id.RoomID][]*event.Event{}, changed: make(chan struct{})}
	syncer.OnEvent(u.record)
	// The sync runs until Close; an error that ends it is reported by WaitForEvent.
	syncCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := cli.SyncWithContext(syncCtx)
		if err != nil && !errors.Is(err, context.Canceled) {
			u.mu.Lock()
			u.syncErr = err
			u.notifyLocked()
			u.mu.Unlock()
		}
	}()
	u.stop = func() {
		cancel()
		cli.StopSync()
		<-done
		_ = helper.Close()
	}
	return u, nil
}

// Close stops the sync loop and closes the crypto store.
func (u *CryptoUser) Close() {
	u.closeOnce.Do(u.stop)
}

// record keeps timeline events in arrival order; a decrypted event replaces its encrypted form
// in place, so "after event X" keeps meaning sync order even when keys arrive late.
func (u *CryptoUser) record(_ context.Context, evt *event.Event) {
	src := evt.Mautrix.EventSource
	if src&(event.SourceTimeline|event.SourceDecrypted) == 0 || evt.RoomID == "" || evt.ID == "" {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	events := u.timeline[evt.RoomID]
	if i := slices.IndexFunc(events, func(e *event.Event) bool { return e.ID == evt.ID }); i >= 0 {
		if src&event.SourceDecrypted != 0 {
			events[i] = evt
		}
	} else {
		u.timeline[evt.RoomID] = append(events, evt)
	}
	u.notifyLocked()
}

func (u *CryptoUser) notifyLocked() {
	close(u.changed)
	u.changed = make(chan struct{})
}

// Timeline returns the room's events seen so far, in sync order, decrypted where possible.
func (u *CryptoUser) Timeline(room id.RoomID) []*event.Event {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.timeline[room])
}

// WaitForEvent waits until an event that arrived after `after` (any event when after is empty)
// satisfies match; decrypted events are offered in decrypted form, undecryptable ones as
// m.room.encrypted.
func (u *CryptoUser) WaitForEvent(ctx context.Context, room id.RoomID, after id.EventID, match func(*event.Event) bool) (*event.Event, error) {
	for {
		u.mu.Lock()
		events, changed, syncErr := u.timeline[room], u.changed, u.syncErr
		u.mu.Unlock()
		if syncErr != nil {
			return nil, fmt.Errorf("%s: sync stopped: %w", u.UserID, syncErr)
		}
		start := 0
		if after != "" {
			start = slices.IndexFunc(events, func(e *event.Event) bool { return e.ID == after }) + 1
		}
		if after == "" || start > 0 {
			for _, evt := range events[start:] {
				if match(evt) {
					return evt, nil
				}
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: no matching event after %q in %s: %w", u.UserID, after, room, ctx.Err())
		}
	}
}

// WaitForEncryption waits until the sync has told the client that the room is encrypted, so
// that the next send is encrypted rather than sent in clear.
func (u *CryptoUser) WaitForEncryption(ctx context.Context, room id.RoomID) error {
	for {
		enc, err := u.StateStore.IsEncrypted(ctx, room)
		if err != nil {
			return fmt.Errorf("%s: check encryption of %s: %w", u.UserID, room, err)
		}
		if enc {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s never showed as encrypted: %w", u.UserID, room, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// quickRetrySyncer retries a failed /sync after half a second instead of mautrix's 10 s, so a
// test that restarts the homeserver does not wait on its own client.
type quickRetrySyncer struct {
	*mautrix.DefaultSyncer
}

func (s *quickRetrySyncer) OnFailedSync(_ *mautrix.RespSync, err error) (time.Duration, error) {
	if errors.Is(err, mautrix.MUnknownToken) {
		return 0, err
	}
	return 500 * time.Millisecond, nil
}
