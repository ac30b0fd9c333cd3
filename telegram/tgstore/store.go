// Package tgstore keeps what a gotd client must remember about each Telegram account in the
// bridge database: the MTProto session, the update sequence (pts, qts, date, seq and the pts of
// every channel) and the access hashes Telegram requires to address users and channels. With
// these a restarted bridge resumes the same session and fetches exactly what it missed.
package tgstore

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
)

// Store is the Telegram state of every account bridged by this bridge.
type Store struct {
	db  *dbutil.Database
	log zerolog.Logger
}

// New wraps the bridge database. Call Upgrade before use.
func New(db *dbutil.Database, log zerolog.Logger) *Store {
	log = log.With().Str("component", "telegram_store").Logger()
	return &Store{db: db.Child(VersionTable, upgradeTable, dbutil.ZeroLogger(log)), log: log}
}

// Upgrade creates or migrates the telegram_ tables.
func (s *Store) Upgrade(ctx context.Context) error {
	if err := s.db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade telegram tables: %w", err)
	}
	return nil
}

// DeleteAccount forgets everything about an account: called on logout, so a later login of the
// same account starts from a fresh session and the server's current state.
func (s *Store) DeleteAccount(ctx context.Context, userID int64) error {
	return s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for _, table := range []string{"telegram_session", "telegram_update_state", "telegram_channel_state", "telegram_access_hash"} {
			if _, err := s.db.Exec(ctx, "DELETE FROM "+table+" WHERE user_id=$1", userID); err != nil {
				return fmt.Errorf("delete %s of account %d: %w", table, userID, err)
			}
		}
		return nil
	})
}
