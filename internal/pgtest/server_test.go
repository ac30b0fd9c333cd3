package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"testing"
	"time"
)

// TestKillKeepsCommitted proves the property fault tests rely on: a row committed before a
// SIGKILL of the whole server is there after it starts again, and the server is unreachable
// while it is down.
func TestKillKeepsCommitted(t *testing.T) {
	ctx := context.Background()
	s, db := startWithDatabase(t, "kill_test")
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (v INT); INSERT INTO t VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	// A fresh connection, not one from the pool: the pool may hand out a connection whose
	// death it has not noticed yet.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second); err == nil {
		_ = c.Close()
		t.Fatal("the killed server still accepts connections")
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRowContext(ctx, `SELECT v FROM t`).Scan(&v); err != nil || v != 42 {
		t.Fatalf("after restart: v=%d err=%v, want 42", v, err)
	}
}

// TestKillEndsOpenConnections: a connection opened before Kill answers nothing after it, and
// its backend is gone by the time Kill returns. PostgreSQL's backends leave the postmaster's
// process group, so killing that group alone left a backend answering one more query on its
// open connection (a store read "with the database down" found no row instead of failing).
func TestKillEndsOpenConnections(t *testing.T) {
	ctx := context.Background()
	s, db := startWithDatabase(t, "kill_conns_test")
	conns := make([]*sql.Conn, 3)
	pids := make([]int, len(conns))
	for i := range conns {
		var err error
		if conns[i], err = db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
		if err := conns[i].QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pids[i]); err != nil {
			t.Fatal(err)
		}
		if gone(pids[i]) {
			t.Fatalf("backend %d of a live connection reads as gone", pids[i])
		}
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		if !gone(pids[i]) {
			t.Errorf("backend %d still runs after Kill returned", pids[i])
		}
		var one int
		if err := c.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err == nil {
			t.Errorf("connection %d answered a query after Kill", i)
		}
	}
}

// startWithDatabase starts a server with one database and opens it; both end with the test.
func startWithDatabase(t *testing.T, name string) (*Server, *sql.DB) {
	t.Helper()
	s := Start(t)
	uri, err := s.CreateDatabase(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return s, db
}
