package tgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Kind is the kind of peer an access hash belongs to.
type Kind string

const (
	KindUser    Kind = "u"
	KindChannel Kind = "c"
)

// hashKey names one access hash: the account, the peer's kind and the peer.
type hashKey struct {
	user int64
	kind Kind
	peer int64
}

// maxCachedHashes bounds the in-memory copy (about 40 bytes an entry); past it the copy starts
// again empty and refills from the database.
const maxCachedHashes = 200_000

// hashCache is an in-memory copy of the telegram_access_hash rows this process read or wrote.
// Every incoming message names its sender and chat: gotd's updates manager asks for their
// hashes, and the connector stores the hashes the update carries. Without the copy that was a
// query and an upsert per message on the path to Matrix (docs/performance.md). The store is the
// only writer of the table, so the copy cannot go stale; only hashes found are kept (an unknown
// peer is asked of the database each time).
type hashCache struct {
	mu sync.Mutex
	m  map[hashKey]int64
}

func (c *hashCache) get(k hashKey) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[k]
	return h, ok
}

func (c *hashCache) put(k hashKey, hash int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedHashes {
		c.m = make(map[hashKey]int64)
	}
	c.m[k] = hash
}

func (c *hashCache) forgetAccount(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if k.user == userID {
			delete(c.m, k)
		}
	}
}

// SetAccessHash remembers the hash with which account userID addresses a user or channel. A hash
// already stored with the same value costs no write.
func (s *Store) SetAccessHash(ctx context.Context, userID int64, kind Kind, peerID, hash int64) error {
	if kind != KindUser && kind != KindChannel {
		return fmt.Errorf("set access hash of %d: kind %q is neither %q nor %q", peerID, kind, KindUser, KindChannel)
	}
	key := hashKey{userID, kind, peerID}
	if cached, ok := s.hashes.get(key); ok && cached == hash {
		return nil
	}
	_, err := s.db.Exec(ctx, `
		INSERT INTO telegram_access_hash (user_id, kind, peer_id, access_hash) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, kind, peer_id) DO UPDATE SET access_hash=excluded.access_hash`,
		userID, string(kind), peerID, hash)
	if err != nil {
		return fmt.Errorf("set access hash of %s%d for %d: %w", kind, peerID, userID, err)
	}
	s.hashes.put(key, hash)
	return nil
}

// AccessHash returns the stored hash, and false when none is known.
func (s *Store) AccessHash(ctx context.Context, userID int64, kind Kind, peerID int64) (int64, bool, error) {
	key := hashKey{userID, kind, peerID}
	if cached, ok := s.hashes.get(key); ok {
		return cached, true, nil
	}
	var hash int64
	err := s.db.QueryRow(ctx, "SELECT access_hash FROM telegram_access_hash WHERE user_id=$1 AND kind=$2 AND peer_id=$3",
		userID, string(kind), peerID).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, fmt.Errorf("get access hash of %s%d for %d: %w", kind, peerID, userID, err)
	}
	s.hashes.put(key, hash)
	return hash, true, nil
}
