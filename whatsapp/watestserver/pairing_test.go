package watestserver

import (
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

func TestPairByQRAndLoginAgain(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := newTestClient(t, srv, "alice")

	jid, err := srv.PairClient(ctx, alice.cli, "33612345678")
	if err != nil {
		t.Fatalf("pair: %v", err)
	}
	if jid.User != "33612345678" || jid.Device == 0 {
		t.Fatalf("paired JID = %s, want a companion device of 33612345678", jid)
	}
	if got := alice.cli.Store.GetJID(); got != jid {
		t.Fatalf("client store JID = %s, want %s", got, jid)
	}
	if !alice.mem.Saved() {
		t.Fatal("whatsmeow did not save the paired device")
	}
	lid, _ := srv.AccountLID("33612345678")
	if alice.cli.Store.GetLID().User != lid.User {
		t.Fatalf("client LID = %s, want user %s", alice.cli.Store.GetLID(), lid.User)
	}
	if _, _, err = WaitFor[*events.PairSuccess](ctx, alice.log, 0, nil); err != nil {
		t.Fatal(err)
	}
	if !srv.IsConnected(jid) {
		t.Fatal("server does not see the device connected")
	}
	if n := srv.PreKeyCount(jid); n < 50 {
		t.Fatalf("server holds %d prekeys of the new device, want the initial upload", n)
	}

	// The saved device logs in again with a new client.
	alice.cli.Disconnect()
	again := clientForDevice(t, srv, "alice-again", alice.dev, alice.mem)
	if err = again.cli.Connect(); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	if _, _, err = WaitFor[*events.Connected](ctx, again.log, 0, nil); err != nil {
		t.Fatal(err)
	}
	if srv.Devices("33612345678")[0] != jid {
		t.Fatalf("devices = %v", srv.Devices("33612345678"))
	}
	_ = types.EmptyJID
}
