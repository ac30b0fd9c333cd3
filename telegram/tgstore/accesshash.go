package tgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Kind is the kind of peer an access hash belongs to.
type Kind string

const (
	KindUser    Kind = "u"
	KindChannel Kind = "c"
)

// SetAccessHash remembers the hash with which account userID addresses a user or channel.
func (s *Store) SetAccessHash(ctx context.Context, userID int64, kind Kind, peerID, hash int64) error {
	if kind != KindUser && kind != KindChannel {
		return fmt.Errorf("set access hash of %d: kind %q is neither %q nor %q", peerID, kind, KindUser, KindChannel)
	}
	_, err := s.db.Exec(ctx, `
		INSERT INTO telegram_access_hash (user_id, kind, peer_id, access_hash) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, kind, peer_id) DO UPDATE SET access_hash=excluded.access_hash`,
		userID, string(kind), peerID, hash)
	if err != nil {
		return fmt.Errorf("set access hash of %s%d for %d: %w", kind, peerID, userID, err)
	}
	return nil
}

// AccessHash returns the stored hash, and false when none is known.
func (s *Store) AccessHash(ctx context.Context, userID int64, kind Kind, peerID int64) (int64, bool, error) {
	var hash int64
	err := s.db.QueryRow(ctx, "SELECT access_hash FROM telegram_access_hash WHERE user_id=$1 AND kind=$2 AND peer_id=$3",
		userID, string(kind), peerID).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, fmt.Errorf("get access hash of %s%d for %d: %w", kind, peerID, userID, err)
	}
	return hash, true, nil
}
