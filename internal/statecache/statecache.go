// Package statecache keeps in memory which users the bridge's appservice knows to be joined to
// which rooms. mautrix's appservice intent asks the state store before every send whether the
// sender is joined (EnsureJoined), which is a database query on the path of every bridged
// message, for an answer that changes only when a membership event passes through the same
// store. The cache sits in front of mautrix's SQL state store as the appservice's store, keeps
// only "joined" answers, and forgets a room's answers on every membership change written
// through it.
package statecache

import (
	"context"
	"sync"

	"maunium.net/go/mautrix/bridgev2/matrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"
)

// maxEntries bounds the cache; past it the cache starts over.
const maxEntries = 200_000

// Store is mautrix's SQL state store with the joined answers cached. It embeds the SQL store,
// so it satisfies every interface that store does (the crypto helper asserts one); only the
// membership methods are overridden.
type Store struct {
	*sqlstatestore.SQLStateStore

	mu     sync.Mutex
	joined map[id.RoomID]map[id.UserID]struct{}
	// gen counts membership writes: a lookup that saw a write begin while it read the database
	// does not cache its answer, which may be older than the write.
	gen     uint64
	entries int
}

// New wraps store.
func New(store *sqlstatestore.SQLStateStore) *Store {
	return &Store{SQLStateStore: store, joined: map[id.RoomID]map[id.UserID]struct{}{}}
}

// IsInRoom answers from memory when the user is known to be joined, else from the database.
func (s *Store) IsInRoom(ctx context.Context, roomID id.RoomID, userID id.UserID) bool {
	s.mu.Lock()
	_, ok := s.joined[roomID][userID]
	gen := s.gen
	s.mu.Unlock()
	if ok {
		return true
	}
	in := s.SQLStateStore.IsInRoom(ctx, roomID, userID)
	if in {
		s.mu.Lock()
		if s.gen == gen {
			if s.entries >= maxEntries {
				s.joined, s.entries = map[id.RoomID]map[id.UserID]struct{}{}, 0
			}
			users := s.joined[roomID]
			if users == nil {
				users = map[id.UserID]struct{}{}
				s.joined[roomID] = users
			}
			if _, had := users[userID]; !had {
				users[userID] = struct{}{}
				s.entries++
			}
		}
		s.mu.Unlock()
	}
	return in
}

// forget drops a user's answer (or the whole room's when userID is empty) before a write.
func (s *Store) forget(roomID id.RoomID, userID id.UserID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if userID == "" {
		s.entries -= len(s.joined[roomID])
		delete(s.joined, roomID)
		return
	}
	if _, ok := s.joined[roomID][userID]; ok {
		delete(s.joined[roomID], userID)
		s.entries--
	}
}

// The writes forget first and again after: a lookup running alongside cannot cache an answer
// read before the write landed.

func (s *Store) SetMembership(ctx context.Context, roomID id.RoomID, userID id.UserID, membership event.Membership) error {
	s.forget(roomID, userID)
	defer s.forget(roomID, userID)
	return s.SQLStateStore.SetMembership(ctx, roomID, userID, membership)
}

func (s *Store) SetMember(ctx context.Context, roomID id.RoomID, userID id.UserID, member *event.MemberEventContent) error {
	s.forget(roomID, userID)
	defer s.forget(roomID, userID)
	return s.SQLStateStore.SetMember(ctx, roomID, userID, member)
}

func (s *Store) ClearCachedMembers(ctx context.Context, roomID id.RoomID, memberships ...event.Membership) error {
	s.forget(roomID, "")
	defer s.forget(roomID, "")
	return s.SQLStateStore.ClearCachedMembers(ctx, roomID, memberships...)
}

func (s *Store) ReplaceCachedMembers(ctx context.Context, roomID id.RoomID, evts []*event.Event, onlyMemberships ...event.Membership) error {
	s.forget(roomID, "")
	defer s.forget(roomID, "")
	return s.SQLStateStore.ReplaceCachedMembers(ctx, roomID, evts, onlyMemberships...)
}

// Install puts the cache in front of the Matrix connector's state store for every client the
// appservice makes from now on and for the bridge bot (made during the connector's Init). Call
// it after mxmain's Init and before Start, when no ghost client exists yet; the connector's own
// encryption checks keep reading the SQL store directly.
func Install(mx *matrix.Connector) *Store {
	s := New(mx.StateStore)
	mx.AS.StateStore = s
	if mx.Bot != nil {
		mx.Bot.StateStore = s
	}
	return s
}
