package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Group sender keys, by group and sender signal address.

const (
	getSenderKeyQuery = `SELECT sender_key FROM whatsmeow_sender_keys WHERE our_jid=$1 AND chat_id=$2 AND sender_id=$3`
	putSenderKeyQuery = `
		INSERT INTO whatsmeow_sender_keys (our_jid, chat_id, sender_id, sender_key) VALUES ($1, $2, $3, $4)
		ON CONFLICT (our_jid, chat_id, sender_id) DO UPDATE SET sender_key=excluded.sender_key
	`
)

// PutSenderKey stores or replaces the sender key record of a sender in a group.
func (s *deviceStore) PutSenderKey(ctx context.Context, group, user string, session []byte) error {
	sealed, err := s.c.seal(colSenderKey.Ref(s.jid, group, user), session)
	if err != nil {
		return fmt.Errorf("put sender key of %s in %s: %w", user, group, err)
	}
	if _, err = s.db.Exec(ctx, putSenderKeyQuery, s.jid, group, user, sealed); err != nil {
		return guarded(ctx, fmt.Errorf("put sender key of %s in %s: %w", user, group, err))
	}
	return nil
}

// GetSenderKey returns the sender key record, or nil when there is none.
func (s *deviceStore) GetSenderKey(ctx context.Context, group, user string) ([]byte, error) {
	var key []byte
	err := s.db.QueryRow(ctx, getSenderKeyQuery, s.jid, group, user).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, guarded(ctx, fmt.Errorf("get sender key of %s in %s: %w", user, group, err))
	}
	return s.c.open(colSenderKey.Ref(s.jid, group, user), key)
}
