package devicestore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/pgstmt"
	"github.com/passerelle-bridge/passerelle/internal/pgtest"
)

func TestWaitTransient(t *testing.T) {
	refused := fmt.Errorf("get buffered event: %w", syscall.ECONNREFUSED)
	permanent := errors.New("malformed ciphertext")
	cases := []struct {
		name      string
		errs      []error // what op returns on each call; the last repeats
		wait      time.Duration
		cancel    bool
		want      error
		wantCalls int // minimum
	}{
		{name: "success", errs: []error{nil}, wait: time.Minute, wantCalls: 1},
		{name: "database back", errs: []error{refused, refused, nil}, wait: time.Minute, wantCalls: 3},
		{name: "not transient", errs: []error{permanent}, wait: time.Minute, want: permanent, wantCalls: 1},
		{name: "gives up", errs: []error{refused}, wait: 400 * time.Millisecond, want: refused, wantCalls: 3},
		{name: "cancelled", errs: []error{refused}, wait: time.Minute, cancel: true, want: refused, wantCalls: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := TransientWait
			TransientWait = tc.wait
			defer func() { TransientWait = old }()
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancel {
				cancel()
			}
			defer cancel()
			c := &Container{log: zerolog.Nop()}
			calls := 0
			start := time.Now()
			err := c.waitTransient(ctx, "test", func() error {
				e := tc.errs[min(calls, len(tc.errs)-1)]
				calls++
				return e
			})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if calls < tc.wantCalls || (tc.want == permanent && calls != 1) {
				t.Errorf("op ran %d times, want at least %d", calls, tc.wantCalls)
			}
			if time.Since(start) > tc.wait+3*time.Second {
				t.Errorf("took %v, bound %v", time.Since(start), tc.wait)
			}
		})
	}
}

// TestDecryptionWaitsForDatabase: with the database down, the decryption path (buffer lookup,
// then the decryption transaction) waits until it is back instead of failing, which whatsmeow
// would take for an undecryptable message.
func TestDecryptionWaitsForDatabase(t *testing.T) {
	ctx := context.Background()
	pg, db := killablePostgres(t, "devicestore_transient")
	var err error
	c := newContainer(t, db)
	dev := pairedDevice(t, c, "300")
	hash := sha256.Sum256([]byte("ciphertext during an outage"))

	if err = pg.Kill(); err != nil {
		t.Fatal(err)
	}
	restarted := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		restarted <- pg.Start(ctx)
	}()
	buf, err := dev.EventBuffer.GetBufferedEvent(ctx, hash)
	if err != nil || buf != nil {
		t.Fatalf("buffer lookup during the outage = %+v, %v; want it to wait and find nothing", buf, err)
	}
	if err = <-restarted; err != nil {
		t.Fatal(err)
	}

	// Down again: the transaction waits too, then commits once.
	if err = pg.Kill(); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(time.Second)
		restarted <- pg.Start(ctx)
	}()
	runs := 0
	err = dev.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		runs++
		if err := dev.Sessions.PutSession(ctx, "9:1", []byte("ratcheted")); err != nil {
			return err
		}
		return dev.EventBuffer.PutBufferedEvent(ctx, hash, []byte("plain"), time.Unix(1750000000, 0))
	})
	if err != nil {
		t.Fatalf("decryption transaction during the outage: %v", err)
	}
	if err = <-restarted; err != nil {
		t.Fatal(err)
	}
	if buf, err = dev.EventBuffer.GetBufferedEvent(ctx, hash); err != nil || buf == nil || string(buf.Plaintext) != "plain" {
		t.Fatalf("buffered after the outage = %+v, %v", buf, err)
	}
	t.Logf("the transaction ran %d time(s)", runs)
}

// TestCryptoLockOrdersDecryption: a decryption waits while a send holds the device's lock.
func TestCryptoLockOrdersDecryption(t *testing.T) {
	db := dbtest.Open(t, "sqlite3-fk-wal")
	c := newContainer(t, db)
	dev := pairedDevice(t, c, "400")
	other := pairedDevice(t, c, "401")
	ctx := context.Background()

	lock := c.CryptoLock(*dev.ID)
	lock.Lock()
	done := make(chan error, 1)
	go func() {
		done <- dev.EventBuffer.DoDecryptionTxn(ctx, func(context.Context) error { return nil })
	}()
	// Another device's decryption is not held up.
	if err := other.EventBuffer.DoDecryptionTxn(ctx, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("decryption ran while a send held the lock (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	lock.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("decryption still waiting after the lock was released")
	}
}

// TestSendGuard: during a guarded send, a store call failing because the database is unreachable
// ends the send's context (whatsmeow then gives the send up instead of sending it to fewer
// devices) and is reported by the guard; outside a guarded send, or for a refusal, nothing ends.
func TestSendGuard(t *testing.T) {
	ctx := context.Background()
	pg, db := killablePostgres(t, "devicestore_sendguard")
	var err error
	c := newContainer(t, db)
	dev := pairedDevice(t, c, "301")
	key := [32]byte{1}

	// A refusal (here: the table is gone) is not the database being away.
	if _, err = db.Exec(ctx, `ALTER TABLE whatsmeow_identity_keys RENAME TO whatsmeow_identity_keys_away`); err != nil {
		t.Fatal(err)
	}
	gctx, guard := GuardSend(ctx)
	if _, err = dev.Identities.IsTrustedIdentity(gctx, "9:1", key); err == nil {
		t.Fatal("no error without the identity table")
	}
	if guard.Err() != nil || gctx.Err() != nil {
		t.Fatalf("a refusal ended the send: %v, %v", guard.Err(), gctx.Err())
	}
	guard.Release()
	if _, err = db.Exec(ctx, `ALTER TABLE whatsmeow_identity_keys_away RENAME TO whatsmeow_identity_keys`); err != nil {
		t.Fatal(err)
	}

	if err = pg.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Start(ctx) })
	for name, call := range map[string]func(context.Context) error{
		"identity check": func(ctx context.Context) error {
			_, err := dev.Identities.IsTrustedIdentity(ctx, "9:1", key)
			return err
		},
		"session read": func(ctx context.Context) error {
			_, err := dev.Sessions.GetSession(ctx, "9:1")
			return err
		},
		"session write": func(ctx context.Context) error { return dev.Sessions.PutSession(ctx, "9:1", []byte("s")) },
		"sender key read": func(ctx context.Context) error {
			_, err := dev.SenderKeys.GetSenderKey(ctx, "g", "9:1")
			return err
		},
	} {
		if err := call(ctx); err == nil {
			t.Fatalf("%s: no error with the database down", name)
		}
		gctx, guard := GuardSend(ctx)
		err := call(gctx)
		if err == nil || guard.Err() == nil || gctx.Err() == nil {
			t.Errorf("%s during a guarded send: error %v, guard %v, context %v; want all set", name, err, guard.Err(), gctx.Err())
		}
		guard.Release()
	}
}

// killablePostgres is a database on a private PostgreSQL server the test may kill and restart.
func killablePostgres(t *testing.T, name string) (*pgtest.Server, *dbutil.Database) {
	t.Helper()
	pg := pgtest.Start(t)
	uri, err := pg.CreateDatabase(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	var cfg dbutil.Config
	cfg.Type, cfg.URI, cfg.MaxOpenConns, cfg.MaxIdleConns = pgstmt.DriverName, uri, 2, 1
	db, err := dbutil.NewFromConfig("devicestore-test", cfg, dbutil.NoopLogger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return pg, db
}
