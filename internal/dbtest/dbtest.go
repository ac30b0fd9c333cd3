// Package dbtest gives tests a fresh, empty bridge database on each engine Passerelle supports,
// so every storage test runs on PostgreSQL and on SQLite alike.
//
// PostgreSQL is reached through PASSERELLE_TEST_POSTGRES (a lib/pq URI on an existing database
// with rights to CREATE DATABASE); it defaults to the local trust-auth server on
// /var/run/postgresql. Each call creates its own database and drops it when the test ends.
package dbtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/lib/pq"
	"go.mau.fi/util/dbutil"
	_ "go.mau.fi/util/dbutil/litestream"

	"github.com/passerelle-bridge/passerelle/internal/pgstmt"
)

// Engines lists the database types every storage test must pass on.
var Engines = []string{"postgres", "sqlite3-fk-wal"}

// DefaultPostgresURI is used when PASSERELLE_TEST_POSTGRES is unset.
const DefaultPostgresURI = "postgres://postgres@/postgres?host=/var/run/postgresql&sslmode=disable"

// PostgresAdminURI is the server that test databases are created on.
func PostgresAdminURI() string {
	if v := os.Getenv("PASSERELLE_TEST_POSTGRES"); v != "" {
		return v
	}
	return DefaultPostgresURI
}

// Config returns a database config (type and URI) for a new empty database of the given engine.
// The database is removed when t ends.
func Config(t testing.TB, engine string) dbutil.Config {
	t.Helper()
	var cfg dbutil.Config
	cfg.Type = engine
	cfg.MaxOpenConns = 5
	cfg.MaxIdleConns = 2
	switch engine {
	case "postgres":
		// The driver the bridge runs PostgreSQL on (cmd/passerelle resolveDatabase), so every
		// storage test also runs its queries as prepared statements.
		cfg.Type = pgstmt.DriverName
		cfg.URI = NewPostgresDB(t)
	case "sqlite3-fk-wal":
		cfg.URI = "file:" + filepath.Join(t.TempDir(), "passerelle.db") + "?_txlock=immediate"
		cfg.MaxOpenConns = 1
		cfg.MaxIdleConns = 1
	default:
		t.Fatalf("dbtest: unknown engine %q (want one of %v)", engine, Engines)
	}
	return cfg
}

// Open opens a new empty database of the given engine, closed and removed when t ends.
func Open(t testing.TB, engine string) *dbutil.Database {
	t.Helper()
	cfg := Config(t, engine)
	db, err := dbutil.NewFromConfig("passerelle-test", cfg, dbutil.NoopLogger)
	if err != nil {
		t.Fatalf("dbtest: open %s database: %v", engine, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// NewPostgresDB creates an empty PostgreSQL database and returns its URI; it is dropped when t ends.
func NewPostgresDB(t testing.TB) string {
	t.Helper()
	adminURI := PostgresAdminURI()
	admin, err := sql.Open("postgres", adminURI)
	if err != nil {
		t.Fatalf("dbtest: open postgres admin connection: %v", err)
	}
	if err = admin.Ping(); err != nil {
		_ = admin.Close()
		t.Fatalf("dbtest: PostgreSQL not reachable at %s (set PASSERELLE_TEST_POSTGRES): %v", adminURI, err)
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "passerelle_test_" + hex.EncodeToString(suffix)
	if _, err = admin.Exec("CREATE DATABASE " + name); err != nil {
		_ = admin.Close()
		t.Fatalf("dbtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		_ = admin.Close()
	})
	u, err := url.Parse(adminURI)
	if err != nil {
		t.Fatalf("dbtest: parse %s: %v", adminURI, err)
	}
	u.Path = "/" + name
	return u.String()
}

// ForEach runs fn as a subtest on every engine.
func ForEach(t *testing.T, fn func(t *testing.T, db *dbutil.Database)) {
	for _, engine := range Engines {
		t.Run(engine, func(t *testing.T) {
			fn(t, Open(t, engine))
		})
	}
}
