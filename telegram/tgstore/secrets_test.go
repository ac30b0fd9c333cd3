package tgstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/gotd/td/session"
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/secrets"
)

func newKeyring(t *testing.T) *secrets.Keyring {
	t.Helper()
	text, err := secrets.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := secrets.ParseKey(text)
	if err != nil {
		t.Fatal(err)
	}
	return secrets.NewKeyring(key)
}

func openStore(t *testing.T, db *dbutil.Database, ring *secrets.Keyring) (*Store, error) {
	t.Helper()
	s := New(db, zerolog.Nop(), WithKeyring(ring))
	return s, s.Upgrade(context.Background())
}

// saveAuthKey stores a gotd session with a fresh random 256-byte auth key, the way the client
// does, and returns the key.
func saveAuthKey(t *testing.T, s *Store, userID int64) []byte {
	t.Helper()
	key := make([]byte, 256)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	loader := session.Loader{Storage: s.Session(userID)}
	if err := loader.Save(context.Background(), &session.Data{DC: 2, Addr: "149.154.167.40:443", AuthKey: key, AuthKeyID: key[len(key)-8:]}); err != nil {
		t.Fatal(err)
	}
	return key
}

func loadAuthKey(s *Store, userID int64) ([]byte, error) {
	loader := session.Loader{Storage: s.Session(userID)}
	data, err := loader.Load(context.Background())
	if err != nil {
		return nil, err
	}
	return data.AuthKey, nil
}

// leaks scans every row of the Telegram tables and of passerelle_secrets for the secret in raw,
// hex and base64 (standard and URL, padded or not) form, and names where it was found.
func leaks(t *testing.T, db *dbutil.Database, secret []byte) []string {
	t.Helper()
	ctx := context.Background()
	forms := map[string][]byte{
		"raw":       secret,
		"hex":       []byte(hex.EncodeToString(secret)),
		"HEX":       bytes.ToUpper([]byte(hex.EncodeToString(secret))),
		"base64":    []byte(base64.StdEncoding.EncodeToString(secret)),
		"base64raw": []byte(base64.RawStdEncoding.EncodeToString(secret)),
		"base64url": []byte(base64.RawURLEncoding.EncodeToString(secret)),
	}
	var found []string
	for _, table := range []string{"telegram_session", "telegram_update_state", "telegram_channel_state", "telegram_access_hash", "passerelle_secrets"} {
		rows, err := db.Query(ctx, "SELECT * FROM "+table)
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var cell []byte
				switch v := v.(type) {
				case []byte:
					cell = v
				default:
					cell = fmt.Append(nil, v)
				}
				for name, form := range forms {
					if bytes.Contains(cell, form) {
						found = append(found, fmt.Sprintf("%s.%s (%s)", table, cols[i], name))
					}
				}
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return found
}

// TestSessionSealedAtRest: without a key the auth key is readable in the database (so the scan
// can find it); once a key is configured the stored session is encrypted in place, new sessions
// are sealed, the database alone no longer shows the auth key, and the store refuses to start
// without its key.
func TestSessionSealedAtRest(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		plain, err := openStore(t, db, nil)
		if err != nil {
			t.Fatal(err)
		}
		if plain.Encrypted() {
			t.Fatal("store without a key says it is encrypted")
		}
		oldKey := saveAuthKey(t, plain, 1)
		if found := leaks(t, db, oldKey); len(found) == 0 {
			t.Fatal("the scan does not find an unencrypted auth key: it cannot show that sealing hides it")
		}

		ring := newKeyring(t)
		sealed, err := openStore(t, db, ring)
		if err != nil {
			t.Fatalf("encrypting a plaintext store: %v", err)
		}
		if !sealed.Encrypted() {
			t.Fatal("store with a key is not encrypted")
		}
		if found := leaks(t, db, oldKey); len(found) > 0 {
			t.Fatalf("auth key stored before the key was configured still readable after encryption: %v", found)
		}
		if got, err := loadAuthKey(sealed, 1); err != nil || !bytes.Equal(got, oldKey) {
			t.Fatalf("session encrypted at upgrade does not load back: %v", err)
		}
		newKey := saveAuthKey(t, sealed, 2)
		if found := leaks(t, db, newKey); len(found) > 0 {
			t.Fatalf("auth key readable in the database: %v", found)
		}
		if got, err := loadAuthKey(sealed, 2); err != nil || !bytes.Equal(got, newKey) {
			t.Fatalf("sealed session does not load back: %v", err)
		}

		if _, err := openStore(t, db, nil); !errors.Is(err, secrets.ErrNoKey) {
			t.Fatalf("encrypted store started without its key: got %v, want ErrNoKey", err)
		}
		if _, err := openStore(t, db, newKeyring(t)); !errors.Is(err, secrets.ErrUnknownKey) {
			t.Fatalf("encrypted store started with another key: got %v, want ErrUnknownKey", err)
		}
	})
}

// TestSealedSessionTampering: a sealed session that was changed, or moved to another account's
// row, is refused instead of being handed to gotd.
func TestSealedSessionTampering(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		s, err := openStore(t, db, newKeyring(t))
		if err != nil {
			t.Fatal(err)
		}
		saveAuthKey(t, s, 10)
		saveAuthKey(t, s, 20)
		var a, b []byte
		if err := db.QueryRow(ctx, "SELECT data FROM telegram_session WHERE user_id=10").Scan(&a); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, "SELECT data FROM telegram_session WHERE user_id=20").Scan(&b); err != nil {
			t.Fatal(err)
		}
		flipped := bytes.Clone(a)
		flipped[len(flipped)-1] ^= 1
		tests := []struct {
			name string
			data []byte
			want error
		}{
			{"swapped from another account", b, secrets.ErrTampered},
			{"one bit flipped", flipped, secrets.ErrTampered},
			{"cut short", a[:len(a)-16], secrets.ErrTampered},
			{"plaintext written behind the store's back", []byte(`{"Version":1,"Data":{}}`), secrets.ErrNotSealed},
		}
		for _, tc := range tests {
			if _, err := db.Exec(ctx, "UPDATE telegram_session SET data=$1 WHERE user_id=10", tc.data); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Session(10).LoadSession(ctx); !errors.Is(err, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		}
	})
}
