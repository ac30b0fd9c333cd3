package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Identity keys of the people we have Signal sessions with, by signal address ("user:device").

const (
	putIdentityQuery = `
		INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity) VALUES ($1, $2, $3)
		ON CONFLICT (our_jid, their_id) DO UPDATE SET identity=excluded.identity
		WHERE whatsmeow_identity_keys.identity<>excluded.identity
	`
	getIdentityQuery         = `SELECT identity FROM whatsmeow_identity_keys WHERE our_jid=$1 AND their_id=$2`
	deleteIdentityQuery      = `DELETE FROM whatsmeow_identity_keys WHERE our_jid=$1 AND their_id=$2`
	deleteAllIdentitiesQuery = `DELETE FROM whatsmeow_identity_keys WHERE our_jid=$1 AND substr(their_id, 1, $3)=$2`
)

// PutIdentity stores or replaces the identity key of a signal address. libsignal saves the key
// with every message it decrypts; an unchanged key is not rewritten (no new row version, no
// write to log), so the common case costs the database a lookup only.
func (s *deviceStore) PutIdentity(ctx context.Context, address string, key [32]byte) error {
	if _, err := s.db.Exec(ctx, putIdentityQuery, s.jid, address, key[:]); err != nil {
		return guarded(ctx, fmt.Errorf("put identity of %s: %w", address, err))
	}
	return nil
}

// DeleteAllIdentities forgets the identity keys of every device of a user (the argument is the
// signal user, e.g. the phone number); whatsmeow calls it when the user's identity changed.
func (s *deviceStore) DeleteAllIdentities(ctx context.Context, phone string) error {
	prefix, n := prefixArgs(phone)
	if _, err := s.db.Exec(ctx, deleteAllIdentitiesQuery, s.jid, prefix, n); err != nil {
		return fmt.Errorf("delete identities of %s: %w", phone, err)
	}
	return nil
}

// DeleteIdentity forgets the identity key of one signal address.
func (s *deviceStore) DeleteIdentity(ctx context.Context, address string) error {
	if _, err := s.db.Exec(ctx, deleteIdentityQuery, s.jid, address); err != nil {
		return fmt.Errorf("delete identity of %s: %w", address, err)
	}
	return nil
}

// IsTrustedIdentity trusts on first use: an unknown address is trusted (libsignal saves its key
// afterwards); a known one is trusted only if the key is unchanged.
func (s *deviceStore) IsTrustedIdentity(ctx context.Context, address string, key [32]byte) (bool, error) {
	var stored []byte
	err := s.db.QueryRow(ctx, getIdentityQuery, s.jid, address).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	} else if err != nil {
		return false, guarded(ctx, fmt.Errorf("get identity of %s: %w", address, err))
	} else if len(stored) != 32 {
		return false, fmt.Errorf("identity of %s: stored key is %d bytes, want 32", address, len(stored))
	}
	return [32]byte(stored) == key, nil
}
