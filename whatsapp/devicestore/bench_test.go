package devicestore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/secrets"
)

// BenchmarkDecryptionTxn measures the database work whatsmeow does per received message with
// the event buffer on: one transaction that loads and stores a session and buffers the
// plaintext, then clearing the plaintext once handled; sealed (as with a key configured) and
// unencrypted, to show what encryption at rest costs.
func BenchmarkDecryptionTxn(b *testing.B) {
	for _, engine := range dbtest.Engines {
		b.Run(engine+"/sealed", func(b *testing.B) { benchmarkDecryptionTxn(b, engine, testRing) })
		b.Run(engine+"/unencrypted", func(b *testing.B) { benchmarkDecryptionTxn(b, engine, nil) })
	}
}

func benchmarkDecryptionTxn(b *testing.B, engine string, ring *secrets.Keyring) {
	ctx := context.Background()
	c := New(dbtest.Open(b, engine), zerolog.Nop(), WithKeyring(ring))
	if err := c.Upgrade(ctx); err != nil {
		b.Fatal(err)
	}
	dev := pairedDevice(b, c, "100")
	session := randBytes(b, 2048)
	plaintext := randBytes(b, 512)
	var ctr [8]byte
	b.ResetTimer()
	for i := range b.N {
		binary.BigEndian.PutUint64(ctr[:], uint64(i))
		hash := sha256.Sum256(ctr[:])
		err := dev.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
			if _, err := dev.Sessions.GetSession(ctx, "peer:1"); err != nil {
				return err
			}
			if err := dev.Sessions.PutSession(ctx, "peer:1", session); err != nil {
				return err
			}
			return dev.EventBuffer.PutBufferedEvent(ctx, hash, plaintext, time.Now())
		})
		if err != nil {
			b.Fatal(err)
		}
		if err = dev.EventBuffer.ClearBufferedEventPlaintext(ctx, hash); err != nil {
			b.Fatal(err)
		}
	}
}
