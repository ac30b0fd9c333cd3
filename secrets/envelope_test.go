package secrets

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealOpenRoundTrip(t *testing.T) {
	ring := NewKeyring(mustKey(t, mustGenerate(t)))
	ref := Ref{Table: "t", Column: "c", Row: []string{"me@s.whatsapp.net", "\x00\xffbinary"}}
	for _, plain := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("secret "), 1000)} {
		sealed, err := ring.Seal(ref, plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != len(plain)+Overhead {
			t.Errorf("sealed %d bytes into %d, want +%d", len(plain), len(sealed), Overhead)
		}
		if id, ok := SealedKeyID(sealed); !ok || id != ring.CurrentID() {
			t.Errorf("SealedKeyID = %q, %v; want %s", id, ok, ring.CurrentID())
		}
		got, err := ring.Open(ref, sealed)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || !bytes.Equal(got, plain) {
			t.Errorf("opened %q (nil: %v), want %q", got, got == nil, plain)
		}
		again, _ := ring.Seal(ref, plain)
		if bytes.Equal(again, sealed) {
			t.Error("two sealings of one value are identical: nonce reused")
		}
	}
}

func TestOpenRefusesTamperingAndMoves(t *testing.T) {
	keyA, keyB := mustKey(t, mustGenerate(t)), mustKey(t, mustGenerate(t))
	ring := NewKeyring(keyA)
	ref := Ref{Table: "whatsmeow_sessions", Column: "session", Row: []string{"ab", "c"}}
	plain := []byte("signal session state")
	sealed, err := ring.Seal(ref, plain)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		out := bytes.Clone(sealed)
		out[i] ^= 0x01
		return out
	}
	tests := []struct {
		name   string
		ref    Ref
		stored []byte
		want   error
	}{
		{"magic changed", ref, flip(0), ErrNotSealed},
		{"plaintext", ref, plain, ErrNotSealed},
		{"format version changed", ref, flip(3), ErrUnsupportedFormat},
		{"key ID changed", ref, flip(5), ErrUnknownKey},
		{"nonce changed", ref, flip(headerSize + 3), ErrTampered},
		{"ciphertext changed", ref, flip(headerSize + nonceSize + 2), ErrTampered},
		{"tag changed", ref, flip(len(sealed) - 1), ErrTampered},
		{"truncated", ref, sealed[:len(sealed)-1], ErrTampered},
		{"cut to header", ref, sealed[:headerSize], ErrTampered},
		{"other row", Ref{Table: ref.Table, Column: ref.Column, Row: []string{"ab", "d"}}, sealed, ErrTampered},
		{"key parts shifted", Ref{Table: ref.Table, Column: ref.Column, Row: []string{"a", "bc"}}, sealed, ErrTampered},
		{"fewer key parts", Ref{Table: ref.Table, Column: ref.Column, Row: []string{"abc"}}, sealed, ErrTampered},
		{"other column", Ref{Table: ref.Table, Column: "identity", Row: ref.Row}, sealed, ErrTampered},
		{"other table", Ref{Table: "whatsmeow_sender_keys", Column: ref.Column, Row: ref.Row}, sealed, ErrTampered},
		{"key not in ring", ref, mustSeal(t, NewKeyring(keyB), ref, plain), ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ring.Open(tt.ref, tt.stored)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %q, %v; want %v", got, err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Ref.Table != tt.ref.Table {
				t.Fatalf("error %v is not an *Error for %s", err, tt.ref)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.ref.Table+"."+tt.ref.Column) || strings.Contains(msg, string(plain)) {
				t.Errorf("error %q must name the cell and not contain the secret", msg)
			}
		})
	}
	// The right ref still opens the original.
	if got, err := ring.Open(ref, sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("original no longer opens: %q, %v", got, err)
	}
}

func mustSeal(t testing.TB, ring *Keyring, ref Ref, plain []byte) []byte {
	t.Helper()
	out, err := ring.Seal(ref, plain)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOldKeysOpenButDoNotSeal(t *testing.T) {
	oldKey, newKey := mustKey(t, mustGenerate(t)), mustKey(t, mustGenerate(t))
	ref := Ref{Table: "t", Column: "c", Row: []string{"1"}}
	sealedOld := mustSeal(t, NewKeyring(oldKey), ref, []byte("v"))
	ring := NewKeyring(newKey, oldKey)
	if got, err := ring.Open(ref, sealedOld); err != nil || string(got) != "v" {
		t.Fatalf("old value with old key in ring: %q, %v", got, err)
	}
	sealedNew := mustSeal(t, ring, ref, []byte("v"))
	if id, _ := SealedKeyID(sealedNew); id != newKey.ID() {
		t.Errorf("new value sealed with %s, want current key %s", id, newKey.ID())
	}
	if !ring.needsReseal(sealedOld) || ring.needsReseal(sealedNew) {
		t.Error("needsReseal wrong")
	}
	if _, err := NewKeyring(newKey).Open(ref, sealedOld); !errors.Is(err, ErrUnknownKey) ||
		!strings.Contains(err.Error(), oldKey.ID()) || !strings.Contains(err.Error(), EnvOldKeys) {
		t.Errorf("old value without old key: %v, want ErrUnknownKey naming %s and %s", err, oldKey.ID(), EnvOldKeys)
	}
}

func TestSealerModes(t *testing.T) {
	ref := Ref{Table: "t", Column: "c", Row: []string{"1"}}
	var unset *Sealer
	if _, err := unset.Seal(ref, []byte("x")); !errors.Is(err, ErrNotActivated) {
		t.Errorf("nil Sealer.Seal: %v", err)
	}
	if _, err := unset.Open(ref, []byte("x")); !errors.Is(err, ErrNotActivated) {
		t.Errorf("nil Sealer.Open: %v", err)
	}
	plain := &Sealer{scope: "s"}
	if v, err := plain.Seal(ref, []byte("x")); err != nil || string(v) != "x" || plain.Encrypted() {
		t.Errorf("unencrypted Seal: %q, %v", v, err)
	}
	ring := NewKeyring(mustKey(t, mustGenerate(t)))
	enc := &Sealer{scope: "s", ring: ring}
	v, err := enc.Seal(ref, []byte("x"))
	if err != nil || !IsSealed(v) || !enc.Encrypted() || enc.KeyID() != ring.CurrentID() {
		t.Fatalf("encrypted Seal: %x, %v", v, err)
	}
	if got, err := enc.Open(ref, v); err != nil || string(got) != "x" {
		t.Errorf("encrypted Open: %q, %v", got, err)
	}
	if _, err := enc.Open(ref, []byte("x")); !errors.Is(err, ErrNotSealed) {
		t.Errorf("encrypted Open of plaintext: %v, want ErrNotSealed", err)
	}
}

func TestRefString(t *testing.T) {
	r := Ref{Table: "whatsmeow_event_buffer", Column: "plaintext", Row: []string{"1@s.whatsapp.net", "\x01\x02\xff"}}
	if got, want := r.String(), "whatsmeow_event_buffer.plaintext row (1@s.whatsapp.net, 0x0102ff)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func BenchmarkSealOpen(b *testing.B) {
	ring := NewKeyring(mustKey(b, mustGenerate(b)))
	ref := Ref{Table: "whatsmeow_sessions", Column: "session", Row: []string{"1@s.whatsapp.net", "2:0"}}
	plain := bytes.Repeat([]byte{7}, 1500) // a typical Signal session record
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		sealed, err := ring.Seal(ref, plain)
		if err != nil {
			b.Fatal(err)
		}
		if _, err = ring.Open(ref, sealed); err != nil {
			b.Fatal(err)
		}
	}
}
