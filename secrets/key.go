package secrets

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the length of a master key in bytes. Operators give it base64-encoded.
const KeySize = 32

// keyIDSize is how many bytes of a key's fingerprint a sealed value carries. Eight bytes make
// an accidental clash between an operator's keys practically impossible.
const keyIDSize = 8

// keyID identifies a master key without revealing it.
type keyID [keyIDSize]byte

func (id keyID) String() string { return hex.EncodeToString(id[:]) }

// Labels keep the key ID and the sealing key apart: neither can be computed from the other,
// and a future format version derives fresh keys.
const (
	keyIDLabel   = "passerelle secrets: key id v1"
	sealKeyLabel = "passerelle secrets: seal key v1"
)

// Key is one master key. The raw bytes are not kept: only the derived sealing cipher and the
// key ID, so a Key cannot leak its own material through printing or logging.
type Key struct {
	id   keyID
	aead cipher.AEAD
}

// NewKey turns 32 raw bytes into a key.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("secret key is %d bytes, want %d (generate one with `passerelle rotate-secrets --generate-key`)", len(raw), KeySize)
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte(keyIDLabel))
	var k Key
	copy(k.id[:], mac.Sum(nil))
	sealKey, err := hkdf.Key(sha256.New, raw, nil, sealKeyLabel, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive sealing key: %w", err)
	}
	if k.aead, err = chacha20poly1305.NewX(sealKey); err != nil {
		return nil, fmt.Errorf("set up XChaCha20-Poly1305: %w", err)
	}
	clear(sealKey)
	return &k, nil
}

// ParseKey reads a key given as base64 (standard or URL alphabet, padded or not) of 32 bytes.
// The error never repeats the input.
func ParseKey(encoded string) (*Key, error) {
	encoded = strings.TrimSpace(encoded)
	if encoded == "" {
		return nil, fmt.Errorf("secret key is empty")
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(encoded); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("secret key is not valid base64 (want the base64 of %d random bytes, e.g. from `passerelle rotate-secrets --generate-key` or `openssl rand -base64 32`)", KeySize)
	}
	defer clear(raw)
	return NewKey(raw)
}

// GenerateKey returns a new random key, base64-encoded as operators configure it.
func GenerateKey() (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("read random key: %w", err)
	}
	defer clear(raw)
	return base64.StdEncoding.EncodeToString(raw), nil
}

// ID is the key's public fingerprint (16 hex digits), as stored in every value it sealed and
// as shown in logs and errors.
func (k *Key) ID() string { return k.id.String() }

// String shows only the ID, so a key that ends up in a log line reveals nothing.
func (k *Key) String() string { return "secret key " + k.ID() }
