package delivery

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// flakySyncStore fails its first fails calls with err.
type flakySyncStore struct {
	mautrix.SyncStore
	fails int
	err   error
	calls int
	saved string
}

func (s *flakySyncStore) SaveNextBatch(_ context.Context, _ id.UserID, token string) error {
	s.calls++
	if s.calls <= s.fails {
		return s.err
	}
	s.saved = token
	return nil
}

func (s *flakySyncStore) LoadNextBatch(context.Context, id.UserID) (string, error) {
	s.calls++
	if s.calls <= s.fails {
		return "", s.err
	}
	return "s42", nil
}

func TestPatientSyncStore(t *testing.T) {
	unreachable := fmt.Errorf("unable to store batch: %w", syscall.ECONNREFUSED)
	cases := []struct {
		name      string
		fails     int
		err       error
		wantErr   bool
		wantCalls int
	}{
		{"database back after three refusals", 3, unreachable, false, 4},
		{"answers at once", 0, nil, false, 1},
		{"an error that is no outage", 5, errors.New("unable to store batch: syntax error"), true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inner := &flakySyncStore{fails: tc.fails, err: tc.err}
			s := &patientSyncStore{SyncStore: inner, log: zerolog.Nop(), pauses: []time.Duration{time.Millisecond}}
			err := s.SaveNextBatch(context.Background(), "@bot:example.org", "s43")
			if (err != nil) != tc.wantErr || inner.calls != tc.wantCalls || (!tc.wantErr && inner.saved != "s43") {
				t.Fatalf("SaveNextBatch: err %v after %d calls (saved %q); want error %v after %d", err, inner.calls, inner.saved, tc.wantErr, tc.wantCalls)
			}
			inner.calls = 0
			token, err := s.LoadNextBatch(context.Background(), "@bot:example.org")
			if (err != nil) != tc.wantErr || inner.calls != tc.wantCalls || (!tc.wantErr && token != "s42") {
				t.Fatalf("LoadNextBatch: %q, err %v after %d calls", token, err, inner.calls)
			}
		})
	}
	// A sync that stops while the database is away ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s := &patientSyncStore{SyncStore: &flakySyncStore{fails: 1 << 30, err: unreachable}, log: zerolog.Nop(), pauses: []time.Duration{time.Millisecond}}
	if err := s.SaveNextBatch(ctx, "@bot:example.org", "s44"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SaveNextBatch with the database gone for good: %v, want the context's end", err)
	}
}

// flakyDecrypt stands in for mautrix's decryption, which reads the Megolm session from the
// database: its first fails calls fail as if the database were down.
type flakyDecrypt struct {
	megolm
	fails, calls int
}

func (f *flakyDecrypt) Decrypt(_ context.Context, evt *event.Event) (*event.Event, error) {
	f.calls++
	if f.calls <= f.fails {
		return nil, fmt.Errorf("failed to get group session: %w", syscall.ECONNREFUSED)
	}
	return &event.Event{ID: evt.ID, Type: event.EventMessage}, nil
}

func TestDecryptWaitsOutTheDatabase(t *testing.T) {
	evt := &event.Event{ID: "$enc", Type: event.EventEncrypted}
	newCrypto := func(fails int) (*bridgeCrypto, *flakyDecrypt, *Inbound) {
		inner := &flakyDecrypt{fails: fails}
		in := &Inbound{watching: map[id.EventID]bool{"$enc": true}, failed: map[id.EventID]error{}}
		return &bridgeCrypto{Crypto: inner, in: in, decryptPauses: []time.Duration{time.Millisecond}, decryptWait: 50 * time.Millisecond}, inner, in
	}
	// Back within the wait: decrypted, nothing failed.
	c, inner, in := newCrypto(3)
	dec, err := c.Decrypt(context.Background(), evt)
	if err != nil || dec == nil || dec.Type != event.EventMessage || inner.calls != 4 || len(in.failed) != 0 {
		t.Fatalf("database back after 3 refusals: %v, %v after %d calls, failed %v", dec, err, inner.calls, in.failed)
	}
	// Away for longer: the event is marked failed for a transient reason, so the homeserver
	// sends the transaction again.
	c, _, in = newCrypto(1 << 30)
	if _, err = c.Decrypt(context.Background(), evt); !Transient(err) || in.failed["$enc"] == nil {
		t.Fatalf("database gone: %v, failed %v; want a transient error recorded for $enc", err, in.failed)
	}
}
