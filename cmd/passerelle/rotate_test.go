package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/secrets"
	"github.com/passerelle-bridge/passerelle/telegram/tgstore"
	"github.com/passerelle-bridge/passerelle/whatsapp/devicestore"
)

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t *testing.T) (string, *secrets.Key) {
	t.Helper()
	text, err := secrets.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := secrets.ParseKey(text)
	if err != nil {
		t.Fatal(err)
	}
	return text, k
}

// seedDevice stores a paired device with sessions and prekeys, sealed with ring, and returns
// its JID and the values to find again.
func seedDevice(t *testing.T, db *dbutil.Database, ring *secrets.Keyring, user string, sessions int) (types.JID, *store.Device, map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	c := devicestore.New(db, zerolog.Nop(), devicestore.WithKeyring(ring))
	if err := c.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	dev := c.NewDevice()
	jid := types.NewJID(user, types.DefaultUserServer)
	jid.Device = 3
	dev.ID = &jid
	dev.Account = &waAdv.ADVSignedDeviceIdentity{
		Details: random(t, 40), AccountSignature: random(t, 64), AccountSignatureKey: random(t, 32), DeviceSignature: random(t, 64),
	}
	if err := c.PutDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for i := range sessions {
		addr := fmt.Sprintf("3361%07d:0", i)
		want[addr] = random(t, 200)
		if err := dev.Sessions.PutSession(ctx, addr, want[addr]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dev.PreKeys.GetOrGenPreKeys(ctx, 30); err != nil {
		t.Fatal(err)
	}
	return jid, dev, want
}

func writeConfig(t *testing.T, cfg dbutil.Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	text := fmt.Sprintf("homeserver:\n  address: http://localhost:8008\ndatabase:\n  type: %s\n  uri: %q\n  max_open_conns: 2\n", cfg.Type, cfg.URI)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runRotate(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := runRotateSecrets(args, &out, &out)
	return code, out.String()
}

// TestRotateSecretsCommand runs `passerelle rotate-secrets` on a database sealed with an old key
// plus values the running bridge already sealed with the new one, then checks that every value
// reads back with the new key alone.
func TestRotateSecretsCommand(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			cfg := dbtest.Config(t, engine)
			db, err := dbutil.NewFromConfig("", cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			oldText, oldKey := newKey(t)
			newText, newKeyObj := newKey(t)
			oldJID, oldDev, oldSessions := seedDevice(t, db, secrets.NewKeyring(oldKey), "111", 20)
			// After the restart with the new key, the bridge writes a second device.
			newJID, newDev, newSessions := seedDevice(t, db, secrets.NewKeyring(newKeyObj, oldKey), "222", 5)
			configPath := writeConfig(t, cfg)

			// Without the keys in the environment the command explains what to set.
			t.Setenv(secrets.EnvKeyFile, "")
			t.Setenv(secrets.EnvRequired, "")
			t.Setenv(secrets.EnvKey, "")
			t.Setenv(secrets.EnvOldKeys, "")
			code, out := runRotate(t, "-c", configPath)
			if code == 0 || !strings.Contains(out, secrets.EnvKey) || !strings.Contains(out, secrets.EnvOldKeys) {
				t.Fatalf("without keys: exit %d, output %q", code, out)
			}
			// With only the new key, the values sealed with the old one cannot be moved.
			t.Setenv(secrets.EnvKey, newText)
			code, out = runRotate(t, "-c", configPath)
			if code == 0 || !strings.Contains(out, oldKey.ID()) {
				t.Fatalf("without the old key: exit %d, output %q", code, out)
			}

			t.Setenv(secrets.EnvOldKeys, oldText)
			code, out = runRotate(t, "--config", configPath)
			// Old device: 4 device keys + 20 sessions + 30 prekeys; new device: 4 + 5 + 30.
			if code != 0 || !strings.Contains(out, "WhatsApp device store: 54 re-sealed, 39 already current, 0 changed by the running bridge, 0 failed") ||
				!strings.Contains(out, "older keys are no longer needed") {
				t.Fatalf("rotation: exit %d, output:\n%s", code, out)
			}
			t.Logf("rotate-secrets output:\n%s", out)
			if strings.Contains(out, oldText) || strings.Contains(out, newText) {
				t.Fatal("the output shows a key")
			}
			code, out = runRotate(t, "-c", configPath)
			if code != 0 || !strings.Contains(out, "0 re-sealed, 93 already current") {
				t.Fatalf("second run: exit %d, output:\n%s", code, out)
			}

			// The old key can go: everything reads back with the new key alone.
			c := devicestore.New(db, zerolog.Nop(), devicestore.WithKeyring(secrets.NewKeyring(newKeyObj)))
			if err = c.Upgrade(ctx); err != nil {
				t.Fatalf("start with the new key only: %v", err)
			}
			for _, d := range []struct {
				jid      types.JID
				orig     *store.Device
				sessions map[string][]byte
			}{{oldJID, oldDev, oldSessions}, {newJID, newDev, newSessions}} {
				dev, err := c.GetDevice(ctx, d.jid)
				if err != nil || dev == nil {
					t.Fatalf("device %s: %v", d.jid, err)
				}
				if *dev.NoiseKey.Priv != *d.orig.NoiseKey.Priv || *dev.IdentityKey.Priv != *d.orig.IdentityKey.Priv ||
					!bytes.Equal(dev.AdvSecretKey, d.orig.AdvSecretKey) {
					t.Fatalf("device %s keys changed by rotation", d.jid)
				}
				for addr, want := range d.sessions {
					got, err := dev.Sessions.GetSession(ctx, addr)
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("session %s of %s after rotation: %v", addr, d.jid, err)
					}
				}
				if pk, err := dev.PreKeys.GetPreKey(ctx, 30); err != nil || pk == nil {
					t.Fatalf("prekey 30 of %s after rotation: %v", d.jid, err)
				}
			}
			// Every stored session names the new key.
			rows, err := db.Query(ctx, `SELECT session FROM whatsmeow_sessions`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var v []byte
				if err = rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				if id, ok := secrets.SealedKeyID(v); !ok || id != newKeyObj.ID() {
					t.Errorf("a session is sealed with %q after rotation", id)
				}
				n++
			}
			if n != 25 {
				t.Errorf("%d sessions, want 25", n)
			}
		})
	}
}

