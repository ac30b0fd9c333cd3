package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"

	"github.com/passerelle-bridge/passerelle/delivery"
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
//
// whatsmeow calls it first for every incoming message and takes any error for an undecryptable
// message: it sends a retry receipt and acknowledges the message, so the sender re-encrypts it,
// possibly under a new session the bridge could not save either, and the message is lost and
// the sessions can drift apart. A database that is briefly unreachable is therefore waited out
// (waitTransient) instead of reported.
func (s *deviceStore) GetBufferedEvent(ctx context.Context, ciphertextHash [32]byte) (*store.BufferedEvent, error) {
	var buf *store.BufferedEvent
	err := s.c.waitTransient(ctx, "get buffered event", func() (err error) {
		buf, err = s.getBufferedEvent(ctx, ciphertextHash)
		return err
	})
	return buf, err
}

func (s *deviceStore) getBufferedEvent(ctx context.Context, ciphertextHash [32]byte) (*store.BufferedEvent, error) {
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
	if put, ok := ctx.Value(bufferedPutKey{}).(*bufferedPut); ok {
		put.hash, put.done = ciphertextHash, true
	}
	return nil
}

// bufferedPutKey marks a decryption transaction's context; PutBufferedEvent records in it the
// ciphertext it buffered, so DoDecryptionTxn can tell whether a commit that failed took effect.
type bufferedPutKey struct{}

type bufferedPut struct {
	hash [32]byte
	done bool
}

// DoDecryptionTxn runs fn in one database transaction, so the Signal session/prekey changes of
// a decryption and the buffered plaintext are committed together or not at all. Every store
// method called with the ctx given to fn takes part in the transaction.
//
// A transaction that failed because the database was unreachable is run again once it is back
// (see GetBufferedEvent for why): fn reloads the Signal state, so the rerun decrypts from the
// same state. When the failure came at commit and the commit did take effect (the plaintext is
// in the buffer), fn's result stands and the transaction is not run again.
//
// It holds the device's CryptoLock, so no send encrypts from the session being changed.
func (s *deviceStore) DoDecryptionTxn(ctx context.Context, fn func(context.Context) error) error {
	lock := s.c.cryptoLock(s.jid)
	lock.Lock()
	defer lock.Unlock()
	return s.c.waitTransient(ctx, "decryption transaction", func() error {
		put := &bufferedPut{}
		// The caller skip names whatsmeow's caller in the transaction's log lines.
		txnCtx := context.WithValue(context.WithValue(ctx, dbutil.ContextKeyDoTxnCallerSkip, 4), bufferedPutKey{}, put)
		err := s.db.DoTxn(txnCtx, nil, fn)
		if err == nil || !put.done || !delivery.Transient(err) {
			return err
		}
		// The failure may have been the commit's: keep the result if it was saved.
		var buf *store.BufferedEvent
		if getErr := s.c.waitTransient(ctx, "check a decryption commit", func() (getErr error) {
			buf, getErr = s.getBufferedEvent(ctx, put.hash)
			return getErr
		}); getErr == nil && buf != nil {
			return nil
		}
		return err
	})
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

// TransientWait bounds how long the decryption path waits for an unreachable database before
// the error reaches whatsmeow (which then treats the message as undecryptable).
var TransientWait = time.Minute

// waitTransient runs op, and runs it again with a growing pause while it fails because the
// database is unreachable (delivery.Transient), for at most TransientWait. Incoming messages
// wait meanwhile: whatsmeow handles them one at a time and acknowledges none of them.
func (c *Container) waitTransient(ctx context.Context, what string, op func() error) error {
	deadline := time.Now().Add(TransientWait)
	pause := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || !delivery.Transient(err) || time.Now().After(deadline) {
			if err == nil && attempt > 1 {
				c.log.Info().Str("operation", what).Int("attempts", attempt).Msg("Database reachable again")
			}
			return err
		}
		if attempt == 1 {
			c.log.Warn().Err(err).Str("operation", what).Msg("Database unreachable; waiting before decrypting more messages")
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}
