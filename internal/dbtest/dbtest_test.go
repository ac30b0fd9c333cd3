package dbtest

import (
	"context"
	"testing"

	"go.mau.fi/util/dbutil"
)

func TestForEachOpensWritableDatabase(t *testing.T) {
	ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, "CREATE TABLE probe (v TEXT)"); err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO probe (v) VALUES ($1)", "x"); err != nil {
			t.Fatalf("insert: %v", err)
		}
		var v string
		if err := db.QueryRow(ctx, "SELECT v FROM probe").Scan(&v); err != nil || v != "x" {
			t.Fatalf("select: %q %v", v, err)
		}
	})
}
