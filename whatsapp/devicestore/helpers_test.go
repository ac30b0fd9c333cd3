package devicestore

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/passerelle-bridge/passerelle/secrets"
)

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// testRing encrypts the stores of the conformance tests, so they all run on sealed values.
var testRing = func() *secrets.Keyring {
	k, err := secrets.GenerateKey()
	if err != nil {
		panic(err)
	}
	key, err := secrets.ParseKey(k)
	if err != nil {
		panic(err)
	}
	return secrets.NewKeyring(key)
}()

// newContainer returns an upgraded container on db, encrypted with testRing.
func newContainer(t testing.TB, db *dbutil.Database) *Container {
	t.Helper()
	c := New(db, zerolog.Nop(), WithKeyring(testRing))
	if err := c.Upgrade(context.Background()); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if !c.Encrypted() {
		t.Fatal("container with a keyring is not encrypted")
	}
	return c
}

// pairedDevice makes a new device as pairing would leave it (JID and signed identity set) and
// stores it.
func pairedDevice(t testing.TB, c *Container, jid string) *store.Device {
	t.Helper()
	dev := c.NewDevice()
	id := types.NewJID(jid, types.DefaultUserServer)
	id.Device = 7
	dev.ID = &id
	dev.Account = &waAdv.ADVSignedDeviceIdentity{
		Details:             randBytes(t, 40),
		AccountSignature:    randBytes(t, 64),
		AccountSignatureKey: randBytes(t, 32),
		DeviceSignature:     randBytes(t, 64),
	}
	dev.Platform = "passerelle"
	dev.PushName = "Bridge " + jid
	if err := c.PutDevice(context.Background(), dev); err != nil {
		t.Fatalf("put device %s: %v", jid, err)
	}
	return dev
}

func mustJID(t testing.TB, s string) types.JID {
	t.Helper()
	jid, err := types.ParseJID(s)
	if err != nil {
		t.Fatalf("parse JID %q: %v", s, err)
	}
	return jid
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
