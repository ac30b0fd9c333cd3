package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maunium.net/go/mautrix/bridgev2/bridgeconfig"

	"github.com/passerelle-bridge/passerelle/bridge"
)

// The committed config.example.yaml must be exactly what `passerelle -e` writes.
func TestExampleConfigMatchesCommittedFile(t *testing.T) {
	conn := bridge.New()
	netExample, _, _ := conn.GetConfig()
	want, err := exampleConfig(conn.GetName(), netExample)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("config.example.yaml differs from `passerelle -e` output; regenerate it with: go run -tags goolm ./cmd/passerelle -e -c - > config.example.yaml")
	}
	for _, must := range []string{"type: sqlite3-fk-wal", "uri: file:passerelle.db?_txlock=immediate", "    allow: true\n", "    default: true\n", "    portal_event_buffer: 0\n", "whatsapp:\n", "telegram:\n"} {
		if !strings.Contains(want, must) {
			t.Errorf("example config lacks %q", must)
		}
	}
	if strings.Contains(want, `"*": relay`) {
		t.Error("example config lets users of every homeserver use the bridge")
	}
}

func TestExampleConfigRequest(t *testing.T) {
	cases := []struct {
		args []string
		path string
		ok   bool
	}{
		{[]string{"-e"}, "config.yaml", true},
		{[]string{"-e", "-c", "/data/config.yaml"}, "/data/config.yaml", true},
		{[]string{"--config=/x.yaml", "--generate-example-config"}, "/x.yaml", true},
		{[]string{"-c", "/x.yaml"}, "/x.yaml", false},
		{[]string{"-g", "-c", "c.yaml", "-r", "r.yaml"}, "c.yaml", false},
	}
	for _, tc := range cases {
		path, ok := exampleConfigRequest(tc.args)
		if path != tc.path || ok != tc.ok {
			t.Errorf("exampleConfigRequest(%v) = %q, %v; want %q, %v", tc.args, path, ok, tc.path, tc.ok)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	cases := []struct {
		name    string
		domain  string
		perms   []string
		dbType  string
		dbURI   string
		wantErr string
		wantURI string
		encrypt bool
		// wantType is the database type the bridge opens; empty means dbType unchanged.
		wantType string
	}{
		{"leftover example permission", "gov.example.org", []string{"example.com", "gov.example.org"}, "postgres", "postgres://x", "bridge.permissions: \"example.com\"", "postgres://x", false, ""},
		{"leftover example admin", "gov.example.org", []string{"@admin:example.com"}, "postgres", "postgres://x", "replace example.com", "postgres://x", false, ""},
		{"own domain ok", "gov.example.org", []string{"gov.example.org"}, "postgres", "postgres://x", "", "postgres://x", false, ""},
		{"relative sqlite next to config", "h.org", nil, "sqlite3-fk-wal", "file:passerelle.db?_txlock=immediate", "", "file:/etc/passerelle/passerelle.db?_txlock=immediate", false, ""},
		{"absolute sqlite kept", "h.org", nil, "sqlite3-fk-wal", "file:/var/lib/p.db?_txlock=immediate", "", "file:/var/lib/p.db?_txlock=immediate", false, ""},
		{"binary parameters with encryption", "h.org", nil, "postgres", "postgres://db/p?binary_parameters=yes", "breaks the encryption store", "postgres://db/p?binary_parameters=yes", true, ""},
		{"binary parameters without encryption", "h.org", nil, "postgres", "postgres://db/p?binary_parameters=yes", "", "postgres://db/p?binary_parameters=yes", false, ""},
		{"encryption on plain postgres", "h.org", nil, "postgres", "postgres://db/p?sslmode=require", "", "postgres://db/p?sslmode=require", true, ""},
		{"postgres opened with prepared statements", "h.org", nil, "postgres", "postgres://db/p", "", "postgres://db/p", false, "postgres+prepared"},
		{"statement cache off", "h.org", nil, "postgres", "postgres://db/p?statement_cache_size=0", "", "postgres://db/p?statement_cache_size=0", false, "postgres+prepared"},
		{"statement cache size not a number", "h.org", nil, "postgres", "postgres://db/p?statement_cache_size=lots", "database.uri: statement_cache_size=\"lots\"", "postgres://db/p?statement_cache_size=lots", false, ""},
		{"sqlite type kept", "h.org", nil, "sqlite3-fk-wal", "file:/var/lib/p.db", "", "file:/var/lib/p.db", false, "sqlite3-fk-wal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &bridgeconfig.Config{}
			cfg.Homeserver.Domain = tc.domain
			cfg.Bridge.Permissions = bridgeconfig.PermissionConfig{}
			for _, p := range tc.perms {
				cfg.Bridge.Permissions[p] = &bridgeconfig.Permissions{}
			}
			cfg.Database.Type = tc.dbType
			cfg.Database.URI = tc.dbURI
			cfg.Encryption.Allow = tc.encrypt
			err := checkConfig(cfg, "/etc/passerelle/config.yaml")
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if cfg.Database.URI != tc.wantURI {
				t.Errorf("URI = %q, want %q", cfg.Database.URI, tc.wantURI)
			}
			if tc.wantType != "" && cfg.Database.Type != tc.wantType {
				t.Errorf("type = %q, want %q", cfg.Database.Type, tc.wantType)
			}
		})
	}
}
