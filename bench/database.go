package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/lib/pq"

	"github.com/passerelle-bridge/passerelle/portal"
)

// DefaultPostgresAdminURI is the local trust-auth server; PASSERELLE_TEST_POSTGRES overrides it,
// as for the tests.
const DefaultPostgresAdminURI = "postgres://postgres@/postgres?host=/var/run/postgresql&sslmode=disable"

// PostgresAdminURI is where the benchmark creates (and afterwards drops) its database.
func PostgresAdminURI() string {
	if v := os.Getenv("PASSERELLE_TEST_POSTGRES"); v != "" {
		return v
	}
	return DefaultPostgresAdminURI
}

// createDatabase makes a fresh database on the admin server and returns its URI and a function
// that drops it.
func createDatabase(ctx context.Context, adminURI string) (string, func(), error) {
	admin, err := sql.Open("postgres", adminURI)
	if err != nil {
		return "", nil, fmt.Errorf("open PostgreSQL admin connection: %w", err)
	}
	if err = admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		return "", nil, fmt.Errorf("PostgreSQL not reachable at %s (set PASSERELLE_TEST_POSTGRES): %w", adminURI, err)
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "passerelle_bench_" + hex.EncodeToString(suffix)
	if _, err = admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		_ = admin.Close()
	}
	u, err := url.Parse(adminURI)
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("parse %s: %w", adminURI, err)
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// Seed sizes what seedRows writes.
type Seed struct {
	Portals int
	Ghosts  int
}

// seedRows writes portals and ghosts straight into bridgev2's tables (created by the bridge's
// first start), as a bridge that has run for a long time would hold them: 60 % DMs, 20 % basic
// groups (both owned by the login), 20 % channels (shared, no receiver), each with a room ID,
// and ghosts with names. IDs start far above the test server's accounts so none collides with
// a real chat. bridgeID is appservice.id, loginID the login the DMs and groups belong to.
func seedRows(ctx context.Context, dbURI, bridgeID, loginID string, seed Seed) error {
	db, err := sql.Open("postgres", dbURI)
	if err != nil {
		return fmt.Errorf("open bridge database: %w", err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	const base = 7_000_000_000
	ghost := func(j int) string {
		return string(portal.TGUserID(portal.TGPeer{Kind: portal.TGUser, ID: base + int64(j)}))
	}
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn("ghost", "bridge_id", "id", "name", "avatar_id", "avatar_hash", "avatar_mxc",
		"name_set", "avatar_set", "contact_info_set", "is_bot", "identifiers", "metadata"))
	if err != nil {
		return fmt.Errorf("seed ghosts: %w", err)
	}
	for j := 0; j < seed.Ghosts; j++ {
		if _, err = stmt.ExecContext(ctx, bridgeID, ghost(j), fmt.Sprintf("Seeded Contact %d", j), "", "", "",
			true, true, true, false, `["tel:+3399`+fmt.Sprintf("%08d", j)+`"]`, `{"tg":{}}`); err != nil {
			return fmt.Errorf("seed ghost %d: %w", j, err)
		}
	}
	if _, err = stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("seed ghosts: flush: %w", err)
	}
	_ = stmt.Close()

	stmt, err = tx.PrepareContext(ctx, pq.CopyIn("portal", "bridge_id", "id", "receiver", "mxid", "other_user_id",
		"name", "topic", "avatar_id", "avatar_hash", "avatar_mxc", "name_set", "avatar_set", "topic_set",
		"in_space", "room_type", "metadata"))
	if err != nil {
		return fmt.Errorf("seed portals: %w", err)
	}
	for i := 0; i < seed.Portals; i++ {
		var (
			id, receiver, roomType, name string
			other                        any
		)
		switch {
		case i%10 < 6:
			// DM i is with ghost i (its row exists while Portals <= Ghosts).
			peer := portal.TGPeer{Kind: portal.TGUser, ID: base + int64(i)}
			id, receiver, roomType = string(portal.TGPortalID(peer, 0)), loginID, "dm"
			other, name = ghost(i), ""
		case i%10 < 8:
			id, receiver, name = string(portal.TGPortalID(portal.TGPeer{Kind: portal.TGChat, ID: base + int64(i)}, 0)), loginID, fmt.Sprintf("Seeded group %d", i)
		default:
			id, name = string(portal.TGPortalID(portal.TGPeer{Kind: portal.TGChannel, ID: base + int64(i)}, 0)), fmt.Sprintf("Seeded channel %d", i)
		}
		if _, err = stmt.ExecContext(ctx, bridgeID, id, receiver, fmt.Sprintf("!seed%d:localhost", i), other,
			name, "", "", "", "", name != "", false, false, true, roomType, `{"tg":{}}`); err != nil {
			return fmt.Errorf("seed portal %d: %w", i, err)
		}
	}
	if _, err = stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("seed portals: flush: %w", err)
	}
	_ = stmt.Close()
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("seed: commit: %w", err)
	}
	_, _ = db.ExecContext(ctx, "ANALYZE portal; ANALYZE ghost")
	return nil
}

// countRows returns the number of portal and ghost rows of bridgeID.
func countRows(ctx context.Context, dbURI, bridgeID string) (portals, ghosts int, err error) {
	db, err := sql.Open("postgres", dbURI)
	if err != nil {
		return 0, 0, fmt.Errorf("open bridge database: %w", err)
	}
	defer db.Close()
	if err = db.QueryRowContext(ctx, "SELECT count(*) FROM portal WHERE bridge_id=$1", bridgeID).Scan(&portals); err != nil {
		return 0, 0, fmt.Errorf("count portals: %w", err)
	}
	if err = db.QueryRowContext(ctx, "SELECT count(*) FROM ghost WHERE bridge_id=$1", bridgeID).Scan(&ghosts); err != nil {
		return 0, 0, fmt.Errorf("count ghosts: %w", err)
	}
	return portals, ghosts, nil
}

// loginBridgeID returns the bridge_id of the login row loginID.
func loginBridgeID(ctx context.Context, dbURI, loginID string) (string, error) {
	db, err := sql.Open("postgres", dbURI)
	if err != nil {
		return "", fmt.Errorf("open bridge database: %w", err)
	}
	defer db.Close()
	var id string
	if err = db.QueryRowContext(ctx, "SELECT bridge_id FROM user_login WHERE id=$1", loginID).Scan(&id); err != nil {
		return "", fmt.Errorf("find the bridge_id of login %s: %w", loginID, err)
	}
	return id, nil
}

// dbSessions is how many sessions (connections) PostgreSQL has opened on the bridge's database
// so far (pg_stat_database.sessions, PostgreSQL 14+); -1 when the server cannot tell.
func dbSessions(ctx context.Context, adminURI, dbURI string) int64 {
	u, err := url.Parse(dbURI)
	if err != nil {
		return -1
	}
	admin, err := sql.Open("postgres", adminURI)
	if err != nil {
		return -1
	}
	defer admin.Close()
	// The statistics collector reports with a delay of up to a second.
	_, _ = admin.ExecContext(ctx, "SELECT pg_stat_clear_snapshot()")
	var n int64
	if err = admin.QueryRowContext(ctx, "SELECT sessions FROM pg_stat_database WHERE datname=$1", strings.TrimPrefix(u.Path, "/")).Scan(&n); err != nil {
		return -1
	}
	return n
}
