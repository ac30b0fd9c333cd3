package memstore

import (
	"context"
	"testing"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

func TestAddressHelpers(t *testing.T) {
	cases := []struct {
		addr, user, name, rest string
	}{
		{"33611111111:1", "33611111111", "33611111111", ":1"},
		{"100000000000001_1:3", "100000000000001", "100000000000001_1", ":3"},
		{"33611111111:0", "33611111111", "33611111111", ":0"},
	}
	for _, tc := range cases {
		if got := userOfAddress(tc.addr); got != tc.user {
			t.Errorf("userOfAddress(%q) = %q, want %q", tc.addr, got, tc.user)
		}
		name, rest, ok := cutAddressUser(tc.addr)
		if !ok || name != tc.name || rest != tc.rest {
			t.Errorf("cutAddressUser(%q) = %q, %q, %v", tc.addr, name, rest, ok)
		}
	}
}

func TestSessionsPreKeysAndLIDs(t *testing.T) {
	ctx := context.Background()
	dev, s := NewDevice()
	if dev.Sessions != s || dev.IdentityKey == nil || dev.SignedPreKey == nil {
		t.Fatal("device is not wired to its store")
	}
	pn := types.JID{User: "33611111111", Device: 2, Server: types.DefaultUserServer}
	lid := types.JID{User: "100000000000001", Device: 2, Server: types.HiddenUserServer}
	_ = s.PutSession(ctx, pn.SignalAddress().String(), []byte("session"))
	_ = s.PutIdentity(ctx, pn.SignalAddress().String(), [32]byte{1})
	if err := s.MigratePNToLID(ctx, pn, lid); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.HasSession(ctx, pn.SignalAddress().String()); has {
		t.Error("session still under the phone-number address after migration")
	}
	if got, _ := s.GetSession(ctx, lid.SignalAddress().String()); string(got) != "session" {
		t.Errorf("migrated session = %q", got)
	}
	if ok, _ := s.IsTrustedIdentity(ctx, lid.SignalAddress().String(), [32]byte{2}); ok {
		t.Error("a different identity key is trusted after migration")
	}
	_ = s.DeleteAllSessions(ctx, lid.User)
	if has, _ := s.HasSession(ctx, lid.SignalAddress().String()); has {
		t.Error("DeleteAllSessions left the session")
	}

	keys, _ := s.GetOrGenPreKeys(ctx, 10)
	if len(keys) != 10 || keys[0].KeyID != 1 || keys[9].KeyID != 10 {
		t.Fatalf("prekeys = %d starting at %d", len(keys), keys[0].KeyID)
	}
	_ = s.MarkPreKeysAsUploaded(ctx, 10)
	if n, _ := s.UploadedPreKeyCount(ctx); n != 10 {
		t.Errorf("uploaded count = %d", n)
	}
	more, _ := s.GetOrGenPreKeys(ctx, 5)
	if more[0].KeyID != 11 {
		t.Errorf("next batch starts at %d, want 11", more[0].KeyID)
	}
	_ = s.RemovePreKey(ctx, 1)
	if k, _ := s.GetPreKey(ctx, 1); k != nil {
		t.Error("removed prekey is still there")
	}

	if err := s.PutLIDMapping(ctx, pn, lid); err == nil {
		t.Error("a mapping with the JIDs swapped was accepted")
	}
	_ = s.PutManyLIDMappings(ctx, []store.LIDMapping{{LID: lid, PN: pn}})
	if got, _ := s.GetLIDForPN(ctx, pn); got != lid {
		t.Errorf("LID for PN = %s", got)
	}
	if got, _ := s.GetPNForLID(ctx, lid); got != pn {
		t.Errorf("PN for LID = %s", got)
	}

	if err := s.PutDevice(ctx, dev); err == nil {
		t.Error("saving a device without an account identity succeeded")
	}
}
