package tgstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram/updates"
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

func newStore(t *testing.T, db *dbutil.Database) *Store {
	t.Helper()
	s := New(db, zerolog.Nop())
	if err := s.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessionRoundTrip(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		s := newStore(t, db)
		a, b := s.Session(1), s.Session(2)
		if _, err := a.LoadSession(ctx); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("empty store: got %v, want session.ErrNotFound", err)
		}
		if err := a.StoreSession(ctx, []byte("first")); err != nil {
			t.Fatal(err)
		}
		if err := a.StoreSession(ctx, []byte("second")); err != nil {
			t.Fatal(err)
		}
		if err := b.StoreSession(ctx, []byte("other")); err != nil {
			t.Fatal(err)
		}
		if err := a.StoreSession(ctx, nil); err == nil {
			t.Fatal("empty session was accepted")
		}
		for _, c := range []struct {
			st   *SessionStorage
			want string
		}{{a, "second"}, {b, "other"}} {
			got, err := c.st.LoadSession(ctx)
			if err != nil || string(got) != c.want {
				t.Fatalf("account %d: got %q, %v; want %q", c.st.userID, got, err, c.want)
			}
		}
		if err := s.DeleteAccount(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := a.LoadSession(ctx); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("after DeleteAccount: got %v, want session.ErrNotFound", err)
		}
		if got, err := b.LoadSession(ctx); err != nil || string(got) != "other" {
			t.Fatalf("DeleteAccount touched another account: %q, %v", got, err)
		}
	})
}

func TestStateKeepsChannelPts(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		st := newStore(t, db).State()
		if _, found, err := st.GetState(ctx, 7); found || err != nil {
			t.Fatalf("empty: found=%v err=%v", found, err)
		}
		if err := st.SetPts(ctx, 7, 3); !errors.Is(err, ErrNoState) {
			t.Fatalf("SetPts without state: got %v, want ErrNoState", err)
		}
		if err := st.SetState(ctx, 7, updates.State{Pts: 10, Qts: 2, Date: 100, Seq: 5}); err != nil {
			t.Fatal(err)
		}
		for _, ch := range []struct {
			id  int64
			pts int
		}{{500, 40}, {300, 7}, {500, 41}} {
			if err := st.SetChannelPts(ctx, 7, ch.id, ch.pts); err != nil {
				t.Fatal(err)
			}
		}
		// A new state from getDifference must not wipe the channels (gotd's memory storage does).
		if err := st.SetState(ctx, 7, updates.State{Pts: 20, Qts: 3, Date: 200, Seq: 6}); err != nil {
			t.Fatal(err)
		}
		steps := []func() error{
			func() error { return st.SetPts(ctx, 7, 21) },
			func() error { return st.SetQts(ctx, 7, 4) },
			func() error { return st.SetDate(ctx, 7, 201) },
			func() error { return st.SetSeq(ctx, 7, 7) },
			func() error { return st.SetDateSeq(ctx, 7, 202, 8) },
		}
		for i, step := range steps {
			if err := step(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		got, found, err := st.GetState(ctx, 7)
		if want := (updates.State{Pts: 21, Qts: 4, Date: 202, Seq: 8}); err != nil || !found || got != want {
			t.Fatalf("state: got %+v found=%v err=%v, want %+v", got, found, err, want)
		}
		channels := map[int64]int{}
		if err := st.ForEachChannels(ctx, 7, func(ctx context.Context, id int64, pts int) error {
			channels[id] = pts
			// Writing while iterating must work on single-connection SQLite.
			return st.SetChannelPts(ctx, 7, id, pts)
		}); err != nil {
			t.Fatal(err)
		}
		if len(channels) != 2 || channels[500] != 41 || channels[300] != 7 {
			t.Fatalf("channels after SetState: %v, want map[300:7 500:41]", channels)
		}
		if pts, found, err := st.GetChannelPts(ctx, 7, 500); pts != 41 || !found || err != nil {
			t.Fatalf("GetChannelPts: %d %v %v", pts, found, err)
		}
		if _, found, _ := st.GetChannelPts(ctx, 8, 500); found {
			t.Fatal("channel pts leaked to another account")
		}
	})
}