func TestRotateSecretsArguments(t *testing.T) {
	keyText, _ := newKey(t)
	t.Setenv(secrets.EnvKey, keyText)
	t.Setenv(secrets.EnvOldKeys, "")
	dir := t.TempDir()
	noDB := filepath.Join(dir, "nodb.yaml")
	if err := os.WriteFile(noDB, []byte("homeserver:\n  address: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing config", []string{"-c", filepath.Join(dir, "missing.yaml")}, 1, "give its path with -c"},
		{"config without database", []string{"-c", noDB}, 1, "database.type and database.uri must be set"},
		{"stray argument", []string{"now"}, 2, `unexpected argument "now"`},
		{"unknown flag", []string{"--force"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runRotate(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, output %q; want %d and %q", code, out, tt.code, tt.want)
			}
		})
	}
	t.Run("generate key", func(t *testing.T) {
		code, out := runRotate(t, "--generate-key")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		if _, err := secrets.ParseKey(out); err != nil {
			t.Fatalf("generated key %q does not parse: %v", out, err)
		}
	})
}

// TestRotateSecretsSkipsAbsentStores points the command at a database without a device store:
// nothing is created, nothing fails.
func TestRotateSecretsSkipsAbsentStores(t *testing.T) {
	keyText, _ := newKey(t)
	t.Setenv(secrets.EnvKey, keyText)
	t.Setenv(secrets.EnvOldKeys, "")
	cfg := dbtest.Config(t, "sqlite3-fk-wal")
	code, out := runRotate(t, "-c", writeConfig(t, cfg))
	if code != 0 || !strings.Contains(out, "WhatsApp device store: not in this database, skipped") {
		t.Fatalf("exit %d, output %q", code, out)
	}
	db, err := dbutil.NewFromConfig("", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if exists, err := db.TableExists(context.Background(), devicestore.VersionTable); err != nil || exists {
		t.Fatalf("device store created in a database that had none: %v, %v", exists, err)
	}
}

// TestRotateSecretsProtectsRunningBridge: re-sealing with a key the bridge has not started with,
// or encrypting a store the bridge runs unencrypted, would make values unreadable to a running
// bridge; the command refuses both unless told the bridge is stopped.
func TestRotateSecretsProtectsRunningBridge(t *testing.T) {
	t.Setenv(secrets.EnvKeyFile, "")
	t.Setenv(secrets.EnvRequired, "")
	tests := []struct {
		name    string
		seedKey bool // seed the store sealed with the old key, else unencrypted
		want    string
		counts  string
	}{
		{"new key not used by the bridge yet", true, "the bridge has not started with key", "WhatsApp device store: 39 re-sealed, 0 already current"},
		{"store not encrypted yet", false, "is not encrypted yet", "WhatsApp device store: 0 re-sealed, 39 already current"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := dbtest.Config(t, "sqlite3-fk-wal")
			db, err := dbutil.NewFromConfig("", cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			oldText, oldKey := newKey(t)
			newText, newKeyObj := newKey(t)
			var seedRing *secrets.Keyring
			if tt.seedKey {
				seedRing = secrets.NewKeyring(oldKey)
			}
			jid, orig, sessions := seedDevice(t, db, seedRing, "111", 5)
			configPath := writeConfig(t, cfg)
			t.Setenv(secrets.EnvKey, newText)
			t.Setenv(secrets.EnvOldKeys, oldText)

			code, out := runRotate(t, "-c", configPath)
			if code == 0 || !strings.Contains(out, tt.want) || !strings.Contains(out, "--bridge-stopped") {
				t.Fatalf("with the bridge possibly running: exit %d, output %q", code, out)
			}
			code, out = runRotate(t, "-c", configPath, "--bridge-stopped")
			if code != 0 || !strings.Contains(out, tt.counts) || !strings.Contains(out, "older keys are no longer needed") {
				t.Fatalf("with --bridge-stopped: exit %d, output:\n%s", code, out)
			}
			c := devicestore.New(db, zerolog.Nop(), devicestore.WithKeyring(secrets.NewKeyring(newKeyObj)))
			if err = c.Upgrade(ctx); err != nil {
				t.Fatal(err)
			}
			dev, err := c.GetDevice(ctx, jid)
			if err != nil || dev == nil || *dev.IdentityKey.Priv != *orig.IdentityKey.Priv {
				t.Fatalf("device after rotation: %v", err)
			}
			for addr, want := range sessions {
				if got, err := dev.Sessions.GetSession(ctx, addr); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("session %s after rotation: %v", addr, err)
				}
			}
		})
	}
}

