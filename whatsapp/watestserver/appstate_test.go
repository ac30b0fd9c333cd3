package watestserver

import (
	"testing"
	"time"

	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestAppState: the phone shares its app state key with the bridge's device; mutes, pins and
// address-book names written by one device reach the other through the server's patch log.
func TestAppState(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	const user = "33711111111"
	bridge := pairedClient(t, srv, "bridge", user)
	// A new account's collections are empty, so their first change is a full sync for the bridge.
	bridge.cli.EmitAppStateEventsOnFullSync = true
	phone, err := srv.NewPhone(ctx, user, PhoneOptions{PushName: "Me"})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	phone.Client.EmitAppStateEventsOnFullSync = true
	contact := types.NewJID("33722222222", types.DefaultUserServer)

	if err = phone.ShareAppStateKeys(ctx, bridge.cli.Store.GetJID()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the bridge to store the key", func() bool {
		id, _ := bridge.dev.AppStateKeys.GetLatestAppStateSyncKeyID(ctx)
		return id != nil
	})

	if err = phone.Client.SendAppState(ctx, appstate.BuildMute(contact, true, time.Hour)); err != nil {
		t.Fatalf("mute from the phone: %v", err)
	}
	mute, _, err := WaitFor(ctx, bridge.log, 0, func(m *events.Mute) bool { return m.JID == contact })
	if err != nil {
		t.Fatal(err)
	}
	if !mute.Action.GetMuted() {
		t.Fatalf("mute action = %v", mute.Action)
	}
	if err = phone.SetContactName(ctx, contact, "Jean Dupont", "Jean"); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bridge.log, 0, func(c *events.Contact) bool {
		return c.JID == contact && c.Action.GetFullName() == "Jean Dupont"
	}); err != nil {
		t.Fatal(err)
	}

	// The bridge pins the chat; the phone sees it. Then a second mute change is incremental.
	if err = bridge.cli.SendAppState(ctx, appstate.BuildPin(contact, true)); err != nil {
		t.Fatalf("pin from the bridge: %v", err)
	}
	if _, _, err = WaitFor(ctx, phone.Events, 0, func(p *events.Pin) bool { return p.JID == contact && p.Action.GetPinned() }); err != nil {
		t.Fatal(err)
	}
	from := len(bridge.log.Events())
	if err = phone.Client.SendAppState(ctx, appstate.BuildMute(contact, false, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bridge.log, from, func(m *events.Mute) bool { return m.JID == contact && !m.Action.GetMuted() && !m.FromFullSync }); err != nil {
		t.Fatal(err)
	}
	// The server_sync notifications were acknowledged.
	waitUntil(t, "the bridge's queue to empty", func() bool { return srv.QueuedCount(bridge.cli.Store.GetJID()) == 0 })
	waitUntil(t, "the phone's queue to empty", func() bool { return srv.QueuedCount(phone.JID) == 0 })
}
