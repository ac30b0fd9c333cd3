package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

// testColumn has a text, an integer and a binary key column, so the test sees that keys read
// back generically by rotation match the Refs a store builds from its Go values, on each driver.
var testColumn = Column{Table: "sealed_test", Column: "secret", Key: []string{"owner", "n", "hash"}}

// testRow is one row of sealed_test.
type testRow struct {
	owner  string
	n      int64
	hash   []byte
	secret []byte
}

func (r testRow) ref() Ref {
	return testColumn.Ref(r.owner, strconv.FormatInt(r.n, 10), string(r.hash))
}

func createTestTable(t *testing.T, db *dbutil.Database) {
	t.Helper()
	_, err := db.Exec(context.Background(), `CREATE TABLE sealed_test (
		owner  TEXT    NOT NULL,
		n      BIGINT  NOT NULL,
		hash   bytea   NOT NULL,
		secret bytea,
		PRIMARY KEY (owner, n, hash)
	)`)
	if err != nil {
		t.Fatal(err)
	}
}

func makeRows(count int) []testRow {
	rows := make([]testRow, count)
	for i := range rows {
		rows[i] = testRow{
			owner:  fmt.Sprintf("user%d@s.whatsapp.net", i%3),
			n:      int64(i * 7),
			hash:   []byte{byte(i), 0x00, 0xff, byte(i * 3)},
			secret: []byte(fmt.Sprintf("secret number %d", i)),
		}
	}
	if count > 2 {
		rows[1].secret = nil      // NULL stays NULL
		rows[2].secret = []byte{} // empty is still a value
	}
	return rows
}

// writeRows stores rows through the sealer, as a store would.
func writeRows(t *testing.T, db *dbutil.Database, s *Sealer, rows []testRow) {
	t.Helper()
	for _, r := range rows {
		var v []byte
		if r.secret != nil {
			var err error
			if v, err = s.Seal(r.ref(), r.secret); err != nil {
				t.Fatal(err)
			}
		}
		_, err := db.Exec(context.Background(), `INSERT INTO sealed_test (owner, n, hash, secret) VALUES ($1, $2, $3, $4)
			ON CONFLICT (owner, n, hash) DO UPDATE SET secret=excluded.secret`, r.owner, r.n, r.hash, v)
		if err != nil {
			t.Fatal(err)
		}
	}
}

