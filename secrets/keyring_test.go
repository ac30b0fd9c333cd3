package secrets

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustGenerate(t testing.TB) string {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKey(t testing.TB, encoded string) *Key {
	t.Helper()
	k, err := ParseKey(encoded)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKeyForms(t *testing.T) {
	raw := make([]byte, KeySize)
	for i := range raw {
		raw[i] = byte(0xf0 + i%16) // bytes that differ between the std and URL alphabets
	}
	want, err := NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		got, err := ParseKey("  " + enc.EncodeToString(raw) + "\n")
		if err != nil {
			t.Fatalf("ParseKey(%v form): %v", enc, err)
		}
		if got.ID() != want.ID() {
			t.Errorf("ID %s, want %s", got.ID(), want.ID())
		}
	}
	if len(want.ID()) != 16 {
		t.Errorf("key ID %q, want 16 hex digits", want.ID())
	}
	if s := want.String(); strings.Contains(s, base64.StdEncoding.EncodeToString(raw)) || !strings.Contains(s, want.ID()) {
		t.Errorf("Key.String() = %q: must show the ID only", s)
	}
}

func TestLoadEnv(t *testing.T) {
	a, b, c := mustGenerate(t), mustGenerate(t), mustGenerate(t)
	idA, idB, idC := mustKey(t, a).ID(), mustKey(t, b).ID(), mustKey(t, c).ID()
	dir := t.TempDir()
	writeFile := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ringFile := writeFile("ring", "# current key first\n\n"+b+"\n# previous\n"+a+"\n")
	emptyFile := writeFile("empty", "# nothing here\n\n")
	badFile := writeFile("bad", b+"\nnot-a-key!\n")
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))

	tests := []struct {
		name    string
		env     map[string]string
		wantIDs []string // nil: no keyring
		wantErr string   // substring; "" means no error
		errIs   error
	}{
		{name: "nothing configured", env: nil},
		{name: "inline key", env: map[string]string{EnvKey: a}, wantIDs: []string{idA}},
		{name: "inline key and old keys", env: map[string]string{EnvKey: b, EnvOldKeys: a + ", " + c}, wantIDs: []string{idB, idA, idC}},
		{name: "old key equal to current is merged", env: map[string]string{EnvKey: a, EnvOldKeys: a}, wantIDs: []string{idA}},
		{name: "key file with old key", env: map[string]string{EnvKeyFile: ringFile}, wantIDs: []string{idB, idA}},
		{name: "key file plus env old keys", env: map[string]string{EnvKeyFile: ringFile, EnvOldKeys: c}, wantIDs: []string{idB, idA, idC}},
		{name: "required and present", env: map[string]string{EnvKey: a, EnvRequired: "true"}, wantIDs: []string{idA}},
		{name: "required and missing", env: map[string]string{EnvRequired: "1"}, wantErr: EnvRequired, errIs: ErrNoKey},
		{name: "required not a boolean", env: map[string]string{EnvRequired: "sure"}, wantErr: EnvRequired},
		{name: "not base64", env: map[string]string{EnvKey: "this is not base64"}, wantErr: EnvKey + ": secret key is not valid base64"},
		{name: "too short", env: map[string]string{EnvKey: short}, wantErr: "16 bytes, want 32"},
		{name: "both inline and file", env: map[string]string{EnvKey: a, EnvKeyFile: ringFile}, wantErr: "keep only one"},
		{name: "old keys without current", env: map[string]string{EnvOldKeys: a}, wantErr: "no current key"},
		{name: "bad old key", env: map[string]string{EnvKey: a, EnvOldKeys: b + " " + short}, wantErr: EnvOldKeys + ", key #2"},
		{name: "missing file", env: map[string]string{EnvKeyFile: filepath.Join(dir, "nope")}, wantErr: "read key file"},
		{name: "file without keys", env: map[string]string{EnvKeyFile: emptyFile}, wantErr: "holds no key"},
		{name: "file with a bad line", env: map[string]string{EnvKeyFile: badFile}, wantErr: "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ring, err := LoadEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if tt.errIs != nil && !errors.Is(err, tt.errIs) {
					t.Errorf("error %v is not %v", err, tt.errIs)
				}
				for _, secret := range []string{a, b, c} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error message contains a key: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantIDs == nil {
				if ring != nil {
					t.Fatalf("got keyring %v, want none", ring.IDs())
				}
				return
			}
			got := ring.IDs()
			if ring.CurrentID() != tt.wantIDs[0] || len(got) != len(tt.wantIDs) {
				t.Fatalf("IDs %v (current %s), want %v", got, ring.CurrentID(), tt.wantIDs)
			}
			for _, id := range tt.wantIDs {
				if !ring.Has(id) {
					t.Errorf("ring lacks %s", id)
				}
			}
		})
	}
}
