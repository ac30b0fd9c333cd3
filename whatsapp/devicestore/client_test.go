package devicestore

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/groups"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/keys/prekey"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/util/optional"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

// reload opens the device again through a fresh container, as after a bridge restart.
func reload(t *testing.T, db *dbutil.Database, jid types.JID) (*Container, *store.Device) {
	t.Helper()
	c := newContainer(t, db)
	dev, err := c.GetDevice(context.Background(), jid)
	check(t, err)
	if dev == nil {
		t.Fatalf("device %s not found after restart", jid)
	}
	return c, dev
}

// bundleFor builds the prekey bundle the server would hand out for dev, using one of its
// stored one-time prekeys.
func bundleFor(t *testing.T, dev *store.Device, preKeyID uint32) *prekey.Bundle {
	t.Helper()
	pk, err := dev.PreKeys.GetPreKey(context.Background(), preKeyID)
	check(t, err)
	if pk == nil {
		t.Fatalf("prekey %d not stored", preKeyID)
	}
	return prekey.NewBundle(dev.RegistrationID, uint32(dev.ID.Device),
		optional.NewOptionalUint32(pk.KeyID), dev.SignedPreKey.KeyID,
		ecc.NewDjbECPublicKey(*pk.Pub), ecc.NewDjbECPublicKey(*dev.SignedPreKey.Pub), *dev.SignedPreKey.Signature,
		identity.NewKey(ecc.NewDjbECPublicKey(*dev.IdentityKey.Pub)))
}

func pad(b []byte) []byte {
	n := byte(16 - len(b)%16)
	for range n {
		b = append(b, n)
	}
	return b
}