// TestRotateSecretsTelegramStore: the Telegram sessions sealed with the old key are re-sealed
// with the new one, and load back with the new key alone.
func TestRotateSecretsTelegramStore(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			cfg := dbtest.Config(t, engine)
			db, err := dbutil.NewFromConfig("", cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			oldText, oldKey := newKey(t)
			newText, newKeyObj := newKey(t)
			want := map[int64][]byte{101: random(t, 300), 202: random(t, 300)}
			// Account 101 was stored before the key change, account 202 after the restart; in that
			// order, since a store sealed under the new key refuses a keyring without it.
			for _, step := range []struct {
				id   int64
				ring *secrets.Keyring
			}{{101, secrets.NewKeyring(oldKey)}, {202, secrets.NewKeyring(newKeyObj, oldKey)}} {
				id := step.id
				st := tgstore.New(db, zerolog.Nop(), tgstore.WithKeyring(step.ring))
				if err := st.Upgrade(ctx); err != nil {
					t.Fatal(err)
				}
				if err := st.Session(id).StoreSession(ctx, want[id]); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv(secrets.EnvKeyFile, "")
			t.Setenv(secrets.EnvRequired, "")
			t.Setenv(secrets.EnvKey, newText)
			t.Setenv(secrets.EnvOldKeys, oldText)
			code, out := runRotate(t, "-c", writeConfig(t, cfg))
			if code != 0 || !strings.Contains(out, "WhatsApp device store: not in this database, skipped") ||
				!strings.Contains(out, "Telegram session store: 1 re-sealed, 1 already current, 0 changed by the running bridge, 0 failed") {
				t.Fatalf("rotation: exit %d, output:\n%s", code, out)
			}
			st := tgstore.New(db, zerolog.Nop(), tgstore.WithKeyring(secrets.NewKeyring(newKeyObj)))
			if err := st.Upgrade(ctx); err != nil {
				t.Fatalf("start with the new key only: %v", err)
			}
			for id, data := range want {
				got, err := st.Session(id).LoadSession(ctx)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("session of %d after rotation: %v", id, err)
				}
				var stored []byte
				if err := db.QueryRow(ctx, "SELECT data FROM telegram_session WHERE user_id=$1", id).Scan(&stored); err != nil {
					t.Fatal(err)
				}
				if kid, ok := secrets.SealedKeyID(stored); !ok || kid != newKeyObj.ID() {
					t.Errorf("session of %d sealed with %q after rotation", id, kid)
				}
			}
		})
	}
}
