package devicestore

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

// TestConcurrentDecryptionTxns runs decryption transactions from several goroutines, as
// whatsmeow does for messages from different chats: distinct ciphertexts all commit, and of
// several racing decryptions of one ciphertext exactly one commits.
func TestConcurrentDecryptionTxns(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "100")
		eb := dev.EventBuffer
		const workers = 8

		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hash := sha256.Sum256([]byte{byte(i)})
				err := eb.DoDecryptionTxn(ctx, func(ctx context.Context) error {
					if err := dev.Sessions.PutSession(ctx, "peer"+itoa(i)+":1", []byte{byte(i)}); err != nil {
						return err
					}
					if _, err := dev.PreKeys.GetOrGenPreKeys(ctx, 2); err != nil {
						return err
					}
					return eb.PutBufferedEvent(ctx, hash, []byte{byte(i)}, time.Now())
				})
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		for i := range workers {
			buf, err := eb.GetBufferedEvent(ctx, sha256.Sum256([]byte{byte(i)}))
			check(t, err)
			if buf == nil || len(buf.Plaintext) != 1 || buf.Plaintext[0] != byte(i) {
				t.Errorf("worker %d's event = %+v", i, buf)
			}
			if has, _ := dev.Sessions.HasSession(ctx, "peer"+itoa(i)+":1"); !has {
				t.Errorf("worker %d's session missing", i)
			}
		}

		same := sha256.Sum256([]byte("duplicate delivery"))
		var committed atomic.Int32
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := eb.DoDecryptionTxn(ctx, func(ctx context.Context) error {
					if err := dev.Sessions.PutSession(ctx, "dup:1", []byte{byte(i)}); err != nil {
						return err
					}
					return eb.PutBufferedEvent(ctx, same, []byte{byte(i)}, time.Now())
				})
				if err == nil {
					committed.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := committed.Load(); n != 1 {
			t.Fatalf("%d racing decryptions of one ciphertext committed, want 1", n)
		}
		buf, err := eb.GetBufferedEvent(ctx, same)
		check(t, err)
		sess, err := dev.Sessions.GetSession(ctx, "dup:1")
		check(t, err)
		if buf == nil || len(sess) != 1 || sess[0] != buf.Plaintext[0] {
			t.Errorf("session and buffered plaintext come from different decryptions: %v vs %+v", sess, buf)
		}
	})
}
