package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"go.mau.fi/whatsmeow/store"
)

// App state sync keys, shared by the phone; they decrypt app state patches.

const (
	putAppStateSyncKeyQuery = `
		INSERT INTO whatsmeow_app_state_sync_keys (our_jid, key_id, key_data, timestamp, fingerprint)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (our_jid, key_id) DO UPDATE
			SET key_data=excluded.key_data, timestamp=excluded.timestamp, fingerprint=excluded.fingerprint
			WHERE excluded.timestamp > whatsmeow_app_state_sync_keys.timestamp
	`
	getAppStateSyncKeyQuery   = `SELECT key_data, timestamp, fingerprint FROM whatsmeow_app_state_sync_keys WHERE our_jid=$1 AND key_id=$2`
	getLatestAppStateKeyQuery = `SELECT key_id FROM whatsmeow_app_state_sync_keys WHERE our_jid=$1 ORDER BY timestamp DESC, key_id DESC LIMIT 1`
)

// PutAppStateSyncKey stores a key; an existing key with the same ID is only replaced by a newer
// one (higher timestamp), so a late re-share of an old key cannot roll it back.
func (s *deviceStore) PutAppStateSyncKey(ctx context.Context, id []byte, key store.AppStateSyncKey) error {
	if len(id) == 0 {
		return errors.New("put app state sync key: key ID is empty")
	}
	sealed, err := s.c.seal(colAppStateSyncKey.Ref(s.jid, string(id)), key.Data)
	if err != nil {
		return fmt.Errorf("put app state sync key %X: %w", id, err)
	}
	if _, err = s.db.Exec(ctx, putAppStateSyncKeyQuery, s.jid, id, sealed, key.Timestamp, key.Fingerprint); err != nil {
		return fmt.Errorf("put app state sync key %X: %w", id, err)
	}
	return nil
}

// GetAppStateSyncKey returns the key, or nil when it is unknown (whatsmeow then asks the phone).
func (s *deviceStore) GetAppStateSyncKey(ctx context.Context, id []byte) (*store.AppStateSyncKey, error) {
	var key store.AppStateSyncKey
	var sealed []byte
	err := s.db.QueryRow(ctx, getAppStateSyncKeyQuery, s.jid, id).Scan(&sealed, &key.Timestamp, &key.Fingerprint)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("get app state sync key %X: %w", id, err)
	}
	if key.Data, err = s.c.open(colAppStateSyncKey.Ref(s.jid, string(id)), sealed); err != nil {
		return nil, err
	}
	return &key, nil
}

// GetLatestAppStateSyncKeyID returns the ID of the newest key, or nil when there is none.
func (s *deviceStore) GetLatestAppStateSyncKeyID(ctx context.Context) ([]byte, error) {
	var id []byte
	err := s.db.QueryRow(ctx, getLatestAppStateKeyQuery, s.jid).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("get latest app state sync key: %w", err)
	}
	return id, nil
}
