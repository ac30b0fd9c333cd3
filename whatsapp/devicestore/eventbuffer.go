package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
)

// The decrypted-event buffer (Client.EnableDecryptedEventBuffer) makes decryption idempotent:
// the plaintext of each ciphertext is saved in the same transaction as the Signal state change
// that decrypting caused, so a message redelivered after a crash is answered from the buffer
// instead of failing to decrypt. Once the event was handled its plaintext is cleared and only
// the hash stays, marking the ciphertext as processed; hashes go after 14 days, the time
// WhatsApp's servers keep undelivered events.

// BufferedHashRetention is how long processed ciphertext hashes are remembered.
const BufferedHashRetention = 14 * 24 * time.Hour

const (
	getBufferedEventQuery = `
		SELECT plaintext, plaintext IS NULL, server_timestamp, insert_timestamp
		FROM whatsmeow_event_buffer WHERE our_jid=$1 AND ciphertext_hash=$2
	`
	putBufferedEventQuery = `
		INSERT INTO whatsmeow_event_buffer (our_jid, ciphertext_hash, plaintext, server_timestamp, insert_timestamp)
		VALUES ($1, $2, $3, $4, $5)
	`
	clearBufferedPlaintextQuery = `UPDATE whatsmeow_event_buffer SET plaintext=NULL WHERE our_jid=$1 AND ciphertext_hash=$2`
	deleteOldBufferedQuery      = `DELETE FROM whatsmeow_event_buffer WHERE our_jid=$1 AND insert_timestamp < $2`
)

// GetBufferedEvent returns the buffered event, or nil when the ciphertext was never decrypted.
// A nil Plaintext means the event was already handled.
func (s *deviceStore) GetBufferedEvent(ctx context.Context, ciphertextHash [32]byte) (*store.BufferedEvent, error) {
	var (
		plaintext  []byte
		cleared    bool
		serverTS   int64
		insertTSMS int64
	)
	err := s.db.QueryRow(ctx, getBufferedEventQuery, s.jid, ciphertextHash[:]).Scan(&plaintext, &cleared, &serverTS, &insertTSMS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("get buffered event %X: %w", ciphertextHash[:8], err)
	}
	if cleared {
		plaintext = nil
	} else if plaintext, err = s.c.open(colBufferedEvent.Ref(s.jid, string(ciphertextHash[:])), plaintext); err != nil {
		return nil, err
	} else if plaintext == nil {
		// An empty plaintext must not read as "already handled".
		plaintext = []byte{}
	}
	return &store.BufferedEvent{
		Plaintext:  plaintext,
		ServerTime: time.Unix(serverTS, 0),
		InsertTime: time.UnixMilli(insertTSMS),
	}, nil
}

// PutBufferedEvent saves a decrypted plaintext. It fails if the ciphertext is already buffered,
// which rolls back a concurrent second decryption of the same message.
func (s *deviceStore) PutBufferedEvent(ctx context.Context, ciphertextHash [32]byte, plaintext []byte, serverTimestamp time.Time) error {
	if plaintext == nil {
		plaintext = []byte{}
	}
	sealed, err := s.c.seal(colBufferedEvent.Ref(s.jid, string(ciphertextHash[:])), plaintext)
	if err != nil {
		return fmt.Errorf("put buffered event %X: %w", ciphertextHash[:8], err)
	}
	_, err = s.db.Exec(ctx, putBufferedEventQuery, s.jid, ciphertextHash[:], sealed, serverTimestamp.Unix(), time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("put buffered event %X: %w", ciphertextHash[:8], err)
	}
	return nil
}

// DoDecryptionTxn runs fn in one database transaction, so the Signal session/prekey changes of
// a decryption and the buffered plaintext are committed together or not at all. Every store
// method called with the ctx given to fn takes part in the transaction.
func (s *deviceStore) DoDecryptionTxn(ctx context.Context, fn func(context.Context) error) error {
	ctx = context.WithValue(ctx, dbutil.ContextKeyDoTxnCallerSkip, 2)
	return s.db.DoTxn(ctx, nil, fn)
}

// ClearBufferedEventPlaintext drops the plaintext once the event was handled, keeping the hash.
func (s *deviceStore) ClearBufferedEventPlaintext(ctx context.Context, ciphertextHash [32]byte) error {
	if _, err := s.db.Exec(ctx, clearBufferedPlaintextQuery, s.jid, ciphertextHash[:]); err != nil {
		return fmt.Errorf("clear buffered event %X: %w", ciphertextHash[:8], err)
	}
	return nil
}

// DeleteOldBufferedHashes forgets buffered events older than BufferedHashRetention.
func (s *deviceStore) DeleteOldBufferedHashes(ctx context.Context) error {
	cutoff := time.Now().Add(-BufferedHashRetention).UnixMilli()
	if _, err := s.db.Exec(ctx, deleteOldBufferedQuery, s.jid, cutoff); err != nil {
		return fmt.Errorf("delete old buffered events: %w", err)
	}
	return nil
}