func rawValue(t *testing.T, db *dbutil.Database, r testRow) []byte {
	t.Helper()
	var v []byte
	if err := db.QueryRow(context.Background(), `SELECT secret FROM sealed_test WHERE owner=$1 AND n=$2 AND hash=$3`,
		r.owner, r.n, r.hash).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// checkRows reads every row back through the sealer.
func checkRows(t *testing.T, db *dbutil.Database, s *Sealer, rows []testRow) {
	t.Helper()
	for _, r := range rows {
		raw := rawValue(t, db, r)
		if r.secret == nil {
			if raw != nil {
				t.Errorf("%s: NULL became %x", r.ref(), raw)
			}
			continue
		}
		if s.Encrypted() && bytes.Contains(raw, r.secret) && len(r.secret) > 0 {
			t.Errorf("%s: stored value contains the plaintext", r.ref())
		}
		got, err := s.Open(r.ref(), raw)
		if err != nil {
			t.Fatalf("open %s: %v", r.ref(), err)
		}
		if !bytes.Equal(got, r.secret) {
			t.Errorf("%s: read %q, want %q", r.ref(), got, r.secret)
		}
	}
}

func bufferLogger() (*bytes.Buffer, zerolog.Logger) {
	var buf bytes.Buffer
	return &buf, zerolog.New(&buf).Level(zerolog.TraceLevel)
}

func TestActivateLifecycle(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		if scopes, err := Scopes(ctx, db); err != nil || len(scopes) != 0 {
			t.Fatalf("Scopes of an empty database = %v, %v", scopes, err)
		}
		createTestTable(t, db)
		cols := []Column{testColumn}
		rows := makeRows(12)

		// First run without a key: works, unencrypted, with a loud warning.
		logs, log := bufferLogger()
		s, err := Activate(ctx, db, "test", nil, cols, log)
		if err != nil {
			t.Fatal(err)
		}
		if s.Encrypted() || !strings.Contains(logs.String(), "UNENCRYPTED") || !strings.Contains(logs.String(), `"level":"warn"`) {
			t.Fatalf("unencrypted start: encrypted=%v, logs %s", s.Encrypted(), logs)
		}
		writeRows(t, db, s, rows)
		if got := rawValue(t, db, rows[0]); !bytes.Equal(got, rows[0].secret) {
			t.Fatalf("unencrypted value stored as %x", got)
		}
		if activated, encrypted, err := IsActivated(ctx, db, "test"); err != nil || !activated || encrypted {
			t.Fatalf("IsActivated = %v, %v, %v", activated, encrypted, err)
		}
		if scopes, err := Scopes(ctx, db); err != nil || len(scopes) != 1 || scopes[0] != "test" {
			t.Fatalf("Scopes = %v, %v", scopes, err)
		}

		// A key is configured: existing rows are encrypted once.
		keyA := mustKey(t, mustGenerate(t))
		ringA := NewKeyring(keyA)
		logs, log = bufferLogger()
		s, err = Activate(ctx, db, "test", ringA, cols, log)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Encrypted() || !strings.Contains(logs.String(), `"values":11`) {
			t.Fatalf("encrypting activation: encrypted=%v, logs %s", s.Encrypted(), logs)
		}
		for _, r := range rows {
			if raw := rawValue(t, db, r); r.secret != nil && !IsSealed(raw) {
				t.Fatalf("%s not sealed after migration: %x", r.ref(), raw)
			}
		}
		checkRows(t, db, s, rows)
		before := rawValue(t, db, rows[0])

		// Activating again changes nothing.
		if s, err = Activate(ctx, db, "test", ringA, cols, zerolog.Nop()); err != nil || !s.Encrypted() {
			t.Fatalf("second activation: %v", err)
		}
		if !bytes.Equal(rawValue(t, db, rows[0]), before) {
			t.Error("second activation re-sealed values")
		}

		// Once encrypted, a start without the key is refused rather than mixing plaintext in.
		_, err = Activate(ctx, db, "test", nil, cols, zerolog.Nop())
		if !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), keyA.ID()) || !strings.Contains(err.Error(), EnvKey) {
			t.Fatalf("activation without key of an encrypted store: %v", err)
		}
		// A different key alone is refused, naming the missing key.
		_, err = Activate(ctx, db, "test", NewKeyring(mustKey(t, mustGenerate(t))), cols, zerolog.Nop())
		if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), keyA.ID()) || !strings.Contains(err.Error(), EnvOldKeys) {
			t.Fatalf("activation with the wrong key: %v", err)
		}

		// Swapped rows and tampered values are refused by Open.
		_, err = db.Exec(ctx, `UPDATE sealed_test SET secret=$1 WHERE owner=$2 AND n=$3 AND hash=$4`,
			rawValue(t, db, rows[0]), rows[3].owner, rows[3].n, rows[3].hash)
		if err != nil {
			t.Fatal(err)
		}
		if _, err = s.Open(rows[3].ref(), rawValue(t, db, rows[3])); !errors.Is(err, ErrTampered) ||
			!strings.Contains(err.Error(), "sealed_test.secret row ("+rows[3].owner) {
			t.Errorf("value moved from another row: %v, want ErrTampered naming the row", err)
		}

		// Losing the state row does not turn the store into "unencrypted".
		if _, err = db.Exec(ctx, `DELETE FROM passerelle_secrets WHERE scope='test'`); err != nil {
			t.Fatal(err)
		}
		if _, err = Activate(ctx, db, "test", nil, cols, zerolog.Nop()); !errors.Is(err, ErrNoKey) {
			t.Fatalf("activation without key after losing the state row: %v, want ErrNoKey", err)
		}
		if s, err = Activate(ctx, db, "test", ringA, cols, zerolog.Nop()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rawValue(t, db, rows[0]), before) {
			t.Error("already sealed value sealed a second time after losing the state row")
		}
		checkRows(t, db, s, []testRow{rows[0], rows[4], rows[5]})
	})
}

func TestActivateRefusesBadColumns(t *testing.T) {
	db := dbtest.Open(t, "sqlite3-fk-wal")
	for _, c := range []Column{
		{Table: "t; DROP TABLE x", Column: "c", Key: []string{"k"}},
		{Table: "t", Column: "c"},
	} {
		if _, err := Activate(context.Background(), db, "x", nil, []Column{c}, zerolog.Nop()); err == nil {
			t.Errorf("column %+v accepted", c)
		}
	}
}
