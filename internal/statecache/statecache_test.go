package statecache

import (
	"context"
	"testing"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

// TestStore: joined answers come from memory once read (the row can vanish under it), every
// membership write through the store makes the next answer come from the database again, and
// the store still satisfies what mautrix asserts on a state store.
func TestStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		sql := sqlstatestore.NewSQLStateStore(db, dbutil.NoopLogger, true)
		if err := sql.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		s := New(sql)
		var _ appservice.StateStore = s
		if _, ok := any(s).(crypto.StateStore); !ok {
			t.Fatal("the cached store does not satisfy crypto.StateStore: the crypto helper would refuse it")
		}
		room, ghost := id.RoomID("!r:example.org"), id.UserID("@ghost:example.org")
		// dropRow removes the membership behind the cache's back, so an answer from memory shows.
		dropRow := func() {
			t.Helper()
			if _, err := db.Exec(ctx, "DELETE FROM mx_user_profile WHERE room_id=$1 AND user_id=$2", room, ghost); err != nil {
				t.Fatal(err)
			}
		}
		steps := []struct {
			name  string
			write func() error
			drop  bool // remove the row after the first read
			want  bool // the answer after the drop
		}{
			{"not joined", func() error { return nil }, false, false},
			{"joined: cached", func() error { return s.SetMembership(ctx, room, ghost, event.MembershipJoin) }, true, true},
			{"left: forgotten", func() error { return s.SetMembership(ctx, room, ghost, event.MembershipLeave) }, false, false},
			{"joined by member event", func() error {
				return s.SetMember(ctx, room, ghost, &event.MemberEventContent{Membership: event.MembershipJoin})
			}, true, true},
			{"kicked by member event", func() error {
				return s.SetMember(ctx, room, ghost, &event.MemberEventContent{Membership: event.MembershipLeave})
			}, false, false},
			{"rejoined then members cleared", func() error {
				if err := s.SetMembership(ctx, room, ghost, event.MembershipJoin); err != nil {
					return err
				}
				if !s.IsInRoom(ctx, room, ghost) {
					t.Fatal("rejoin not seen")
				}
				return s.ClearCachedMembers(ctx, room)
			}, false, false},
			{"members replaced", func() error {
				if err := s.SetMembership(ctx, room, ghost, event.MembershipJoin); err != nil {
					return err
				}
				_ = s.IsInRoom(ctx, room, ghost)
				key := ghost.String()
				return s.ReplaceCachedMembers(ctx, room, []*event.Event{{
					Type: event.StateMember, StateKey: &key, RoomID: room,
					Content: event.Content{Parsed: &event.MemberEventContent{Membership: event.MembershipLeave}},
				}})
			}, false, false},
		}
		for _, st := range steps {
			if err := st.write(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			first := s.IsInRoom(ctx, room, ghost)
			if st.drop {
				if !first {
					t.Fatalf("%s: not joined after the write", st.name)
				}
				dropRow()
			}
			if got := s.IsInRoom(ctx, room, ghost); got != st.want {
				t.Fatalf("%s: IsInRoom = %v, want %v", st.name, got, st.want)
			}
		}
	})
}
