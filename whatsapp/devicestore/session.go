package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	"go.mau.fi/whatsmeow/types"
)

// Signal sessions, by signal address ("user:device", with "user_agent" for LIDs).

const (
	getSessionQuery  = `SELECT session FROM whatsmeow_sessions WHERE our_jid=$1 AND their_id=$2`
	hasSessionQuery  = `SELECT 1 FROM whatsmeow_sessions WHERE our_jid=$1 AND their_id=$2`
	putSessionPrefix = `INSERT INTO whatsmeow_sessions (our_jid, their_id, session) VALUES `
	putSessionSuffix = ` ON CONFLICT (our_jid, their_id) DO UPDATE SET session=excluded.session`
	putSessionQuery  = putSessionPrefix + `($1, $2, $3)` + putSessionSuffix

	deleteSessionQuery     = `DELETE FROM whatsmeow_sessions WHERE our_jid=$1 AND their_id=$2`
	deleteAllSessionsQuery = `DELETE FROM whatsmeow_sessions WHERE our_jid=$1 AND substr(their_id, 1, $3)=$2`

	// The migration queries copy rows of "pn:<device>" to "lid:<device>" ($2 = "pn:", $3 = its
	// length, $4 = "lid:"), replacing what the LID side had, then drop the phone-number rows.
	migrateSessionsQuery = `
		INSERT INTO whatsmeow_sessions (our_jid, their_id, session)
		SELECT our_jid, $4 || substr(their_id, $3 + 1), session FROM whatsmeow_sessions
		WHERE our_jid=$1 AND substr(their_id, 1, $3)=$2
		ON CONFLICT (our_jid, their_id) DO UPDATE SET session=excluded.session
	`
	migrateIdentitiesQuery = `
		INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity)
		SELECT our_jid, $4 || substr(their_id, $3 + 1), identity FROM whatsmeow_identity_keys
		WHERE our_jid=$1 AND substr(their_id, 1, $3)=$2
		ON CONFLICT (our_jid, their_id) DO UPDATE SET identity=excluded.identity
	`
	migrateSenderKeysQuery = `
		INSERT INTO whatsmeow_sender_keys (our_jid, chat_id, sender_id, sender_key)
		SELECT our_jid, chat_id, $4 || substr(sender_id, $3 + 1), sender_key FROM whatsmeow_sender_keys
		WHERE our_jid=$1 AND substr(sender_id, 1, $3)=$2
		ON CONFLICT (our_jid, chat_id, sender_id) DO UPDATE SET sender_key=excluded.sender_key
	`
	deleteAllSenderKeysQuery = `DELETE FROM whatsmeow_sender_keys WHERE our_jid=$1 AND substr(sender_id, 1, $3)=$2`
)

// GetSession returns the serialized session, or nil when there is none.
func (s *deviceStore) GetSession(ctx context.Context, address string) ([]byte, error) {
	var sess []byte
	err := s.db.QueryRow(ctx, getSessionQuery, s.jid, address).Scan(&sess)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("get session with %s: %w", address, err)
	}
	return sess, nil
}

// HasSession tells whether a session with the address is stored.
func (s *deviceStore) HasSession(ctx context.Context, address string) (bool, error) {
	var one int
	err := s.db.QueryRow(ctx, hasSessionQuery, s.jid, address).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("check session with %s: %w", address, err)
	}
	return true, nil
}

// GetManySessions returns a map with an entry for every requested address: the session, or nil
// when there is none (whatsmeow reads the nil entries as "no session yet").
func (s *deviceStore) GetManySessions(ctx context.Context, addresses []string) (map[string][]byte, error) {
	if len(addresses) == 0 {
		return nil, nil
	}
	result := make(map[string][]byte, len(addresses))
	for _, addr := range addresses {
		result[addr] = nil
	}
	for chunk := range slices.Chunk(addresses, batchSize) {
		args := make([]any, 0, len(chunk)+1)
		args = append(args, s.jid)
		for _, addr := range chunk {
			args = append(args, addr)
		}
		query := `SELECT their_id, session FROM whatsmeow_sessions WHERE our_jid=$1 AND their_id IN (` +
			placeholders(2, len(chunk)) + `)`
		rows, err := s.db.Query(ctx, query, args...)
		if err != nil {
			return nil, fmt.Errorf("get %d sessions: %w", len(chunk), err)
		}
		for rows.Next() {
			var addr string
			var sess []byte
			if err = rows.Scan(&addr, &sess); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("scan session: %w", err)
			}
			result[addr] = sess
		}
		if err = rows.Close(); err != nil {
			return nil, fmt.Errorf("read sessions: %w", err)
		} else if err = rows.Err(); err != nil {
			return nil, fmt.Errorf("read sessions: %w", err)
		}
	}
	return result, nil
}

