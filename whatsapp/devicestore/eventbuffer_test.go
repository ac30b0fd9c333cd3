package devicestore

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

func TestEventBuffer(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "100")
		other := pairedDevice(t, c, "200")
		eb := dev.EventBuffer
		hash := sha256.Sum256([]byte("ciphertext"))
		serverTS := time.Unix(1750000000, 0)

		if buf, err := eb.GetBufferedEvent(ctx, hash); err != nil || buf != nil {
			t.Fatalf("unknown hash = %+v, %v", buf, err)
		}

		// A failed decryption leaves nothing behind: neither plaintext nor session change.
		errBoom := errors.New("decrypt failed")
		err := eb.DoDecryptionTxn(ctx, func(ctx context.Context) error {
			check(t, dev.Sessions.PutSession(ctx, "9:1", []byte("ratcheted")))
			check(t, eb.PutBufferedEvent(ctx, hash, []byte("plain"), serverTS))
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("DoDecryptionTxn = %v, want the callback's error", err)
		}
		if buf, _ := eb.GetBufferedEvent(ctx, hash); buf != nil {
			t.Fatal("rolled back plaintext is buffered")
		}
		if has, _ := dev.Sessions.HasSession(ctx, "9:1"); has {
			t.Fatal("rolled back session change persisted")
		}

		before := time.Now().Add(-time.Second)
		check(t, eb.DoDecryptionTxn(ctx, func(ctx context.Context) error {
			check(t, dev.Sessions.PutSession(ctx, "9:1", []byte("ratcheted")))
			return eb.PutBufferedEvent(ctx, hash, []byte("plain"), serverTS)
		}))
		buf, err := eb.GetBufferedEvent(ctx, hash)
		check(t, err)
		if buf == nil || string(buf.Plaintext) != "plain" || !buf.ServerTime.Equal(serverTS) || buf.InsertTime.Before(before) {
			t.Fatalf("buffered event = %+v", buf)
		}
		if has, _ := dev.Sessions.HasSession(ctx, "9:1"); !has {
			t.Fatal("committed session change missing")
		}
		if buf, _ := other.EventBuffer.GetBufferedEvent(ctx, hash); buf != nil {
			t.Error("buffered event visible to another device")
		}

		// The same ciphertext cannot be buffered twice.
		if err := eb.PutBufferedEvent(ctx, hash, []byte("again"), serverTS); err == nil {
			t.Error("second PutBufferedEvent of the same hash succeeded")
		}

		// Handled: plaintext cleared, hash kept so a redelivery is recognised.
		check(t, eb.ClearBufferedEventPlaintext(ctx, hash))
		buf, err = eb.GetBufferedEvent(ctx, hash)
		check(t, err)
		if buf == nil || buf.Plaintext != nil {
			t.Fatalf("after clear: %+v, want entry with nil plaintext", buf)
		}

		// An empty plaintext is still "not handled yet".
		emptyHash := sha256.Sum256([]byte("empty"))
		check(t, eb.PutBufferedEvent(ctx, emptyHash, []byte{}, serverTS))
		if buf, _ := eb.GetBufferedEvent(ctx, emptyHash); buf == nil || buf.Plaintext == nil {
			t.Errorf("empty plaintext reads as handled: %+v", buf)
		}

		// Old hashes go, recent ones stay.
		oldHash := sha256.Sum256([]byte("old"))
		check(t, eb.PutBufferedEvent(ctx, oldHash, []byte("x"), serverTS))
		_, err = db.Exec(ctx, "UPDATE whatsmeow_event_buffer SET insert_timestamp=$1 WHERE ciphertext_hash=$2",
			time.Now().Add(-BufferedHashRetention-time.Hour).UnixMilli(), oldHash[:])
		check(t, err)
		check(t, eb.DeleteOldBufferedHashes(ctx))
		if buf, _ := eb.GetBufferedEvent(ctx, oldHash); buf != nil {
			t.Error("expired hash not deleted")
		}
		if buf, _ := eb.GetBufferedEvent(ctx, hash); buf == nil {
			t.Error("recent hash deleted")
		}
	})
}
