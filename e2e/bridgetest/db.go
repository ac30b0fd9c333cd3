package bridgetest

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	// The drivers the bridge itself uses, to read its database from tests.
	_ "github.com/lib/pq"
	_ "github.com/mattn/go-sqlite3"
)

// OpenDB opens the bridge's own database (database.type and database.uri of its config) for
// tests to check what the bridge stored: logins, portals, the audit table. Queries use $1-style
// placeholders, which both PostgreSQL and SQLite accept. The handle is closed when the test ends.
func (b *Bridge) OpenDB(t testing.TB) *sql.DB {
	t.Helper()
	cfg, err := ReadConfig(b.ConfigPath)
	if err != nil {
		t.Fatalf("bridgetest: %v", err)
	}
	dbType, uri := cfg.String("database", "type"), cfg.String("database", "uri")
	var driver string
	switch dbType {
	case "postgres":
		driver = "postgres"
	case "sqlite3-fk-wal":
		driver = "sqlite3"
		// Read next to the running bridge without taking its write lock.
		if !strings.Contains(uri, "mode=") {
			sep := "?"
			if strings.Contains(uri, "?") {
				sep = "&"
			}
			uri += sep + "mode=ro&_busy_timeout=5000"
		}
	default:
		t.Fatalf("bridgetest: database.type %q in %s: want postgres or sqlite3-fk-wal", dbType, b.ConfigPath)
	}
	db, err := sql.Open(driver, uri)
	if err != nil {
		t.Fatalf("bridgetest: open the bridge database (%s): %v", dbType, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// QueryStrings runs a query returning one text column and gives its rows (NULL becomes "").
func QueryStrings(db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.Query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err = rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("query %q: read row: %w", query, err)
		}
		out = append(out, s.String)
	}
	return out, rows.Err()
}
