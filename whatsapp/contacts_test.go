package whatsapp

import (
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/bridgev2/provisionutil"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// TestContactList: Alice's phone saves Bob (by phone number) and Carol (by her LID) in its
// address book; the bridge's contact list (as the provisioning API serves it) then has both, by
// phone number with the saved names and their DM portals, and not Dave, who only wrote once.
func TestContactList(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		carolPhone, davePhone := nextPhone(), nextPhone()
		carol, err := f.srv.NewPhone(f.ctx, carolPhone, watestserver.PhoneOptions{PushName: "Caro"})
		if err != nil {
			t.Fatal(err)
		}
		defer carol.Close()
		dave, err := f.srv.NewPhone(f.ctx, davePhone, watestserver.PhoneOptions{PushName: "Dave"})
		if err != nil {
			t.Fatal(err)
		}
		defer dave.Close()
		// Carol and Dave write first, so the bridge knows Carol's LID ↔ number and Dave's push name.
		for _, p := range []*watestserver.Phone{carol, dave} {
			if _, err = p.SendText(f.ctx, f.alice, "hi from "+p.JID.User); err != nil {
				t.Fatal(err)
			}
			body := "hi from " + p.JID.User
			f.mx.waitEvent(t, 0, body, func(e sentEvent) bool { return e.Type == event.EventMessage && e.Message().Body == body })
		}

		phone, err := f.srv.NewPhone(f.ctx, f.alice.User, watestserver.PhoneOptions{PushName: "Alice"})
		if err != nil {
			t.Fatal(err)
		}
		defer phone.Close()
		if err = phone.ShareAppStateKeys(f.ctx, *c.WA.Store.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the bridge to store the app state key", func() bool {
			id, _ := c.WA.Store.AppStateKeys.GetLatestAppStateSyncKeyID(f.ctx)
			return id != nil
		})
		carolLID, err := f.srv.AccountLID(carolPhone)
		if err != nil {
			t.Fatal(err)
		}
		if err = phone.SetContactName(f.ctx, f.bobJID, "Robert Martin", "Robert"); err != nil {
			t.Fatal(err)
		}
		if err = phone.SetContactName(f.ctx, carolLID, "Carol Petit", "Carol"); err != nil {
			t.Fatal(err)
		}
		carolJID := types.NewJID(carolPhone, types.DefaultUserServer)
		want := map[string]string{
			string(portal.WAUserID(f.bobJID)): "Robert Martin",
			string(portal.WAUserID(carolJID)): "Carol Petit",
		}
		var got map[string]string
		waitFor(t, "both contacts in the list", func() bool {
			list, err := provisionutil.GetContactList(f.ctx, f.login)
			if err != nil {
				t.Fatal(err)
			}
			got = map[string]string{}
			for _, contact := range list.Contacts {
				got[string(contact.ID)] = contact.Name
			}
			return len(got) >= 2
		})
		list, err := c.GetContactList(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("contact list = %v, want Bob and Carol only", got)
		}
		for _, contact := range list {
			if name := *contact.UserInfo.Name; want[string(contact.UserID)] != name {
				t.Errorf("contact %s named %q, want %q (list %v)", contact.UserID, name, want[string(contact.UserID)], got)
			}
			jid, _ := portal.ParseWAUserID(contact.UserID)
			if contact.Ghost == nil || contact.Chat == nil || contact.Chat.PortalKey != c.portalKey(jid) {
				t.Errorf("contact %s: ghost %v, chat %+v", contact.UserID, contact.Ghost, contact.Chat)
			}
		}
	})
}

// waitFor polls cond every 20 ms for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