func TestAccessHashes(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		s := newStore(t, db)
		st := s.State()
		if err := st.SetChannelAccessHash(ctx, 1, 99, -5); err != nil {
			t.Fatal(err)
		}
		if err := st.SetUserAccessHash(ctx, 1, 99, 42); err != nil {
			t.Fatal(err)
		}
		if err := st.SetUserAccessHash(ctx, 1, 99, 43); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAccessHash(ctx, 1, Kind("x"), 1, 1); err == nil {
			t.Fatal("unknown kind accepted")
		}
		tests := []struct {
			name  string
			get   func() (int64, bool, error)
			want  int64
			found bool
		}{
			{"channel", func() (int64, bool, error) { return st.GetChannelAccessHash(ctx, 1, 99) }, -5, true},
			{"user replaced", func() (int64, bool, error) { return st.GetUserAccessHash(ctx, 1, 99) }, 43, true},
			{"other viewer", func() (int64, bool, error) { return st.GetUserAccessHash(ctx, 2, 99) }, 0, false},
			{"unknown", func() (int64, bool, error) { return s.AccessHash(ctx, 1, KindChannel, 100) }, 0, false},
		}
		for _, tc := range tests {
			got, found, err := tc.get()
			if err != nil || got != tc.want || found != tc.found {
				t.Errorf("%s: got %d found=%v err=%v, want %d found=%v", tc.name, got, found, err, tc.want, tc.found)
			}
		}
		// Written through: another store on the same database reads the latest hash.
		if got, found, err := newStore(t, db).AccessHash(ctx, 1, KindUser, 99); err != nil || !found || got != 43 {
			t.Fatalf("fresh store: got %d found=%v err=%v, want 43", got, found, err)
		}
		// Read from memory once known: the row going away behind the store's back (it is the
		// table's only writer) does not cost a query or change the answer.
		if _, err := db.Exec(ctx, "DELETE FROM telegram_access_hash WHERE user_id=1 AND kind='c'"); err != nil {
			t.Fatal(err)
		}
		if got, found, err := s.AccessHash(ctx, 1, KindChannel, 99); err != nil || !found || got != -5 {
			t.Fatalf("cached channel hash: got %d found=%v err=%v, want -5", got, found, err)
		}
		// An unchanged hash is not written again; a changed one is.
		if err := s.SetAccessHash(ctx, 1, KindChannel, 99, -5); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := newStore(t, db).AccessHash(ctx, 1, KindChannel, 99); found {
			t.Fatal("an unchanged hash was written again")
		}
		if err := s.SetAccessHash(ctx, 1, KindChannel, 99, -6); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := newStore(t, db).AccessHash(ctx, 1, KindChannel, 99); got != -6 {
			t.Fatalf("changed hash in the database: %d, want -6", got)
		}
		// Logout forgets the copy too.
		if err := s.DeleteAccount(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, found, err := s.AccessHash(ctx, 1, KindUser, 99); found || err != nil {
			t.Fatalf("after DeleteAccount: found=%v err=%v, want nothing", found, err)
		}
	})
}

