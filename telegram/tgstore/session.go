package tgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gotd/td/session"
)

// SessionStorage is the gotd session.Storage of one account.
type SessionStorage struct {
	store  *Store
	userID int64
}

var _ session.Storage = (*SessionStorage)(nil)

// Session returns the session storage of an account.
func (s *Store) Session(userID int64) *SessionStorage {
	return &SessionStorage{store: s, userID: userID}
}

// LoadSession returns session.ErrNotFound when the account has no stored session.
func (ss *SessionStorage) LoadSession(ctx context.Context) ([]byte, error) {
	var data []byte
	err := ss.store.db.QueryRow(ctx, "SELECT data FROM telegram_session WHERE user_id=$1", ss.userID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, session.ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("load Telegram session of %d: %w", ss.userID, err)
	}
	data, err = ss.store.sealer.Load().Open(sessionRef(ss.userID), data)
	if err != nil {
		return nil, fmt.Errorf("load Telegram session of %d: %w", ss.userID, err)
	}
	return data, nil
}

// StoreSession replaces the account's session.
func (ss *SessionStorage) StoreSession(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("store Telegram session of %d: refusing an empty session", ss.userID)
	}
	stored, err := ss.store.sealer.Load().Seal(sessionRef(ss.userID), data)
	if err != nil {
		return fmt.Errorf("store Telegram session of %d: %w", ss.userID, err)
	}
	_, err = ss.store.db.Exec(ctx, `
		INSERT INTO telegram_session (user_id, data) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET data=excluded.data`, ss.userID, stored)
	if err != nil {
		return fmt.Errorf("store Telegram session of %d: %w", ss.userID, err)
	}
	return nil
}
