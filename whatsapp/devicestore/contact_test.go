package devicestore

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

func TestContactStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		cs := pairedDevice(t, c, "100").Contacts
		alice := mustJID(t, "331@s.whatsapp.net")
		aliceDev := mustJID(t, "331:4@s.whatsapp.net")

		info, err := cs.GetContact(ctx, alice)
		check(t, err)
		if info.Found {
			t.Fatal("unknown contact Found")
		}

		pushSteps := []struct {
			jid         types.JID
			name        string
			wantChanged bool
			wantPrev    string
		}{
			{alice, "", false, ""},            // empty name for unknown contact: no change
			{alice, "Alice", true, ""},        // first name
			{aliceDev, "Alice", false, ""},    // same name via a device JID: same contact
			{alice, "Alice B", true, "Alice"}, // rename reports the previous name
		}
		for _, st := range pushSteps {
			changed, prev, err := cs.PutPushName(ctx, st.jid, st.name)
			check(t, err)
			if changed != st.wantChanged || prev != st.wantPrev {
				t.Errorf("PutPushName(%s, %q) = %v, %q; want %v, %q", st.jid, st.name, changed, prev, st.wantChanged, st.wantPrev)
			}
		}
		changed, prev, err := cs.PutBusinessName(ctx, alice, "Alice Ltd")
		check(t, err)
		if !changed || prev != "" {
			t.Errorf("PutBusinessName first = %v %q", changed, prev)
		}
		if changed, _, _ = cs.PutBusinessName(ctx, alice, "Alice Ltd"); changed {
			t.Error("unchanged business name reported as changed")
		}
		check(t, cs.PutContactName(ctx, alice, "Ali", "Alice Example"))

		info, err = cs.GetContact(ctx, aliceDev)
		check(t, err)
		want := types.ContactInfo{Found: true, FirstName: "Ali", FullName: "Alice Example", PushName: "Alice B", BusinessName: "Alice Ltd"}
		if info != want {
			t.Errorf("GetContact = %+v, want %+v", info, want)
		}

		// Address book sync: many entries, duplicates keep the last, push names survive.
		var entries []store.ContactEntry
		for i := range 450 {
			entries = append(entries, store.ContactEntry{JID: types.NewJID("4400"+itoa(i), types.DefaultUserServer), FirstName: "F" + itoa(i), FullName: "Full " + itoa(i)})
		}
		entries = append(entries, store.ContactEntry{JID: alice, FirstName: "Old", FullName: "Old"}, store.ContactEntry{JID: aliceDev, FirstName: "New", FullName: "New Alice"})
		check(t, cs.PutAllContactNames(ctx, entries))
		check(t, cs.PutManyRedactedPhones(ctx, []store.RedactedPhoneEntry{{JID: mustJID(t, "77@lid"), RedactedPhone: "+33∙∙∙∙∙∙∙12"}}))
		check(t, cs.PutAllContactNames(ctx, nil))
		check(t, cs.PutManyRedactedPhones(ctx, nil))

		all, err := cs.GetAllContacts(ctx)
		check(t, err)
		if len(all) != 452 {
			t.Fatalf("GetAllContacts = %d contacts, want 452", len(all))
		}
		if a := all[alice]; a.FirstName != "New" || a.FullName != "New Alice" || a.PushName != "Alice B" {
			t.Errorf("alice after sync = %+v", a)
		}
		if e := all[types.NewJID("4400449", types.DefaultUserServer)]; !e.Found || e.FullName != "Full 449" {
			t.Errorf("last synced entry = %+v", e)
		}
		if r := all[mustJID(t, "77@lid")]; r.RedactedPhone != "+33∙∙∙∙∙∙∙12" || !r.Found {
			t.Errorf("redacted phone entry = %+v", r)
		}

		// Concurrent renames to the same name: exactly one reports the change.
		bob := mustJID(t, "332@s.whatsapp.net")
		var wg sync.WaitGroup
		var mu sync.Mutex
		changes := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ch, _, err := cs.PutPushName(ctx, bob, "Bob")
				if err != nil {
					t.Error(err)
				}
				if ch {
					mu.Lock()
					changes++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if changes != 1 {
			t.Errorf("%d concurrent PutPushName calls reported a change, want 1", changes)
		}
	})
}

func TestChatSettingsStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		cs := pairedDevice(t, c, "100").ChatSettings
		chat := mustJID(t, "1203@g.us")

		got, err := cs.GetChatSettings(ctx, chat)
		check(t, err)
		if got.Found {
			t.Fatal("unknown chat Found")
		}
		until := time.Unix(1900000000, 0)
		tests := []struct {
			name string
			put  func() error
			want types.LocalChatSettings
		}{
			{"pin", func() error { return cs.PutPinned(ctx, chat, true) }, types.LocalChatSettings{Found: true, Pinned: true}},
			{"archive", func() error { return cs.PutArchived(ctx, chat, true) }, types.LocalChatSettings{Found: true, Pinned: true, Archived: true}},
			{"mute until", func() error { return cs.PutMutedUntil(ctx, chat, until) }, types.LocalChatSettings{Found: true, Pinned: true, Archived: true, MutedUntil: until}},
			{"mute forever", func() error { return cs.PutMutedUntil(ctx, chat, store.MutedForever) }, types.LocalChatSettings{Found: true, Pinned: true, Archived: true, MutedUntil: store.MutedForever}},
			{"unmute", func() error { return cs.PutMutedUntil(ctx, chat, time.Time{}) }, types.LocalChatSettings{Found: true, Pinned: true, Archived: true}},
			{"unpin", func() error { return cs.PutPinned(ctx, chat, false) }, types.LocalChatSettings{Found: true, Archived: true}},
		}
		for _, tt := range tests {
			check(t, tt.put())
			got, err := cs.GetChatSettings(ctx, chat)
			check(t, err)
			if got.Found != tt.want.Found || got.Pinned != tt.want.Pinned || got.Archived != tt.want.Archived || !got.MutedUntil.Equal(tt.want.MutedUntil) {
				t.Errorf("after %s: %+v, want %+v", tt.name, got, tt.want)
			}
		}
	})
}

func TestMsgSecretStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "100")
		ms := dev.MsgSecrets
		group := mustJID(t, "1203@g.us")
		senderPN := mustJID(t, "336:2@s.whatsapp.net")
		senderLID := mustJID(t, "9911@lid")
		check(t, dev.LIDs.PutLIDMapping(ctx, senderLID, senderPN.ToNonAD()))

		if s, snd, err := ms.GetMessageSecret(ctx, group, senderPN, "X"); err != nil || s != nil || !snd.IsEmpty() {
			t.Fatalf("missing secret = %x %s %v", s, snd, err)
		}
		check(t, ms.PutMessageSecret(ctx, group, senderPN, "M1", []byte("s1")))
		check(t, ms.PutMessageSecret(ctx, group, senderPN, "M1", []byte("ignored"))) // first wins
		check(t, ms.PutMessageSecrets(ctx, []store.MessageSecretInsert{
			{Chat: group, Sender: senderLID, ID: "M2", Secret: []byte("s2")},
			{Chat: senderPN, Sender: senderPN, ID: "M3", Secret: []byte("s3")},
		}))
		check(t, ms.PutMessageSecrets(ctx, nil))

		tests := []struct {
			name       string
			chat, from types.JID
			id         string
			want       string
			wantSender types.JID
		}{
			{"exact, device JID normalised", group, senderPN, "M1", "s1", senderPN.ToNonAD()},
			{"sender given as LID", group, senderLID, "M1", "s1", senderPN.ToNonAD()},
			{"stored as LID, asked as PN", group, senderPN, "M2", "s2", senderLID},
			{"DM chat given as LID", senderLID, senderLID, "M3", "s3", senderPN.ToNonAD()},
			{"wrong chat", mustJID(t, "999@g.us"), senderPN, "M1", "", types.EmptyJID},
			{"wrong sender", group, mustJID(t, "1@s.whatsapp.net"), "M1", "", types.EmptyJID},
		}
		for _, tt := range tests {
			got, snd, err := ms.GetMessageSecret(ctx, tt.chat, tt.from, tt.id)
			check(t, err)
			if string(got) != tt.want || snd != tt.wantSender {
				t.Errorf("%s: GetMessageSecret = %q from %s, want %q from %s", tt.name, got, snd, tt.want, tt.wantSender)
			}
		}
	})
}

func TestPrivacyTokenStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "100")
		pt := dev.PrivacyTokens
		pn := mustJID(t, "336@s.whatsapp.net")
		lid := mustJID(t, "8080@lid")
		check(t, dev.LIDs.PutLIDMapping(ctx, lid, pn))

		if tok, err := pt.GetPrivacyToken(ctx, pn); err != nil || tok != nil {
			t.Fatalf("missing token = %v, %v", tok, err)
		}
		check(t, pt.PutPrivacyTokens(ctx))
		t1, t2, t3 := time.Unix(1000, 0), time.Unix(2000, 0), time.Unix(3000, 0)
		check(t, pt.PutPrivacyTokens(ctx,
			store.PrivacyToken{User: mustJID(t, "336:3@s.whatsapp.net"), Token: []byte("a"), Timestamp: t1},
			store.PrivacyToken{User: pn, Token: []byte("b"), Timestamp: t2}, // same user twice: newest wins
		))
		tok, err := pt.GetPrivacyToken(ctx, pn)
		check(t, err)
		if tok == nil || string(tok.Token) != "b" || !tok.Timestamp.Equal(t2) || tok.User != pn {
			t.Fatalf("GetPrivacyToken = %+v, want b at %v", tok, t2)
		}
		check(t, pt.PutPrivacyTokens(ctx, store.PrivacyToken{User: pn, Token: []byte("old"), Timestamp: t1}))
		if tok, _ = pt.GetPrivacyToken(ctx, pn); string(tok.Token) != "b" {
			t.Errorf("older token replaced newer: %q", tok.Token)
		}
		// A newer token under the LID is found when asking by phone number.
		check(t, pt.PutPrivacyTokens(ctx, store.PrivacyToken{User: lid, Token: []byte("c"), Timestamp: t3}))
		if tok, _ = pt.GetPrivacyToken(ctx, pn); tok == nil || string(tok.Token) != "c" {
			t.Errorf("token via LID form = %+v, want c", tok)
		}
		if tok, _ = pt.GetPrivacyToken(ctx, mustJID(t, "1@s.whatsapp.net")); tok != nil {
			t.Errorf("token for stranger = %+v", tok)
		}
	})
}

// TestContactCache: once read, a contact is answered from memory (the store is the only writer of
// its rows): an unchanged push name costs no query; every write path drops what it touched, and a
// read that started before a write does not store the row it read.
func TestContactCache(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "200")
		cs := dev.Contacts
		bob := mustJID(t, "332@s.whatsapp.net")
		rows := func() int {
			var n int
			check(t, db.QueryRow(ctx, "SELECT COUNT(*) FROM whatsmeow_contacts WHERE their_jid=$1", bob.String()).Scan(&n))
			return n
		}
		_, _, err := cs.PutPushName(ctx, bob, "Bob")
		check(t, err)
		if info, err := cs.GetContact(ctx, bob); err != nil || info.PushName != "Bob" {
			t.Fatalf("GetContact = %+v, %v", info, err)
		}
		// Behind the store's back: the copy answers, and an unchanged name writes nothing.
		_, err = db.Exec(ctx, "DELETE FROM whatsmeow_contacts WHERE their_jid=$1", bob.String())
		check(t, err)
		if info, _ := cs.GetContact(ctx, bob); info.PushName != "Bob" {
			t.Fatalf("cached contact = %+v, want push name Bob", info)
		}
		if changed, _, err := cs.PutPushName(ctx, bob, "Bob"); err != nil || changed || rows() != 0 {
			t.Fatalf("unchanged push name: changed=%v err=%v rows=%d, want no change and no write", changed, err, rows())
		}
		// A write drops the copy: the next read sees the database.
		check(t, cs.PutContactName(ctx, bob, "Robert", "Robert B"))
		if info, _ := cs.GetContact(ctx, bob); info.FirstName != "Robert" || info.PushName != "" {
			t.Fatalf("after PutContactName: %+v, want the database's row (first name Robert, no push name)", info)
		}
		if changed, _, _ := cs.PutPushName(ctx, bob, "Bobby"); !changed {
			t.Fatal("a new push name was not stored")
		}
		check(t, cs.PutAllContactNames(ctx, []store.ContactEntry{{JID: bob, FirstName: "Rob", FullName: "Rob B"}}))
		if info, _ := cs.GetContact(ctx, bob); info.FirstName != "Rob" || info.PushName != "Bobby" {
			t.Fatalf("after PutAllContactNames: %+v", info)
		}
		// Logout forgets the device's copy with its rows.
		check(t, c.DeleteDevice(ctx, dev))
		if info, _ := cs.GetContact(ctx, bob); info.Found {
			t.Fatalf("after DeleteDevice: %+v, want nothing", info)
		}
	})
	// A read that began before a write keeps its row out of the copy.
	var cache contactCache
	k := contactKey{"me", "them"}
	_, _, gen := cache.get(k)
	cache.forget("me", "them")
	cache.put(k, types.ContactInfo{Found: true, PushName: "old"}, gen)
	if _, ok, _ := cache.get(k); ok {
		t.Fatal("a row read before a write was stored")
	}
}
