package devicestore

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

// TestInboundJournal: entries come back in order and sealed payloads open; deleted entries are
// gone; a restarted store continues after the highest position instead of reusing one; each
// device has its own journal, removed with the device.
func TestInboundJournal(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		alice, bob := pairedDevice(t, c, "111"), pairedDevice(t, c, "222")
		at := time.UnixMilli(1760000000123)
		var seqs []int64
		for _, text := range []string{"one", "two", "three"} {
			seq, err := c.AppendInbound(ctx, *alice.ID, []byte(text), at)
			check(t, err)
			seqs = append(seqs, seq)
		}
		_, err := c.AppendInbound(ctx, *bob.ID, []byte("bob's"), at)
		check(t, err)
		check(t, c.DeleteInbound(ctx, *alice.ID, seqs[:1]))

		// A new container is what a restarted bridge has.
		c2 := newContainer(t, db)
		seq, err := c2.AppendInbound(ctx, *alice.ID, []byte("four"), at)
		check(t, err)
		if seq <= seqs[2] {
			t.Errorf("position %d after restart reuses or precedes %d", seq, seqs[2])
		}
		got, err := c2.PendingInbound(ctx, *alice.ID)
		check(t, err)
		var texts []string
		for _, e := range got {
			texts = append(texts, string(e.Payload))
			if !e.ReceivedAt.Equal(at) {
				t.Errorf("entry %d received at %v, want %v", e.Seq, e.ReceivedAt, at)
			}
		}
		if want := []string{"two", "three", "four"}; !slices.Equal(texts, want) {
			t.Errorf("pending = %q, want %q", texts, want)
		}

		check(t, c2.DeleteDevice(ctx, alice))
		if got, err := c2.PendingInbound(ctx, *alice.ID); err != nil || len(got) != 0 {
			t.Errorf("after logout: %d entries, %v", len(got), err)
		}
		if got, err := c2.PendingInbound(ctx, *bob.ID); err != nil || len(got) != 1 || string(got[0].Payload) != "bob's" {
			t.Errorf("other device's journal: %d entries, %v", len(got), err)
		}
	})
}
