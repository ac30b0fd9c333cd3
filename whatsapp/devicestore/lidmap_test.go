package devicestore

import (
	"context"
	"testing"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

func TestLIDStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		lids := c.LIDs()
		pn := func(s string) types.JID { return mustJID(t, s+"@s.whatsapp.net") }
		lid := func(s string) types.JID { return mustJID(t, s+"@lid") }

		if got, err := lids.GetLIDForPN(ctx, pn("1")); err != nil || !got.IsEmpty() {
			t.Fatalf("unknown PN = %s, %v", got, err)
		}
		if _, err := lids.GetLIDForPN(ctx, lid("1")); err == nil {
			t.Error("GetLIDForPN accepted a LID")
		}
		if _, err := lids.GetPNForLID(ctx, pn("1")); err == nil {
			t.Error("GetPNForLID accepted a phone number")
		}
		if err := lids.PutLIDMapping(ctx, pn("1"), lid("1")); err == nil {
			t.Error("PutLIDMapping accepted swapped arguments")
		}

		check(t, lids.PutLIDMapping(ctx, lid("100"), pn("33600")))
		// Device numbers carry over to the answer.
		if got, _ := lids.GetLIDForPN(ctx, pn("33600:5")); got != lid("100:5") {
			t.Errorf("GetLIDForPN(33600:5) = %s, want 100:5@lid", got)
		}
		if got, _ := lids.GetPNForLID(ctx, lid("100")); got != pn("33600") {
			t.Errorf("GetPNForLID(100) = %s", got)
		}

		// Remapping either side replaces the old pair: one LID per number and one number per LID.
		check(t, lids.PutLIDMapping(ctx, lid("101"), pn("33600")))
		if got, _ := lids.GetPNForLID(ctx, lid("100")); !got.IsEmpty() {
			t.Errorf("old LID still maps to %s", got)
		}
		check(t, lids.PutLIDMapping(ctx, lid("101"), pn("33601")))
		if got, _ := lids.GetLIDForPN(ctx, pn("33600")); !got.IsEmpty() {
			t.Errorf("old number still maps to %s", got)
		}
		check(t, lids.PutLIDMapping(ctx, lid("101"), pn("33601"))) // unchanged: fine
		if db.Dialect == dbutil.Postgres {
			// A mapping held already is not written again (whatsmeow stores the sender's with
			// every message): it passes in a read-only transaction, where a new one fails.
			err := db.DoTxn(ctx, &dbutil.TxnOptions{ReadOnly: true}, func(ctx context.Context) error {
				return lids.PutLIDMapping(ctx, lid("101"), pn("33601"))
			})
			if err != nil {
				t.Errorf("unchanged mapping written again: %v", err)
			}
			err = db.DoTxn(ctx, &dbutil.TxnOptions{ReadOnly: true}, func(ctx context.Context) error {
				return lids.PutLIDMapping(ctx, lid("102"), pn("33601"))
			})
			if err == nil {
				t.Error("a new mapping passed in a read-only transaction: the check proves nothing")
			}
		}

		mappings := []store.LIDMapping{
			{LID: lid("200"), PN: pn("44200")},
			{LID: pn("bad"), PN: lid("bad")}, // skipped
			{LID: lid("201"), PN: pn("44201")},
			{LID: lid("202"), PN: pn("44201")}, // later entry wins
		}
		for i := range 300 {
			mappings = append(mappings, store.LIDMapping{LID: lid("5" + itoa(i)), PN: pn("55" + itoa(i))})
		}
		check(t, lids.PutManyLIDMappings(ctx, mappings))
		check(t, lids.PutManyLIDMappings(ctx, nil))

		query := []types.JID{pn("44200:3"), pn("44200"), pn("44201"), pn("99999"), lid("200"), pn("55299:1")}
		for i := range 250 {
			query = append(query, pn("55"+itoa(i)))
		}
		got, err := lids.GetManyLIDsForPNs(ctx, query)
		check(t, err)
		want := map[types.JID]types.JID{
			pn("44200:3"): lid("200:3"),
			pn("44200"):   lid("200"),
			pn("44201"):   lid("202"),
			pn("55299:1"): lid("5299:1"),
		}
		for i := range 250 {
			want[pn("55"+itoa(i))] = lid("5" + itoa(i))
		}
		if len(got) != len(want) {
			t.Errorf("GetManyLIDsForPNs returned %d entries, want %d", len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("GetManyLIDsForPNs[%s] = %s, want %s", k, got[k], v)
			}
		}
		if got, err := lids.GetManyLIDsForPNs(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("GetManyLIDsForPNs(nil) = %v, %v", got, err)
		}

		// A mapping written inside a rolled-back transaction is not remembered anywhere.
		_ = db.DoTxn(ctx, nil, func(ctx context.Context) error {
			check(t, lids.PutLIDMapping(ctx, lid("300"), pn("66300")))
			return context.Canceled
		})
		if got, _ := lids.GetLIDForPN(ctx, pn("66300")); !got.IsEmpty() {
			t.Errorf("rolled back mapping visible: %s", got)
		}

		// The map is global: a device from the container sees it.
		dev := pairedDevice(t, c, "1")
		if alt, err := dev.GetAltJID(ctx, pn("44200")); err != nil || alt != lid("200") {
			t.Errorf("Device.GetAltJID = %s, %v", alt, err)
		}
	})
}
