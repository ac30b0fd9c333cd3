package secrets

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"
)

// A sealed value is
//
//	"pse" | format version (1 byte) | key ID (8 bytes) | nonce (24 bytes) | ciphertext and tag
//
// sealed with XChaCha20-Poly1305 (random 192-bit nonces are safe at any volume). The
// additional data is the 12-byte header followed by the Ref (table, column, primary key), so
// neither the header nor the value's place in the database can be changed without Open
// failing.

var magic = []byte("pse")

const (
	formatVersion = 1
	headerSize    = len("pse") + 1 + keyIDSize
	nonceSize     = chacha20poly1305.NonceSizeX
	// Overhead is how many bytes sealing adds to a value.
	Overhead = headerSize + nonceSize + chacha20poly1305.Overhead
)

// Errors wrapped in an *Error by Open, for errors.Is.
var (
	// ErrNotSealed: the stored value is not a sealed value although the store is encrypted.
	ErrNotSealed = errors.New("value is stored unencrypted although this store is encrypted")
	// ErrUnknownKey: the value was sealed with a key that is not in the keyring.
	ErrUnknownKey = errors.New("value was sealed with a key that is not configured")
	// ErrTampered: authentication failed; the value was changed, cut, or moved from another row.
	ErrTampered = errors.New("sealed value failed authentication")
	// ErrUnsupportedFormat: the value uses a format version this build does not know.
	ErrUnsupportedFormat = errors.New("sealed value has an unknown format version")
	// ErrNotActivated: a nil *Sealer was used, i.e. the store was not set up with Activate.
	ErrNotActivated = errors.New("secret store used before it was activated (call the store's Upgrade, or secrets.Activate, first)")
)

// Ref names the database cell a secret is stored in. Sealing binds the value to it, so a
// value copied into another row, column or table no longer opens.
type Ref struct {
	Table  string
	Column string
	// Row holds the primary key values in key order, as database/sql returns them when
	// scanned into []byte: text as is, integers in decimal, binary keys as raw bytes
	// (string(b)). Column.Ref builds it; rotation reads it the same way.
	Row []string
}

// String describes the cell for error messages: table.column and the row key, with binary
// key parts in hex.
func (r Ref) String() string {
	parts := make([]string, len(r.Row))
	for i, p := range r.Row {
		parts[i] = printable(p)
	}
	return fmt.Sprintf("%s.%s row (%s)", r.Table, r.Column, strings.Join(parts, ", "))
}

func printable(s string) string {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "0x" + hex.EncodeToString([]byte(s))
	}
	return s
}

// aad is the additional data: the header, then the Ref with every part length-prefixed so no
// two different Refs encode alike.
func (r Ref) aad(header []byte) []byte {
	out := make([]byte, 0, len(header)+64)
	out = append(out, header...)
	put := func(s string) {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	put(r.Table)
	put(r.Column)
	out = binary.AppendUvarint(out, uint64(len(r.Row)))
	for _, p := range r.Row {
		put(p)
	}
	return out
}

// Error is what Open returns for a value it cannot open: which cell, which key, what went
// wrong, and what the operator can do.
type Error struct {
	Ref   Ref
	KeyID string // the key ID the value claims, when it has one
	Err   error  // one of the Err* sentinels above
	// Version is the format version an ErrUnsupportedFormat value claims.
	Version byte
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	switch e.Err {
	case ErrUnknownKey:
		return fmt.Sprintf("%s: %v (key ID %s): add that key to %s or to the key file until `passerelle rotate-secrets` has re-sealed everything",
			e.Ref, e.Err, e.KeyID, EnvOldKeys)
	case ErrTampered:
		return fmt.Sprintf("%s: %v (key ID %s): the stored value was modified or copied from another row; restore it from a backup, or log the account out and in again",
			e.Ref, e.Err, e.KeyID)
	case ErrNotSealed:
		return fmt.Sprintf("%s: %v: it was written outside Passerelle or by a build without encryption; restore it from a backup, or log the account out and in again",
			e.Ref, e.Err)
	case ErrUnsupportedFormat:
		return fmt.Sprintf("%s: %v (%d): it was written by a newer Passerelle; run that version", e.Ref, e.Err, e.Version)
	}
	return fmt.Sprintf("%s: %v", e.Ref, e.Err)
}

// IsSealed tells whether a stored value has the shape of a sealed value (it may still fail to
// open).
func IsSealed(stored []byte) bool {
	return len(stored) >= headerSize && bytes.Equal(stored[:len(magic)], magic)
}

// SealedKeyID returns the ID of the key a sealed value claims, or false when the value is not
// sealed.
func SealedKeyID(stored []byte) (string, bool) {
	if !IsSealed(stored) {
		return "", false
	}
	return keyID(stored[len(magic)+1 : headerSize]).String(), true
}

// Seal encrypts plaintext with the current key for the cell ref.
func (r *Keyring) Seal(ref Ref, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerSize+nonceSize, Overhead+len(plaintext))
	copy(out, magic)
	out[len(magic)] = formatVersion
	copy(out[len(magic)+1:], r.current.id[:])
	nonce := out[headerSize:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal %s: read nonce: %w", ref, err)
	}
	return r.current.aead.Seal(out, nonce, plaintext, ref.aad(out[:headerSize])), nil
}

// Open decrypts a value sealed for the cell ref with any key of the ring. An empty plaintext
// comes back as a non-nil empty slice. Failures are *Error values.
func (r *Keyring) Open(ref Ref, sealed []byte) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, &Error{Ref: ref, Err: ErrNotSealed}
	}
	id := keyID(sealed[len(magic)+1 : headerSize])
	if v := sealed[len(magic)]; v != formatVersion {
		return nil, &Error{Ref: ref, KeyID: id.String(), Err: ErrUnsupportedFormat, Version: v}
	}
	key, ok := r.byID[id]
	if !ok {
		return nil, &Error{Ref: ref, KeyID: id.String(), Err: ErrUnknownKey}
	}
	if len(sealed) < Overhead {
		return nil, &Error{Ref: ref, KeyID: id.String(), Err: ErrTampered}
	}
	nonce, ciphertext := sealed[headerSize:headerSize+nonceSize], sealed[headerSize+nonceSize:]
	plain, err := key.aead.Open(make([]byte, 0, len(ciphertext)-chacha20poly1305.Overhead), nonce, ciphertext, ref.aad(sealed[:headerSize]))
	if err != nil {
		return nil, &Error{Ref: ref, KeyID: id.String(), Err: ErrTampered}
	}
	return plain, nil
}

// needsReseal tells whether a sealed value is under another key than the current one.
func (r *Keyring) needsReseal(sealed []byte) bool {
	return !IsSealed(sealed) || keyID(sealed[len(magic)+1:headerSize]) != r.current.id
}
