package devicestore

import (
	"bytes"
	"context"
	"testing"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

func TestAppStateSyncKeyStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		ks := pairedDevice(t, c, "100").AppStateKeys

		if id, err := ks.GetLatestAppStateSyncKeyID(ctx); err != nil || id != nil {
			t.Fatalf("latest key on empty store = %x, %v", id, err)
		}
		if key, err := ks.GetAppStateSyncKey(ctx, []byte{1}); err != nil || key != nil {
			t.Fatalf("missing key = %v, %v", key, err)
		}
		steps := []struct {
			id         byte
			data       string
			ts         int64
			wantData   string
			wantLatest byte
		}{
			{1, "one", 100, "one", 1},
			{2, "two", 200, "two", 2},
			{1, "one-old", 50, "one", 2},      // older re-share does not roll back
			{1, "one-new", 300, "one-new", 1}, // newer replaces and becomes latest
		}
		for _, st := range steps {
			check(t, ks.PutAppStateSyncKey(ctx, []byte{st.id}, store.AppStateSyncKey{Data: []byte(st.data), Fingerprint: []byte("fp"), Timestamp: st.ts}))
			got, err := ks.GetAppStateSyncKey(ctx, []byte{st.id})
			check(t, err)
			if got == nil || string(got.Data) != st.wantData || string(got.Fingerprint) != "fp" {
				t.Fatalf("after put %s: key %d = %+v, want data %q", st.data, st.id, got, st.wantData)
			}
			latest, err := ks.GetLatestAppStateSyncKeyID(ctx)
			check(t, err)
			if !bytes.Equal(latest, []byte{st.wantLatest}) {
				t.Errorf("after put %s: latest = %x, want %x", st.data, latest, st.wantLatest)
			}
		}
		if err := ks.PutAppStateSyncKey(ctx, nil, store.AppStateSyncKey{Data: []byte("x")}); err == nil {
			t.Error("empty key ID accepted")
		}
	})
}

func TestAppStateStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		as := pairedDevice(t, c, "100").AppState
		const coll = "regular_high"

		v, h, err := as.GetAppStateVersion(ctx, coll)
		check(t, err)
		if v != 0 || h != [128]byte{} {
			t.Fatalf("unknown collection at v%d", v)
		}
		hash := [128]byte(randBytes(t, 128))
		check(t, as.PutAppStateVersion(ctx, coll, 5, hash))
		v, h, err = as.GetAppStateVersion(ctx, coll)
		check(t, err)
		if v != 5 || h != hash {
			t.Fatalf("version round trip: v%d", v)
		}

		idx := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
		val := func(b byte) []byte { return bytes.Repeat([]byte{b ^ 0xff}, 32) }
		muts := make([]store.AppStateMutationMAC, 0, 501)
		for i := range 500 { // several batches
			muts = append(muts, store.AppStateMutationMAC{IndexMAC: append(idx(byte(i)), byte(i>>8))[1:], ValueMAC: val(byte(i))})
		}
		// A duplicate index in the same batch keeps the last value.
		muts = append(muts, store.AppStateMutationMAC{IndexMAC: muts[0].IndexMAC, ValueMAC: val(0xAA)})
		check(t, as.PutAppStateMutationMACs(ctx, coll, 5, muts))
		got, err := as.GetAppStateMutationMAC(ctx, coll, muts[0].IndexMAC)
		check(t, err)
		if !bytes.Equal(got, val(0xAA)) {
			t.Errorf("duplicate index MAC kept %x, want last value", got)
		}
		got, err = as.GetAppStateMutationMAC(ctx, coll, muts[300].IndexMAC)
		check(t, err)
		if !bytes.Equal(got, muts[300].ValueMAC) {
			t.Errorf("value MAC #300 = %x", got)
		}
		// A newer version of the same index wins.
		check(t, as.PutAppStateVersion(ctx, coll, 6, hash))
		check(t, as.PutAppStateMutationMACs(ctx, coll, 6, []store.AppStateMutationMAC{{IndexMAC: muts[300].IndexMAC, ValueMAC: val(0x11)}}))
		got, _ = as.GetAppStateMutationMAC(ctx, coll, muts[300].IndexMAC)
		if !bytes.Equal(got, val(0x11)) {
			t.Errorf("newest version's value MAC not returned: %x", got)
		}
		if got, err := as.GetAppStateMutationMAC(ctx, "other", muts[300].IndexMAC); err != nil || got != nil {
			t.Errorf("MAC leaked into other collection: %x %v", got, err)
		}

		// Removing deletes the index at every version.
		check(t, as.DeleteAppStateMutationMACs(ctx, coll, [][]byte{muts[300].IndexMAC, muts[1].IndexMAC}))
		for _, i := range []int{300, 1} {
			if got, _ := as.GetAppStateMutationMAC(ctx, coll, muts[i].IndexMAC); got != nil {
				t.Errorf("deleted MAC #%d still there", i)
			}
		}
		check(t, as.DeleteAppStateMutationMACs(ctx, coll, nil))
		check(t, as.PutAppStateMutationMACs(ctx, coll, 7, nil))

		// Deleting the collection starts over, MACs included.
		check(t, as.DeleteAppStateVersion(ctx, coll))
		v, _, err = as.GetAppStateVersion(ctx, coll)
		check(t, err)
		if v != 0 {
			t.Errorf("deleted collection at v%d", v)
		}
		if got, _ := as.GetAppStateMutationMAC(ctx, coll, muts[2].IndexMAC); got != nil {
			t.Error("MACs survived DeleteAppStateVersion")
		}
	})
}
