// Package tgstore keeps what a gotd client must remember about each Telegram account in the
// bridge database: the MTProto session, the update sequence (pts, qts, date, seq and the pts of
// every channel) and the access hashes Telegram requires to address users and channels. With
// these a restarted bridge resumes the same session and fetches exactly what it missed.
package tgstore

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/secrets"
)

// Store is the Telegram state of every account bridged by this bridge.
type Store struct {
	db  *dbutil.Database
	log zerolog.Logger

	// ring is the keyring given with WithKeyring (ringSet), else loaded from the environment
	// by Upgrade; sealer is what Upgrade activated.
	ring    *secrets.Keyring
	ringSet bool
	sealer  atomic.Pointer[secrets.Sealer]

	hashes hashCache
}

// New wraps the bridge database. Call Upgrade before use. Session secrets are encrypted with
// the keyring from WithKeyring, or by default with the one configured in the environment (see
// package secrets).
func New(db *dbutil.Database, log zerolog.Logger, opts ...Option) *Store {
	log = log.With().Str("component", "telegram_store").Logger()
	s := &Store{db: db.Child(VersionTable, upgradeTable, dbutil.ZeroLogger(log)), log: log}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Upgrade creates or migrates the telegram_ tables, then sets up secret encryption
// (secrets.Activate): it encrypts stored plaintext sessions once a key is configured, and fails
// when the database is encrypted but the needed keys are not configured.
func (s *Store) Upgrade(ctx context.Context) error {
	if err := s.db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade telegram tables: %w", err)
	}
	if err := s.activateSecrets(ctx); err != nil {
		return fmt.Errorf("telegram store: %w", err)
	}
	return nil
}

// DeleteAccount forgets everything about an account: called on logout, so a later login of the
// same account starts from a fresh session and the server's current state.
func (s *Store) DeleteAccount(ctx context.Context, userID int64) error {
	// Forgotten before and after: a concurrent read cannot leave a deleted hash in the copy.
	s.hashes.forgetAccount(userID)
	defer s.hashes.forgetAccount(userID)
	return s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for _, table := range []string{"telegram_session", "telegram_update_state", "telegram_channel_state", "telegram_access_hash"} {
			if _, err := s.db.Exec(ctx, "DELETE FROM "+table+" WHERE user_id=$1", userID); err != nil {
				return fmt.Errorf("delete %s of account %d: %w", table, userID, err)
			}
		}
		return nil
	})
}
