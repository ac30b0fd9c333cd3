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
	s := Start(t)
	uri, err := s.CreateDatabase(ctx, "kill_test")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", uri)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
