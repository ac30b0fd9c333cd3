package watestserver

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

func TestContactsAndAvatars(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob, err := srv.NewPhone(ctx, "33622222222", PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	bobJID := types.NewJID("33622222222", types.DefaultUserServer)

	found, err := alice.cli.IsOnWhatsApp(ctx, []string{"+33622222222", "+33699999990"})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || !found[0].IsIn || found[0].JID != bobJID || found[1].IsIn {
		t.Fatalf("IsOnWhatsApp = %+v", found)
	}

	if err = bob.Client.SetStatusMessage(ctx, "available"); err != nil {
		t.Fatal(err)
	}
	infos, err := alice.cli.GetUserInfo(ctx, []types.JID{bobJID})
	if err != nil {
		t.Fatal(err)
	}
	bobLID, _ := srv.AccountLID("33622222222")
	info := infos[bobJID]
	if info.Status != "available" || info.LID != bobLID || len(info.Devices) != 1 || info.Devices[0] != bob.JID {
		t.Fatalf("user info = %+v", info)
	}

	// No picture yet, then one set on the phone.
	if _, err = alice.cli.GetProfilePictureInfo(ctx, bobJID, nil); !errors.Is(err, whatsmeow.ErrProfilePictureNotSet) {
		t.Fatalf("picture before one is set: err = %v", err)
	}
	jpeg := []byte("\xff\xd8\xff pretend jpeg")
	id, err := srv.SetAvatar(bobJID, jpeg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(p *events.Picture) bool { return p.JID == bobJID && p.PictureID == id }); err != nil {
		t.Fatal(err)
	}
	pic, err := alice.cli.GetProfilePictureInfo(ctx, bobJID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pic.ID != id {
		t.Fatalf("picture id = %s, want %s", pic.ID, id)
	}
	resp, err := srv.HTTPClient().Get(pic.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, jpeg) {
		t.Fatalf("picture download = %q", body)
	}
	if same, err := alice.cli.GetProfilePictureInfo(ctx, bobJID, &whatsmeow.GetProfilePictureParams{ExistingID: id}); err != nil || same != nil {
		t.Fatalf("unchanged picture: %v, %v", same, err)
	}
	if _, err = srv.SetAvatar(types.NewJID("33600000000", types.DefaultUserServer), jpeg); err == nil {
		t.Fatal("avatar of an unknown account was accepted")
	}

	// A push name set through presence reaches contacts with the next message.
	bob.Client.Store.PushName = "Bobby"
	if err = bob.Client.SendPresence(ctx, types.PresenceAvailable); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the new push name", func() bool { return srv.PushName("33622222222") == "Bobby" })
	sent, err := bob.SendText(ctx, alice.cli.Store.GetJID().ToNonAD(), "renamed")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(p *events.PushName) bool { return p.JID == bobJID && p.NewPushName == "Bobby" }); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, alice.log, 0, func(m *events.Message) bool { return m.Info.ID == sent.ID && m.Info.PushName == "Bobby" }); err != nil {
		t.Fatal(err)
	}
	waitQueuesDrain(t, srv)
}

// TestAvatarNotificationsAreQueued: a picture change made while a device is offline reaches it
// when it logs in again, and is acknowledged.
func TestAvatarNotificationsAreQueued(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	if _, err := srv.CreateAccount("33622222222", "Bob"); err != nil {
		t.Fatal(err)
	}
	aliceDevice := alice.cli.Store.GetJID()
	alice.cli.Disconnect()
	waitUntil(t, "alice to be offline", func() bool { return !srv.IsConnected(aliceDevice) })
	id, err := srv.SetAvatar(types.NewJID("33622222222", types.DefaultUserServer), []byte("jpeg"))
	if err != nil {
		t.Fatal(err)
	}
	back := clientForDevice(t, srv, "alice-back", alice.dev, alice.mem)
	if err = back.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, back.log, 0, func(p *events.Picture) bool { return p.PictureID == id }); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the notification to be acknowledged", func() bool { return srv.QueuedCount(aliceDevice) == 0 })
}
