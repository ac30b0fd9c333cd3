package pgstmt_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/pgstmt"
)

func TestSplitCacheSize(t *testing.T) {
	cases := []struct {
		name, dsn, wantDSN string
		wantSize           int
		wantErr            string
	}{
		{"uri without it", "postgres://u@h/db?sslmode=disable", "postgres://u@h/db?sslmode=disable", pgstmt.DefaultCacheSize, ""},
		{"uri with it", "postgres://u@h/db?sslmode=disable&statement_cache_size=7", "postgres://u@h/db?sslmode=disable", 7, ""},
		{"uri turned off", "postgresql:///db?host=/run/pg&statement_cache_size=0", "postgresql:///db?host=%2Frun%2Fpg", 0, ""},
		{"uri not a number", "postgres://h/db?statement_cache_size=many", "", 0, `statement_cache_size="many" is not a number`},
		{"uri negative", "postgres://h/db?statement_cache_size=-1", "", 0, "use 0 to turn the statement cache off"},
		{"key value without it", "host=/run/pg dbname=x", "host=/run/pg dbname=x", pgstmt.DefaultCacheSize, ""},
		{"key value with it", "host=/run/pg statement_cache_size=3 dbname=x", "host=/run/pg dbname=x", 3, ""},
		{"key value spaced", "statement_cache_size = 0 dbname=x", "dbname=x", 0, ""},
		{"key value not a number", "dbname=x statement_cache_size=", "", 0, "is not a number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dsn, size, err := pgstmt.SplitCacheSize(tc.dsn)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "database.uri") {
					t.Fatalf("err = %v, want one naming database.uri and %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if dsn != tc.wantDSN || size != tc.wantSize {
				t.Fatalf("got %q, %d; want %q, %d", dsn, size, tc.wantDSN, tc.wantSize)
			}
		})
	}
}

// openCounted opens a fresh database through this driver, reached through a loopback proxy that
// counts the client's sends: lib/pq writes each batch of protocol messages in one write and
// then waits for the answer, so the count is the number of round trips.
func openCounted(t *testing.T, params string) (*sql.DB, *atomic.Int64) {
	t.Helper()
	target, err := url.Parse(dbtest.NewPostgresDB(t))
	if err != nil {
		t.Fatal(err)
	}
	network, addr := "tcp", target.Host
	if dir := target.Query().Get("host"); strings.HasPrefix(dir, "/") {
		port := target.Query().Get("port")
		if port == "" {
			port = "5432"
		}
		network, addr = "unix", dir+"/.s.PGSQL."+port
	} else if target.Port() == "" {
		addr = net.JoinHostPort(target.Hostname(), "5432")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var sends atomic.Int64
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial(network, addr)
			if err != nil {
				_ = client.Close()
				continue
			}
			go func() {
				_, _ = io.Copy(client, server)
				_ = client.Close()
			}()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := client.Read(buf)
					if n > 0 {
						sends.Add(1)
						if _, werr := server.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				_ = server.Close()
			}()
		}
	}()
	q := target.Query()
	q.Del("host")
	q.Set("sslmode", "disable")
	target.Host = ln.Addr().String()
	target.RawQuery = q.Encode()
	if params != "" {
		target.RawQuery += "&" + params
	}
	db, err := sql.Open(pgstmt.DriverName, target.String())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	if _, err = db.Exec(`CREATE TABLE item (id BIGINT PRIMARY KEY, doc JSONB, raw BYTEA, tags TEXT[], big BIGINT, at TIMESTAMPTZ, flag BOOLEAN, note TEXT)`); err != nil {
		t.Fatal(err)
	}
	return db, &sends
}

// TestOneRoundTripPerQuery is the point of the package: a repeated query with parameters costs
// one round trip once prepared, where lib/pq alone takes two every time.
func TestOneRoundTripPerQuery(t *testing.T) {
	for _, tc := range []struct {
		params string
		// perQuery is the sends of each repeated query; prepares the sends to prepare a
		// statement first seen inside the loop (the update: the select was run before it).
		perQuery, prepares int64
	}{
		{"", 1, 1},
		{pgstmt.CacheSizeParam + "=0", 2, 0},
	} {
		t.Run("params="+tc.params, func(t *testing.T) {
			db, sends := openCounted(t, tc.params)
			if _, err := db.Exec(`INSERT INTO item (id, note) VALUES ($1, $2)`, 1, "one"); err != nil {
				t.Fatal(err)
			}
			var note string
			if err := db.QueryRow(`SELECT note FROM item WHERE id = $1`, 1).Scan(&note); err != nil {
				t.Fatal(err)
			}
			before := sends.Load()
			const n = 20
			for i := 0; i < n; i++ {
				if err := db.QueryRow(`SELECT note FROM item WHERE id = $1`, 1).Scan(&note); err != nil || note != "one" {
					t.Fatalf("select %d: %q, %v", i, note, err)
				}
				if _, err := db.Exec(`UPDATE item SET note = $2 WHERE id = $1`, 1, "one"); err != nil {
					t.Fatal(err)
				}
			}
			got := sends.Load() - before
			want := 2*n*tc.perQuery + tc.prepares
			if got != want {
				t.Fatalf("%d sends for %d selects and %d updates, want %d", got, n, n, want)
			}
		})
	}
}

