package secrets

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Environment variables an operator sets. See doc.go for how they combine.
const (
	// EnvKey holds the current key, base64 of 32 bytes.
	EnvKey = "PASSERELLE_SECRET_KEY"
	// EnvKeyFile names a keyring file: the first key line is the current key, any further
	// lines are old keys kept for reading values not yet rotated.
	EnvKeyFile = "PASSERELLE_SECRET_KEY_FILE"
	// EnvOldKeys lists old keys (base64, separated by commas or whitespace) that may still
	// open stored values but never seal new ones.
	EnvOldKeys = "PASSERELLE_SECRET_KEY_OLD"
	// EnvRequired, when true, makes a missing key an error instead of a warning, so a
	// production deployment cannot start unencrypted by accident.
	EnvRequired = "PASSERELLE_SECRET_KEY_REQUIRED"
)

// ErrNoKey is returned when encryption is required (by EnvRequired, by the database already
// holding sealed values, or by a command such as rotate-secrets) but no key is configured.
var ErrNoKey = errors.New("no secret key configured")

// Keyring is the current key, which seals every new value, and the old keys, which can still
// open values sealed before a rotation. It is safe for concurrent use.
type Keyring struct {
	current *Key
	byID    map[keyID]*Key
}

// NewKeyring makes a keyring. Old keys equal to the current key or to each other are merged.
func NewKeyring(current *Key, old ...*Key) *Keyring {
	if current == nil {
		panic("secrets: NewKeyring with a nil current key")
	}
	r := &Keyring{current: current, byID: map[keyID]*Key{current.id: current}}
	for _, k := range old {
		if k != nil {
			if _, dup := r.byID[k.id]; !dup {
				r.byID[k.id] = k
			}
		}
	}
	return r
}

// CurrentID is the ID of the key that seals new values.
func (r *Keyring) CurrentID() string { return r.current.ID() }

// IDs lists the IDs of every key in the ring, the current one first.
func (r *Keyring) IDs() []string {
	ids := []string{r.current.ID()}
	var old []string
	for id := range r.byID {
		if id != r.current.id {
			old = append(old, id.String())
		}
	}
	slices.Sort(old)
	return append(ids, old...)
}

// Has tells whether the ring holds the key with this ID (as given by Key.ID).
func (r *Keyring) Has(id string) bool {
	for k := range r.byID {
		if k.String() == id {
			return true
		}
	}
	return false
}

// FromEnv loads the keyring configured in the process environment. It returns nil and no
// error when no key is configured and EnvRequired is not set: the caller then runs without
// encryption (and Activate says so loudly).
func FromEnv() (*Keyring, error) {
	return LoadEnv(os.Getenv)
}

// LoadEnv is FromEnv with a custom variable lookup (for tests and for tools that read their
// settings elsewhere). Errors name the variable or file at fault and never contain key material.
func LoadEnv(getenv func(string) string) (*Keyring, error) {
	required := false
	if v := strings.TrimSpace(getenv(EnvRequired)); v != "" {
		var err error
		if required, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("%s=%q: want true or false", EnvRequired, v)
		}
	}
	inline, file := getenv(EnvKey), strings.TrimSpace(getenv(EnvKeyFile))
	var current *Key
	var old []*Key
	switch {
	case strings.TrimSpace(inline) != "" && file != "":
		return nil, fmt.Errorf("both %s and %s are set: keep only one", EnvKey, EnvKeyFile)
	case strings.TrimSpace(inline) != "":
		k, err := ParseKey(inline)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKey, err)
		}
		current = k
	case file != "":
		keys, err := readKeyFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKeyFile, err)
		}
		current, old = keys[0], keys[1:]
	}
	for i, field := range strings.FieldsFunc(getenv(EnvOldKeys), func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r'
	}) {
		k, err := ParseKey(field)
		if err != nil {
			return nil, fmt.Errorf("%s, key #%d: %w", EnvOldKeys, i+1, err)
		}
		old = append(old, k)
	}
	switch {
	case current == nil && len(old) > 0:
		return nil, fmt.Errorf("%s is set but there is no current key: set %s or %s too", EnvOldKeys, EnvKey, EnvKeyFile)
	case current == nil && required:
		return nil, fmt.Errorf("%w: %s is true; set %s (base64 of %d bytes) or %s (a file holding it)", ErrNoKey, EnvRequired, EnvKey, KeySize, EnvKeyFile)
	case current == nil:
		return nil, nil
	}
	return NewKeyring(current, old...), nil
}

// readKeyFile parses a keyring file: one base64 key per line, the current key first; blank
// lines and lines starting with # are ignored.
func readKeyFile(path string) ([]*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer clear(data)
	var keys []*Key
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParseKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no key (want one base64 key per line, the current key first)", path)
	}
	return keys, nil
}
