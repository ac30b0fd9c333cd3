package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/internal/pgstmt"
)

// resolveDatabase completes the database settings as Passerelle runs them: a relative SQLite path
// sits next to the config file, and PostgreSQL is opened through internal/pgstmt (lib/pq with
// each connection's statements kept prepared: one round trip per query instead of two). Every
// command that opens the bridge database goes through it.
//
// lib/pq's binary_parameters=yes (one round trip per query instead of two) is deliberately not
// added: mautrix's crypto store passes JSON as []byte into jsonb columns, which that mode sends
// in jsonb's binary format, and PostgreSQL refuses it ("unsupported jsonb version number"), so
// end-to-bridge encryption breaks (seen in TestBridge/postgres).
func resolveDatabase(cfg *dbutil.Config, configDir string) error {
	switch cfg.Type {
	case "sqlite3-fk-wal":
		cfg.URI = sqliteNextTo(cfg.URI, configDir)
	case "postgres":
		if _, _, err := pgstmt.SplitCacheSize(cfg.URI); err != nil {
			return err
		}
		cfg.Type = pgstmt.DriverName
	}
	return nil
}

// checkBinaryParameters refuses binary_parameters=yes on PostgreSQL while end-to-bridge
// encryption is allowed: the bridge would start, then fail every encrypted message.
func checkBinaryParameters(cfg dbutil.Config, encryptionAllowed bool) error {
	if cfg.Type != "postgres" || !encryptionAllowed {
		return nil
	}
	lower := strings.ToLower(cfg.URI)
	for _, on := range []string{"binary_parameters=yes", "binary_parameters=on", "binary_parameters=true", "binary_parameters=1"} {
		if strings.Contains(lower, on) {
			return fmt.Errorf("database.uri: binary_parameters is on, which breaks the encryption store (PostgreSQL refuses its JSON: \"unsupported jsonb version number\"); remove binary_parameters from the URI, or set encryption.allow: false")
		}
	}
	return nil
}

func sqliteNextTo(uri, dir string) string {
	path, query, _ := strings.Cut(strings.TrimPrefix(uri, "file:"), "?")
	if path == "" || path == ":memory:" || filepath.IsAbs(path) {
		return uri
	}
	out := "file:" + filepath.Join(dir, path)
	if query != "" {
		out += "?" + query
	}
	return out
}