// TestValuesAsLibPQSendsThem writes and reads back each kind of value the bridge's stores pass,
// including JSON held in []byte into jsonb, which lib/pq's binary_parameters mode breaks.
func TestValuesAsLibPQSendsThem(t *testing.T) {
	db, _ := openCounted(t, "")
	at := time.Date(2026, 11, 28, 1, 2, 3, 456000000, time.UTC)
	for round := 0; round < 3; round++ { // the first prepares, the later ones reuse
		id := int64(round + 10)
		doc := []byte(`{"k":"v","n":` + string(rune('0'+round)) + `}`)
		raw := []byte{0, 1, 0xfe, 0xff, '\\', 'x'}
		if _, err := db.Exec(`INSERT INTO item (id, doc, raw, tags, big, at, flag, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			id, doc, raw, pq.Array([]string{"a", "b,c"}), uint64(1<<62), at, true, nil); err != nil {
			t.Fatalf("round %d insert: %v", round, err)
		}
		var (
			gotDoc, gotRaw []byte
			tags           []string
			big            int64
			gotAt          time.Time
			flag           bool
			note           sql.NullString
		)
		err := db.QueryRow(`SELECT doc, raw, tags, big, at, flag, note FROM item WHERE id = $1 AND flag = $2`, id, true).
			Scan(&gotDoc, &gotRaw, pq.Array(&tags), &big, &gotAt, &flag, &note)
		if err != nil {
			t.Fatalf("round %d select: %v", round, err)
		}
		var want, got map[string]any
		if err = json.Unmarshal(doc, &want); err != nil {
			t.Fatal(err)
		}
		if err = json.Unmarshal(gotDoc, &got); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("doc = %s (%v), want %s", gotDoc, err, doc)
		}
		if !bytes.Equal(gotRaw, raw) || strings.Join(tags, "|") != "a|b,c" || big != 1<<62 || !gotAt.Equal(at) || !flag || note.Valid {
			t.Errorf("round %d read back %v %v %d %v %v %v", round, gotRaw, tags, big, gotAt, flag, note)
		}
	}
}

// TestAlteredTableIsPreparedAgain: a statement whose result changes with a table (SELECT *) is
// prepared again after the change; outside a transaction the caller never sees the server's
// "cached plan must not change result type", inside one it gets it once and the retry works.
func TestAlteredTableIsPreparedAgain(t *testing.T) {
	db, _ := openCounted(t, "")
	if _, err := db.Exec(`INSERT INTO item (id, note) VALUES ($1, $2)`, 1, "one"); err != nil {
		t.Fatal(err)
	}
	columns := func(q interface {
		Query(string, ...any) (*sql.Rows, error)
	}) (int, error) {
		rows, err := q.Query(`SELECT * FROM item WHERE id = $1`, 1)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return 0, err
		}
		if !rows.Next() {
			return 0, errors.New("no row")
		}
		return len(cols), rows.Err()
	}
	if n, err := columns(db); err != nil || n != 8 {
		t.Fatalf("before: %d columns, %v", n, err)
	}
	if _, err := db.Exec(`ALTER TABLE item ADD COLUMN extra TEXT`); err != nil {
		t.Fatal(err)
	}
	if n, err := columns(db); err != nil || n != 9 {
		t.Fatalf("after the change, outside a transaction: %d columns, %v", n, err)
	}
	if _, err := db.Exec(`ALTER TABLE item ADD COLUMN more TEXT`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err = columns(tx); err == nil || !strings.Contains(err.Error(), "cached plan") {
		t.Fatalf("inside a transaction: err = %v, want the server's cached plan error", err)
	}
	_ = tx.Rollback()
	tx, err = db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := columns(tx); err != nil || n != 10 {
		t.Fatalf("the transaction's retry: %d columns, %v", n, err)
	}
	if err = tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestCacheKeepsItsSize: beyond statement_cache_size the least recently used statement is
// closed on the server, and a query whose statement was closed is prepared again.
func TestCacheKeepsItsSize(t *testing.T) {
	db, _ := openCounted(t, pgstmt.CacheSizeParam+"=3")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queries := []string{
		`SELECT $1::int + 1`, `SELECT $1::int + 2`, `SELECT $1::int + 3`, `SELECT $1::int + 4`, `SELECT $1::int + 5`, `SELECT $1::int + 1`,
	}
	for i, q := range queries {
		var got int
		if err = c.QueryRowContext(ctx, q, 10).Scan(&got); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		if want := 10 + int(q[len(q)-1]-'0'); got != want {
			t.Fatalf("query %d = %d, want %d", i, got, want)
		}
		var held int
		if err = c.QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements`).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if want := min(i+1, 3); held != want {
			t.Fatalf("after query %d the server holds %d statements, want %d", i, held, want)
		}
	}
}