// TestWhatsmeowClientOnStore runs real whatsmeow clients and libsignal on devices from the
// container, with no network: prekey generation by the client's upload path, a 1:1 Signal
// session set up from a prekey bundle, decryption through the decrypted-event buffer, a reply
// on the established session and a group message over sender keys, with every party reloaded
// from the database in between.
func TestWhatsmeowClientOnStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		alice := pairedDevice(t, c, "111")
		bob := pairedDevice(t, c, "222")
		aliceJID, bobJID := *alice.ID, *bob.ID

		// The client generates its initial prekeys; the upload fails (not connected), so they
		// stay stored and unmarked.
		bobCli := whatsmeow.NewClient(bob, nil)
		bobCli.DangerousInternals().UploadPreKeys(ctx, true)
		var stored int
		check(t, db.QueryRow(ctx, "SELECT COUNT(*) FROM whatsmeow_pre_keys WHERE our_jid=$1", bobJID.String()).Scan(&stored))
		if stored != 812 {
			t.Fatalf("client stored %d prekeys, want whatsmeow's initial 812", stored)
		}
		if n, _ := bob.PreKeys.UploadedPreKeyCount(ctx); n != 0 {
			t.Fatalf("%d prekeys marked uploaded although the upload failed", n)
		}
		check(t, bob.PreKeys.MarkPreKeysAsUploaded(ctx, 812)) // as after a successful upload

		// Alice starts a session from Bob's bundle and encrypts.
		aliceCli := whatsmeow.NewClient(alice, nil)
		enc, _, err := aliceCli.DangerousInternals().EncryptMessageForDevice(ctx, []byte("bonjour"), bobJID, bundleFor(t, bob, 1), nil, nil)
		check(t, err)
		if enc.Attrs["type"] != "pkmsg" {
			t.Fatalf("first message type %v, want pkmsg", enc.Attrs["type"])
		}

		// Bob, restarted, decrypts with the buffer on.
		_, bob = reload(t, db, bobJID)
		bobCli = whatsmeow.NewClient(bob, nil)
		bobCli.EnableDecryptedEventBuffer = true
		serverTS := time.Unix(1760000000, 0)
		plain, hash, err := bobCli.DangerousInternals().DecryptDM(ctx, enc, aliceJID, true, serverTS)
		check(t, err)
		if string(plain) != "bonjour" {
			t.Fatalf("decrypted %q", plain)
		}
		if pk, _ := bob.PreKeys.GetPreKey(ctx, 1); pk != nil {
			t.Error("used one-time prekey not removed")
		}
		if has, _ := bob.Sessions.HasSession(ctx, aliceJID.SignalAddress().String()); !has {
			t.Error("Bob's session with Alice not stored")
		}
		if trusted, _ := bob.Identities.IsTrustedIdentity(ctx, aliceJID.SignalAddress().String(), [32]byte{}); trusted {
			t.Error("Alice's identity key not pinned")
		}

		// Redelivery of the same ciphertext is answered from the buffer (libsignal alone would
		// fail: the prekey is gone); once handled it is reported as already processed.
		plain, _, err = bobCli.DangerousInternals().DecryptDM(ctx, enc, aliceJID, true, serverTS)
		check(t, err)
		if string(plain) != "bonjour" {
			t.Fatalf("redelivered message decrypted to %q", plain)
		}
		check(t, bob.EventBuffer.ClearBufferedEventPlaintext(ctx, *hash))
		if _, _, err = bobCli.DangerousInternals().DecryptDM(ctx, enc, aliceJID, true, serverTS); !errors.Is(err, whatsmeow.EventAlreadyProcessed) {
			t.Fatalf("handled message redelivered: err = %v, want EventAlreadyProcessed", err)
		}

		// Bob replies on the session; Alice, restarted, decrypts it.
		reply, _, err := bobCli.DangerousInternals().EncryptMessageForDevice(ctx, []byte("salut"), aliceJID, nil, nil, nil)
		check(t, err)
		if reply.Attrs["type"] != "msg" {
			t.Fatalf("reply type %v, want msg", reply.Attrs["type"])
		}
		_, alice = reload(t, db, aliceJID)
		aliceCli = whatsmeow.NewClient(alice, nil)
		plain, _, err = aliceCli.DangerousInternals().DecryptDM(ctx, reply, bobJID, false, serverTS)
		check(t, err)
		if string(plain) != "salut" {
			t.Fatalf("reply decrypted to %q", plain)
		}

		// Group message over sender keys.
		group := mustJID(t, "120363000000000001@g.us")
		builder := groups.NewGroupSessionBuilder(alice, store.SignalProtobufSerializer)
		skName := protocol.NewSenderKeyName(group.String(), aliceJID.SignalAddress())
		skdm, err := builder.Create(ctx, skName)
		check(t, err)
		bobCli.DangerousInternals().HandleSenderKeyDistributionMessage(ctx, group, aliceJID, skdm.Serialize())
		groupMsg, err := groups.NewGroupCipher(builder, skName, alice).Encrypt(ctx, pad([]byte("à tous")))
		check(t, err)
		_, bob = reload(t, db, bobJID)
		bobCli = whatsmeow.NewClient(bob, nil)
		node := &waBinary.Node{Tag: "enc", Attrs: waBinary.Attrs{"v": "2", "type": "skmsg"}, Content: groupMsg.SignedSerialize()}
		plain, _, err = bobCli.DangerousInternals().DecryptGroupMsg(ctx, node, aliceJID, group, serverTS)
		check(t, err)
		if string(plain) != "à tous" {
			t.Fatalf("group message decrypted to %q", plain)
		}

		// After all this real Signal traffic the database still holds no private key in clear.
		dump, _ := dumpDatabase(t, db)
		keys := secretSet{}
		for name, dev := range map[string]*store.Device{"alice": alice, "bob": bob} {
			keys[name+" noise key"] = dev.NoiseKey.Priv[:]
			keys[name+" identity key"] = dev.IdentityKey.Priv[:]
			keys[name+" signed prekey"] = dev.SignedPreKey.Priv[:]
			keys[name+" adv secret"] = dev.AdvSecretKey
		}
		if pk, _ := bob.PreKeys.GetPreKey(ctx, 2); pk != nil {
			keys["bob prekey 2"] = pk.Priv[:]
		} else {
			t.Error("prekey 2 missing")
		}
		if found := leaks(dump, keys); len(found) > 0 {
			t.Errorf("the database reveals: %v", found)
		}
	})
}
