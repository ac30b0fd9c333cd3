package secrets

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

func TestRotate(t *testing.T) {
	oldPage := pageSize
	pageSize = 4 // several pages over a composite key
	t.Cleanup(func() { pageSize = oldPage })
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		createTestTable(t, db)
		cols := []Column{testColumn}
		rows := makeRows(23)
		keyA, keyB := mustKey(t, mustGenerate(t)), mustKey(t, mustGenerate(t))

		sA, err := Activate(ctx, db, "test", NewKeyring(keyA), cols, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		writeRows(t, db, sA, rows[:15])

		// The operator configures B as current with A as old; the bridge writes new values
		// with B, so the store is mixed, as after an interrupted rotation.
		ringBA := NewKeyring(keyB, keyA)
		sBA, err := Activate(ctx, db, "test", ringBA, cols, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		writeRows(t, db, sBA, rows[15:])
		checkRows(t, db, sBA, rows)

		// Rotation without the key configured is refused.
		if _, err = Rotate(ctx, db, "test", nil, cols, zerolog.Nop()); !errors.Is(err, ErrNoKey) {
			t.Fatalf("Rotate without key: %v", err)
		}

		stats, err := Rotate(ctx, db, "test", ringBA, cols, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		// rows[1] is NULL: 14 A values, 8 B values.
		if stats.Resealed != 14 || stats.Current != 8 || stats.Failed != 0 || stats.Changed != 0 ||
			!slices.Equal(stats.KeyIDs, []string{keyB.ID()}) {
			t.Fatalf("first rotation: %+v", stats)
		}
		for _, r := range rows {
			if id, ok := SealedKeyID(rawValue(t, db, r)); r.secret != nil && (!ok || id != keyB.ID()) {
				t.Fatalf("%s still sealed with %s", r.ref(), id)
			}
		}

		if st, err := ReadState(ctx, db, "test"); err != nil || !st.Encrypted || !slices.Equal(st.KeyIDs, []string{keyB.ID()}) {
			t.Fatalf("state after rotation: %+v, %v", st, err)
		}

		// Rerunning is harmless.
		if stats, err = Rotate(ctx, db, "test", ringBA, cols, zerolog.Nop()); err != nil || stats.Resealed != 0 || stats.Current != 22 {
			t.Fatalf("second rotation: %+v, %v", stats, err)
		}

		// A bridge still configured with the old key is told it can go.
		logs, log := bufferLogger()
		if _, err = Activate(ctx, db, "test", ringBA, cols, log); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "not needed") || !strings.Contains(logs.String(), keyA.ID()) {
			t.Errorf("no hint that old key %s is unused: %s", keyA.ID(), logs)
		}

		// The old key can be dropped now.
		sB, err := Activate(ctx, db, "test", NewKeyring(keyB), cols, zerolog.Nop())
		if err != nil {
			t.Fatalf("activation with the new key only: %v", err)
		}
		checkRows(t, db, sB, rows)
	})
}

func TestRotateReportsUnreadableValues(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		createTestTable(t, db)
		cols := []Column{testColumn}
		rows := makeRows(6)
		keyA, keyB := mustKey(t, mustGenerate(t)), mustKey(t, mustGenerate(t))
		sA, err := Activate(ctx, db, "test", NewKeyring(keyA), cols, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		writeRows(t, db, sA, rows)
		// Corrupt one value (last byte of the tag).
		bad := rows[4]
		raw := rawValue(t, db, bad)
		raw[len(raw)-1] ^= 0xff
		if _, err = db.Exec(ctx, `UPDATE sealed_test SET secret=$1 WHERE owner=$2 AND n=$3 AND hash=$4`, raw, bad.owner, bad.n, bad.hash); err != nil {
			t.Fatal(err)
		}

		stats, err := Rotate(ctx, db, "test", NewKeyring(keyB, keyA), cols, zerolog.Nop())
		if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), bad.owner) {
			t.Fatalf("Rotate over a tampered value: %v, want ErrTampered naming the row", err)
		}
		if stats.Failed != 1 || stats.Resealed != 4 {
			t.Fatalf("stats %+v, want 1 failed and the other 4 values re-sealed", stats)
		}
		// The old key is still recorded as needed, so dropping it is refused.
		if !slices.Contains(stats.KeyIDs, keyA.ID()) {
			t.Errorf("KeyIDs %v lost the old key although a value could not be moved", stats.KeyIDs)
		}
		if _, err = Activate(ctx, db, "test", NewKeyring(keyB), cols, zerolog.Nop()); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("dropping the old key after an incomplete rotation: %v, want ErrUnknownKey", err)
		}
	})
}

func TestReplaceIsCompareAndSwap(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		createTestTable(t, db)
		sdb := stateDB(db, zerolog.Nop())
		rows := makeRows(1)
		writeRows(t, db, &Sealer{}, rows)
		cells, err := testColumn.page(ctx, sdb, nil, 10)
		if err != nil || len(cells) != 1 {
			t.Fatalf("page: %v, %d cells", err, len(cells))
		}
		// The row changes after it was read (the bridge wrote it): the swap must not happen.
		writeRows(t, db, &Sealer{}, []testRow{{owner: rows[0].owner, n: rows[0].n, hash: rows[0].hash, secret: []byte("newer")}})
		if ok, err := testColumn.replace(ctx, sdb, cells[0], []byte("stale")); err != nil || ok {
			t.Fatalf("replace over a changed value: %v, %v", ok, err)
		}
		if got := string(rawValue(t, db, rows[0])); got != "newer" {
			t.Fatalf("value %q, want the bridge's newer write", got)
		}
	})
}