// TestOpenRowsRefuseASecondQuery: while rows are being read, a second query on the same
// connection gets lib/pq's refusal rather than interleaving with them, whichever way each query
// is sent (prepared with parameters, lib/pq's simple protocol without).
func TestOpenRowsRefuseASecondQuery(t *testing.T) {
	for _, first := range []struct {
		query string
		args  []any
	}{{`SELECT id FROM item WHERE id > $1 ORDER BY id`, []any{0}}, {`SELECT id FROM item ORDER BY id`, nil}} {
		for _, second := range []struct {
			query string
			args  []any
		}{{`UPDATE item SET note = $1 WHERE id = $2`, []any{"x", 1}}, {`UPDATE item SET note = 'y'`, nil}} {
			t.Run(fmt.Sprintf("%d-%d", len(first.args), len(second.args)), func(t *testing.T) {
				refuseWhileRowsOpen(t, first.query, first.args, second.query, second.args)
			})
		}
	}
}

func refuseWhileRowsOpen(t *testing.T, firstQuery string, firstArgs []any, secondQuery string, secondArgs []any) {
	db, _ := openCounted(t, "")
	for i := 1; i <= 3; i++ {
		if _, err := db.Exec(`INSERT INTO item (id, note) VALUES ($1, $2)`, i, "n"); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.Query(firstQuery, firstArgs...)
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatal("no first row")
	}
	if _, err = tx.Exec(secondQuery, secondArgs...); err == nil || !strings.Contains(err.Error(), "already a query being processed") {
		t.Fatalf("second query while rows are open: err = %v", err)
	}
	if _, err = tx.Prepare(secondQuery); err == nil || !strings.Contains(err.Error(), "already a query being processed") {
		t.Fatalf("prepare while rows are open: err = %v", err)
	}
	n := 1
	for rows.Next() {
		n++
	}
	if err = rows.Close(); err != nil || n != 3 {
		t.Fatalf("rows after the refusal: %d, %v", n, err)
	}
	if _, err = tx.Exec(secondQuery, secondArgs...); err != nil {
		t.Fatalf("query after the rows closed: %v", err)
	}
}

// TestCancelledQueryLeavesConnectionUsable: a query cancelled by its context fails with the
// cancellation, and the next queries on the same connection get their own answers.
func TestCancelledQueryLeavesConnectionUsable(t *testing.T) {
	db, _ := openCounted(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := db.ExecContext(ctx, `SELECT pg_sleep($1)`, 5); err == nil {
		t.Fatal("a 5 s sleep with a 100 ms deadline succeeded")
	}
	for i := 0; i < 5; i++ {
		var got int
		if err := db.QueryRow(`SELECT $1::int * 2`, i).Scan(&got); err != nil || got != i*2 {
			t.Fatalf("query %d after the cancel: %d, %v", i, got, err)
		}
	}
}

// BenchmarkPrimaryKeyRead compares a primary-key read as the bridge's stores make it, with and
// without the statement cache, on the local PostgreSQL (unix socket or PASSERELLE_TEST_POSTGRES).
func BenchmarkPrimaryKeyRead(b *testing.B) {
	for _, tc := range []struct{ name, params string }{{"prepared", ""}, {"lib/pq", pgstmt.CacheSizeParam + "=0"}} {
		b.Run(tc.name, func(b *testing.B) {
			uri := dbtest.NewPostgresDB(b) + "&" + tc.params
			db, err := sql.Open(pgstmt.DriverName, uri)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if _, err = db.Exec(`CREATE TABLE item (id BIGINT PRIMARY KEY, note TEXT)`); err != nil {
				b.Fatal(err)
			}
			if _, err = db.Exec(`INSERT INTO item SELECT g, 'n' || g FROM generate_series(1, 1000) g`); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				var note string
				if err = db.QueryRow(`SELECT note FROM item WHERE id = $1`, i%1000+1).Scan(&note); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDroppedStatementIsPreparedAgain: a statement the server no longer holds (DEALLOCATE, or a
// pooler's DISCARD ALL) is prepared again, and the query answered, on the same connection.
func TestDroppedStatementIsPreparedAgain(t *testing.T) {
	db, _ := openCounted(t, "")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 3; i++ {
		var got int
		if err = c.QueryRowContext(ctx, `SELECT $1::int + 1`, i).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("query %d: %d, %v", i, got, err)
		}
		if _, err = c.ExecContext(ctx, `DEALLOCATE ALL`); err != nil {
			t.Fatal(err)
		}
	}
}