// PutSession stores or replaces a session.
func (s *deviceStore) PutSession(ctx context.Context, address string, session []byte) error {
	if _, err := s.db.Exec(ctx, putSessionQuery, s.jid, address, session); err != nil {
		return fmt.Errorf("put session with %s: %w", address, err)
	}
	return nil
}

// PutManySessions stores several sessions atomically (whatsmeow flushes its per-send session
// cache through it).
func (s *deviceStore) PutManySessions(ctx context.Context, sessions map[string][]byte) error {
	if len(sessions) == 0 {
		return nil
	}
	addrs := slices.Sorted(maps.Keys(sessions))
	return s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for chunk := range slices.Chunk(addrs, batchSize) {
			args := make([]any, 0, 1+2*len(chunk))
			args = append(args, s.jid)
			query := putSessionPrefix
			for i, addr := range chunk {
				if i > 0 {
					query += ", "
				}
				query += fmt.Sprintf("($1, $%d, $%d)", 2+2*i, 3+2*i)
				args = append(args, addr, sessions[addr])
			}
			if _, err := s.db.Exec(ctx, query+putSessionSuffix, args...); err != nil {
				return fmt.Errorf("put %d sessions: %w", len(chunk), err)
			}
		}
		return nil
	})
}

// DeleteAllSessions drops the sessions with every device of a user (argument: signal user).
func (s *deviceStore) DeleteAllSessions(ctx context.Context, phone string) error {
	prefix, n := prefixArgs(phone)
	if _, err := s.db.Exec(ctx, deleteAllSessionsQuery, s.jid, prefix, n); err != nil {
		return fmt.Errorf("delete sessions of %s: %w", phone, err)
	}
	return nil
}

// DeleteSession drops the session with one address.
func (s *deviceStore) DeleteSession(ctx context.Context, address string) error {
	if _, err := s.db.Exec(ctx, deleteSessionQuery, s.jid, address); err != nil {
		return fmt.Errorf("delete session with %s: %w", address, err)
	}
	return nil
}

// MigratePNToLID moves the sessions, identity keys and sender keys kept under a user's phone
// number to their LID, once per user and process; whatsmeow calls it whenever it learns which
// LID a phone number it talks to has.
func (s *deviceStore) MigratePNToLID(ctx context.Context, pn, lid types.JID) error {
	pnUser := pn.SignalAddressUser()
	if s.migratedPN.Has(pnUser) {
		return nil
	}
	lidUser := lid.SignalAddressUser()
	pnPrefix, n := prefixArgs(pnUser)
	lidPrefix, _ := prefixArgs(lidUser)
	var moved [3]int64
	err := s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for i, step := range []struct{ what, migrate, clear string }{
			{"sessions", migrateSessionsQuery, deleteAllSessionsQuery},
			{"identity keys", migrateIdentitiesQuery, deleteAllIdentitiesQuery},
			{"sender keys", migrateSenderKeysQuery, deleteAllSenderKeysQuery},
		} {
			res, err := s.db.Exec(ctx, step.migrate, s.jid, pnPrefix, n, lidPrefix)
			if err != nil {
				return fmt.Errorf("copy %s: %w", step.what, err)
			}
			if moved[i], err = res.RowsAffected(); err != nil {
				return fmt.Errorf("count copied %s: %w", step.what, err)
			}
			if _, err = s.db.Exec(ctx, step.clear, s.jid, pnPrefix, n); err != nil {
				return fmt.Errorf("delete migrated %s: %w", step.what, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate signal state of %s to %s: %w", pn, lid, err)
	}
	if !s.inTxn(ctx) {
		s.migratedPN.Add(pnUser)
	}
	if moved != [3]int64{} {
		s.c.log.Info().Str("pn", pnUser).Str("lid", lidUser).
			Int64("sessions", moved[0]).Int64("identity_keys", moved[1]).Int64("sender_keys", moved[2]).
			Msg("Moved signal state from phone number to LID")
	}
	return nil
}
