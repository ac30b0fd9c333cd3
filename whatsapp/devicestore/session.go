package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

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

	// The identity key migration copies rows of "pn:<device>" to "lid:<device>" ($2 = "pn:",
	// $3 = its length, $4 = "lid:"), replacing what the LID side had. Identity keys are public;
	// sessions and sender keys are sealed to their row, so moveSessions and moveSenderKeys
	// re-seal them in Go instead.
	migrateIdentitiesQuery = `
		INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity)
		SELECT our_jid, $4 || substr(their_id, $3 + 1), identity FROM whatsmeow_identity_keys
		WHERE our_jid=$1 AND substr(their_id, 1, $3)=$2
		ON CONFLICT (our_jid, their_id) DO UPDATE SET identity=excluded.identity
	`
	getSessionsByPrefixQuery   = `SELECT their_id, session FROM whatsmeow_sessions WHERE our_jid=$1 AND substr(their_id, 1, $3)=$2`
	getSenderKeysByPrefixQuery = `SELECT chat_id, sender_id, sender_key FROM whatsmeow_sender_keys WHERE our_jid=$1 AND substr(sender_id, 1, $3)=$2`
	deleteAllSenderKeysQuery   = `DELETE FROM whatsmeow_sender_keys WHERE our_jid=$1 AND substr(sender_id, 1, $3)=$2`
)

// GetSession returns the serialized session, or nil when there is none.
func (s *deviceStore) GetSession(ctx context.Context, address string) ([]byte, error) {
	var sess []byte
	err := s.db.QueryRow(ctx, getSessionQuery, s.jid, address).Scan(&sess)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, guarded(ctx, fmt.Errorf("get session with %s: %w", address, err))
	}
	return s.c.open(colSession.Ref(s.jid, address), sess)
}

// HasSession tells whether a session with the address is stored.
func (s *deviceStore) HasSession(ctx context.Context, address string) (bool, error) {
	var one int
	err := s.db.QueryRow(ctx, hasSessionQuery, s.jid, address).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, guarded(ctx, fmt.Errorf("check session with %s: %w", address, err))
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
			if result[addr], err = s.c.open(colSession.Ref(s.jid, addr), sess); err != nil {
				_ = rows.Close()
				return nil, err
			}
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
	sealed, err := s.c.seal(colSession.Ref(s.jid, address), session)
	if err != nil {
		return fmt.Errorf("put session with %s: %w", address, err)
	}
	if _, err = s.db.Exec(ctx, putSessionQuery, s.jid, address, sealed); err != nil {
		return guarded(ctx, fmt.Errorf("put session with %s: %w", address, err))
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
				sealed, err := s.c.seal(colSession.Ref(s.jid, addr), sessions[addr])
				if err != nil {
					return fmt.Errorf("put session with %s: %w", addr, err)
				}
				args = append(args, addr, sealed)
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
		var err error
		if moved[0], err = s.moveSessions(ctx, pnPrefix, n, lidPrefix); err != nil {
			return fmt.Errorf("move sessions: %w", err)
		}
		res, err := s.db.Exec(ctx, migrateIdentitiesQuery, s.jid, pnPrefix, n, lidPrefix)
		if err != nil {
			return fmt.Errorf("copy identity keys: %w", err)
		}
		if moved[1], err = res.RowsAffected(); err != nil {
			return fmt.Errorf("count copied identity keys: %w", err)
		}
		if _, err = s.db.Exec(ctx, deleteAllIdentitiesQuery, s.jid, pnPrefix, n); err != nil {
			return fmt.Errorf("delete migrated identity keys: %w", err)
		}
		if moved[2], err = s.moveSenderKeys(ctx, pnPrefix, n, lidPrefix); err != nil {
			return fmt.Errorf("move sender keys: %w", err)
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

// sealedRow is a row read for moving to another address.
type sealedRow struct {
	chat, addr string
	value      []byte
}

// readMovable reads all rows of a prefix query (chat is empty for sessions) before anything is
// written, as PostgreSQL cannot write on a connection while a result is still open.
func (s *deviceStore) readMovable(ctx context.Context, query, prefix string, n int, withChat bool) ([]sealedRow, error) {
	rows, err := s.db.Query(ctx, query, s.jid, prefix, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sealedRow
	for rows.Next() {
		var r sealedRow
		if withChat {
			err = rows.Scan(&r.chat, &r.addr, &r.value)
		} else {
			err = rows.Scan(&r.addr, &r.value)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// moveSessions moves the sessions of addresses starting with from (n characters long) to the
// same device under prefix to, re-sealed for the new row, and deletes the old rows.
func (s *deviceStore) moveSessions(ctx context.Context, from string, n int, to string) (int64, error) {
	rows, err := s.readMovable(ctx, getSessionsByPrefixQuery, from, n, false)
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		sess, err := s.c.open(colSession.Ref(s.jid, r.addr), r.value)
		if err != nil {
			return 0, err
		}
		newAddr := to + strings.TrimPrefix(r.addr, from)
		sealed, err := s.c.seal(colSession.Ref(s.jid, newAddr), sess)
		if err != nil {
			return 0, err
		}
		if _, err = s.db.Exec(ctx, putSessionQuery, s.jid, newAddr, sealed); err != nil {
			return 0, err
		}
	}
	if _, err = s.db.Exec(ctx, deleteAllSessionsQuery, s.jid, from, n); err != nil {
		return 0, err
	}
	return int64(len(rows)), nil
}

// moveSenderKeys is moveSessions for group sender keys (by sender address, in every group).
func (s *deviceStore) moveSenderKeys(ctx context.Context, from string, n int, to string) (int64, error) {
	rows, err := s.readMovable(ctx, getSenderKeysByPrefixQuery, from, n, true)
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		key, err := s.c.open(colSenderKey.Ref(s.jid, r.chat, r.addr), r.value)
		if err != nil {
			return 0, err
		}
		newAddr := to + strings.TrimPrefix(r.addr, from)
		sealed, err := s.c.seal(colSenderKey.Ref(s.jid, r.chat, newAddr), key)
		if err != nil {
			return 0, err
		}
		if _, err = s.db.Exec(ctx, putSenderKeyQuery, s.jid, r.chat, newAddr, sealed); err != nil {
			return 0, err
		}
	}
	if _, err = s.db.Exec(ctx, deleteAllSenderKeysQuery, s.jid, from, n); err != nil {
		return 0, err
	}
	return int64(len(rows)), nil
}