func TestGateDropsWritesWhileHeld(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		s := newStore(t, db)
		g := s.Gate()
		if err := g.SetState(ctx, 1, updates.State{Pts: 5, Qts: 1, Date: 10, Seq: 1}); err != nil {
			t.Fatal(err)
		}
		if err := g.SetChannelPts(ctx, 1, 77, 3); err != nil {
			t.Fatal(err)
		}
		g.Hold()
		writes := []func() error{
			func() error { return g.SetPts(ctx, 1, 9) },
			func() error { return g.SetQts(ctx, 1, 9) },
			func() error { return g.SetDate(ctx, 1, 99) },
			func() error { return g.SetSeq(ctx, 1, 9) },
			func() error { return g.SetDateSeq(ctx, 1, 99, 9) },
			func() error { return g.SetState(ctx, 1, updates.State{Pts: 9, Qts: 9, Date: 99, Seq: 9}) },
			func() error { return g.SetChannelPts(ctx, 1, 77, 9) },
		}
		for i, w := range writes {
			if err := w(); err != nil {
				t.Fatalf("held write %d: %v", i, err)
			}
		}
		got, _, _ := g.GetState(ctx, 1)
		if want := (updates.State{Pts: 5, Qts: 1, Date: 10, Seq: 1}); got != want {
			t.Fatalf("held gate saved a position: %+v, want %+v", got, want)
		}
		if pts, _, _ := g.GetChannelPts(ctx, 1, 77); pts != 3 {
			t.Fatalf("held gate saved channel pts %d, want 3", pts)
		}
		g.Release()
		if err := g.SetPts(ctx, 1, 6); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := g.GetState(ctx, 1); got.Pts != 6 {
			t.Fatalf("released gate did not save pts: %+v", got)
		}
	})
}

// TestGateWritesBehind: positions handed to the gate are written in the background, read back
// through the gate at once, survive a database that refuses the write for a while (they stay
// pending and are written once it answers, newer values winning), and positions handed over
// before Hold are still written.
func TestGateWritesBehind(t *testing.T) {
	defer func(d time.Duration) { flushRetry = d }(flushRetry)
	flushRetry = 20 * time.Millisecond
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s := newStore(t, db)
		g := s.Gate()
		if err := g.SetState(ctx, 1, updates.State{Pts: 1, Qts: 1, Date: 1, Seq: 1}); err != nil {
			t.Fatal(err)
		}
		for pts := 2; pts <= 200; pts++ {
			_ = g.SetPts(ctx, 1, pts)
			_ = g.SetChannelPts(ctx, 1, 77, pts*2)
		}
		_ = g.SetDateSeq(ctx, 1, 50, 5)
		_ = g.SetQts(ctx, 1, 7)
		want := updates.State{Pts: 200, Qts: 7, Date: 50, Seq: 5}
		if got, _, err := g.GetState(ctx, 1); err != nil || got != want {
			t.Fatalf("through the gate: %+v (%v), want %+v", got, err, want)
		}
		// What the database holds, read past the gate.
		if got, _, err := s.State().GetState(ctx, 1); err != nil || got != want {
			t.Fatalf("in the database: %+v (%v), want %+v", got, err, want)
		}
		if pts, _, _ := s.State().GetChannelPts(ctx, 1, 77); pts != 400 {
			t.Fatalf("channel pts in the database %d, want 400", pts)
		}

		// The database refuses the write (the table is gone for a moment).
		if _, err := db.Exec(ctx, "ALTER TABLE telegram_update_state RENAME TO telegram_update_state_away"); err != nil {
			t.Fatal(err)
		}
		_ = g.SetPts(ctx, 1, 201)
		time.Sleep(5 * flushRetry)
		_ = g.SetPts(ctx, 1, 202) // newer than the failed batch
		_ = g.SetQts(ctx, 1, 8)
		g.Hold() // a later hand-off failed: what came before is still written
		_ = g.SetPts(ctx, 1, 203)
		short, cancelShort := context.WithTimeout(ctx, 3*flushRetry)
		err := g.Flush(short)
		cancelShort()
		if err == nil {
			t.Fatal("Flush returned while the database refused every write")
		}
		if _, err := db.Exec(ctx, "ALTER TABLE telegram_update_state_away RENAME TO telegram_update_state"); err != nil {
			t.Fatal(err)
		}
		if err := g.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		want = updates.State{Pts: 202, Qts: 8, Date: 50, Seq: 5}
		if got, _, err := s.State().GetState(ctx, 1); err != nil || got != want {
			t.Fatalf("after the database came back: %+v (%v), want %+v (203 was held)", got, err, want)
		}
	})
}
