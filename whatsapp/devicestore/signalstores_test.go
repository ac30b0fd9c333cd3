package devicestore

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

func TestIdentityStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "100")
		other := pairedDevice(t, c, "200")
		ids := dev.Identities
		k1, k2 := [32]byte(randBytes(t, 32)), [32]byte(randBytes(t, 32))

		trusted, err := ids.IsTrustedIdentity(ctx, "33600:1", k1)
		check(t, err)
		if !trusted {
			t.Fatal("unknown identity not trusted on first use")
		}
		for _, addr := range []string{"33600:1", "33600:2", "336001:1", "33600_1:1"} {
			check(t, ids.PutIdentity(ctx, addr, k1))
		}
		check(t, other.Identities.PutIdentity(ctx, "33600:1", k2))

		tests := []struct {
			addr string
			key  [32]byte
			want bool
		}{
			{"33600:1", k1, true},
			{"33600:1", k2, false},
			{"never:1", k2, true},
		}
		for _, tt := range tests {
			got, err := ids.IsTrustedIdentity(ctx, tt.addr, tt.key)
			check(t, err)
			if got != tt.want {
				t.Errorf("IsTrustedIdentity(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		}
		if db.Dialect == dbutil.Postgres {
			// libsignal saves the key with every decrypted message: an unchanged key leaves the
			// row as it is (same row version).
			xmin := func() string {
				var v string
				check(t, db.QueryRow(ctx, `SELECT xmin::text FROM whatsmeow_identity_keys WHERE their_id='33600:1' AND identity=$1`, k1[:]).Scan(&v))
				return v
			}
			before := xmin()
			check(t, ids.PutIdentity(ctx, "33600:1", k1))
			if after := xmin(); after != before {
				t.Errorf("unchanged identity rewritten (row version %s → %s)", before, after)
			}
		}
		// Overwrite.
		check(t, ids.PutIdentity(ctx, "33600:1", k2))
		if ok, _ := ids.IsTrustedIdentity(ctx, "33600:1", k2); !ok {
			t.Error("overwritten identity not trusted")
		}
		check(t, ids.DeleteIdentity(ctx, "33600:2"))
		if ok, _ := ids.IsTrustedIdentity(ctx, "33600:2", k2); !ok {
			t.Error("deleted identity still pinned")
		}
		// DeleteAllIdentities removes exactly the devices of that user, not a longer number or
		// the agent form.
		check(t, ids.DeleteAllIdentities(ctx, "33600"))
		for addr, wantKept := range map[string]bool{"33600:1": false, "336001:1": true, "33600_1:1": true} {
			var stored []byte
			err := db.QueryRow(ctx, "SELECT identity FROM whatsmeow_identity_keys WHERE our_jid=$1 AND their_id=$2",
				dev.ID.String(), addr).Scan(&stored)
			if kept := err == nil; kept != wantKept {
				t.Errorf("after DeleteAllIdentities(33600): %s kept=%v, want %v (%v)", addr, kept, wantKept, err)
			}
		}
		if ok, _ := other.Identities.IsTrustedIdentity(ctx, "33600:1", k2); !ok {
			t.Error("other device's identity was touched")
		}
	})
}

func TestSessionStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "100")
		other := pairedDevice(t, c, "200")
		ss := dev.Sessions

		sess, err := ss.GetSession(ctx, "1:1")
		check(t, err)
		has, err := ss.HasSession(ctx, "1:1")
		check(t, err)
		if sess != nil || has {
			t.Fatal("missing session reported as present")
		}
		check(t, ss.PutSession(ctx, "1:1", []byte("first")))
		check(t, ss.PutSession(ctx, "1:1", []byte("second")))
		check(t, other.Sessions.PutSession(ctx, "1:1", []byte("other")))
		sess, err = ss.GetSession(ctx, "1:1")
		check(t, err)
		has, err = ss.HasSession(ctx, "1:1")
		check(t, err)
		if string(sess) != "second" || !has {
			t.Fatalf("GetSession after overwrite = %q (has=%v)", sess, has)
		}

		many := map[string][]byte{}
		for i := range 450 { // more than one batch
			many[string(rune('a'+i%26))+":"+itoa(i)] = []byte(itoa(i))
		}
		check(t, ss.PutManySessions(ctx, many))
		addrs := []string{"1:1", "nobody:1"}
		for addr := range many {
			addrs = append(addrs, addr)
		}
		got, err := ss.GetManySessions(ctx, addrs)
		check(t, err)
		if len(got) != len(addrs) {
			t.Fatalf("GetManySessions returned %d entries, want one per address (%d)", len(got), len(addrs))
		}
		if v, ok := got["nobody:1"]; !ok || v != nil {
			t.Errorf("missing address: present=%v value=%q, want present with nil", ok, v)
		}
		for addr, want := range many {
			if !bytes.Equal(got[addr], want) {
				t.Fatalf("GetManySessions[%s] = %q, want %q", addr, got[addr], want)
			}
		}
		if got, err := ss.GetManySessions(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("GetManySessions(nil) = %v, %v", got, err)
		}

		check(t, ss.PutSession(ctx, "44:2", []byte("x")))
		check(t, ss.PutSession(ctx, "440:2", []byte("x")))
		check(t, ss.DeleteAllSessions(ctx, "44"))
		if has, _ := ss.HasSession(ctx, "44:2"); has {
			t.Error("DeleteAllSessions left 44:2")
		}
		if has, _ := ss.HasSession(ctx, "440:2"); !has {
			t.Error("DeleteAllSessions(44) deleted 440:2")
		}
		check(t, ss.DeleteSession(ctx, "1:1"))
		if has, _ := ss.HasSession(ctx, "1:1"); has {
			t.Error("DeleteSession left the session")
		}
		if has, _ := other.Sessions.HasSession(ctx, "1:1"); !has {
			t.Error("other device's session was deleted")
		}
	})
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestMigratePNToLID(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "100")
		pn := mustJID(t, "3361:0@s.whatsapp.net")
		lid := mustJID(t, "8877@lid")
		key := [32]byte(randBytes(t, 32))

		check(t, dev.Sessions.PutSession(ctx, "3361:0", []byte("pn-dev0")))
		check(t, dev.Sessions.PutSession(ctx, "3361:5", []byte("pn-dev5")))
		check(t, dev.Sessions.PutSession(ctx, "8877_1:5", []byte("stale-lid")))
		check(t, dev.Sessions.PutSession(ctx, "33610:1", []byte("unrelated")))
		check(t, dev.Identities.PutIdentity(ctx, "3361:5", key))
		check(t, dev.SenderKeys.PutSenderKey(ctx, "g1@g.us", "3361:5", []byte("sk")))

		check(t, dev.Sessions.MigratePNToLID(ctx, pn, lid))

		want := map[string]string{"8877_1:0": "pn-dev0", "8877_1:5": "pn-dev5", "33610:1": "unrelated", "3361:0": "", "3361:5": ""}
		for addr, w := range want {
			got, err := dev.Sessions.GetSession(ctx, addr)
			check(t, err)
			if string(got) != w {
				t.Errorf("after migration session %s = %q, want %q", addr, got, w)
			}
		}
		if ok, _ := dev.Identities.IsTrustedIdentity(ctx, "8877_1:5", [32]byte{}); ok {
			t.Error("identity key not moved to the LID address")
		}
		if sk, _ := dev.SenderKeys.GetSenderKey(ctx, "g1@g.us", "8877_1:5"); string(sk) != "sk" {
			t.Errorf("sender key not moved: %q", sk)
		}
		if sk, _ := dev.SenderKeys.GetSenderKey(ctx, "g1@g.us", "3361:5"); sk != nil {
			t.Error("sender key left under phone number")
		}
		// Second call is a no-op (and must not fail).
		check(t, dev.Sessions.MigratePNToLID(ctx, pn, lid))
	})
}

func TestPreKeyStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "100")
		other := pairedDevice(t, c, "200")
		pk := dev.PreKeys

		if key, err := pk.GetPreKey(ctx, 1); err != nil || key != nil {
			t.Fatalf("GetPreKey of missing key = %v, %v; want nil, nil", key, err)
		}
		if n, err := pk.UploadedPreKeyCount(ctx); err != nil || n != 0 {
			t.Fatalf("UploadedPreKeyCount on empty store = %d, %v", n, err)
		}

		first, err := pk.GetOrGenPreKeys(ctx, 300)
		check(t, err)
		if len(first) != 300 || first[0].KeyID != 1 || first[299].KeyID != 300 {
			t.Fatalf("GetOrGenPreKeys(300): %d keys, IDs %d..%d", len(first), first[0].KeyID, first[len(first)-1].KeyID)
		}
		// Not uploaded yet: asking again returns the same keys, no new ones.
		again, err := pk.GetOrGenPreKeys(ctx, 300)
		check(t, err)
		for i := range again {
			if again[i].KeyID != first[i].KeyID || *again[i].Priv != *first[i].Priv {
				t.Fatalf("second GetOrGenPreKeys differs at %d", i)
			}
		}
		if n, _ := pk.UploadedPreKeyCount(ctx); n != 0 {
			t.Fatalf("keys counted as uploaded before MarkPreKeysAsUploaded: %d", n)
		}

		check(t, pk.MarkPreKeysAsUploaded(ctx, 250))
		if n, _ := pk.UploadedPreKeyCount(ctx); n != 250 {
			t.Fatalf("UploadedPreKeyCount = %d, want 250", n)
		}
		// 50 left unuploaded (251..300) plus 10 new (301..310).
		next, err := pk.GetOrGenPreKeys(ctx, 60)
		check(t, err)
		if len(next) != 60 || next[0].KeyID != 251 || next[59].KeyID != 310 {
			t.Fatalf("GetOrGenPreKeys(60) IDs %d..%d, want 251..310", next[0].KeyID, next[len(next)-1].KeyID)
		}

		one, err := pk.GenOnePreKey(ctx)
		check(t, err)
		if one.KeyID != 311 {
			t.Errorf("GenOnePreKey ID = %d, want 311", one.KeyID)
		}
		if n, _ := pk.UploadedPreKeyCount(ctx); n != 251 {
			t.Errorf("GenOnePreKey key not counted as uploaded: count %d, want 251", n)
		}

		got, err := pk.GetPreKey(ctx, 5)
		check(t, err)
		if got == nil || got.KeyID != 5 || *got.Priv != *first[4].Priv || *got.Pub != *first[4].Pub {
			t.Fatal("GetPreKey(5) does not round-trip")
		}
		check(t, pk.RemovePreKey(ctx, 5))
		check(t, pk.RemovePreKey(ctx, 5)) // removing twice is fine
		if got, _ := pk.GetPreKey(ctx, 5); got != nil {
			t.Error("removed prekey still returned")
		}
		if key, _ := other.PreKeys.GetPreKey(ctx, 1); key != nil {
			t.Error("prekeys leak across devices")
		}

		// Concurrent callers never get clashing IDs.
		var wg sync.WaitGroup
		ids := make(chan uint32, 20)
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := pk.GenOnePreKey(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				ids <- k.KeyID
			}()
		}
		wg.Wait()
		close(ids)
		seen := map[uint32]bool{}
		for id := range ids {
			if seen[id] {
				t.Errorf("duplicate prekey ID %d from concurrent GenOnePreKey", id)
			}
			seen[id] = true
		}
	})
}

func TestSenderKeyStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "100")
		sk := dev.SenderKeys
		if got, err := sk.GetSenderKey(ctx, "g@g.us", "1:1"); err != nil || got != nil {
			t.Fatalf("missing sender key = %q, %v", got, err)
		}
		check(t, sk.PutSenderKey(ctx, "g@g.us", "1:1", []byte("a")))
		check(t, sk.PutSenderKey(ctx, "g@g.us", "1:1", []byte("b")))
		check(t, sk.PutSenderKey(ctx, "h@g.us", "1:1", []byte("c")))
		for _, tt := range []struct{ group, want string }{{"g@g.us", "b"}, {"h@g.us", "c"}} {
			got, err := sk.GetSenderKey(ctx, tt.group, "1:1")
			check(t, err)
			if string(got) != tt.want {
				t.Errorf("GetSenderKey(%s) = %q, want %q", tt.group, got, tt.want)
			}
		}
	})
}
