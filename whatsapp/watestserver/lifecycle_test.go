package watestserver

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

func TestPairByPhoneCode(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	const phone = "4915112345678"

	carol := newTestClient(t, srv, "carol")
	qr, err := carol.cli.GetQRChannel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err = carol.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	<-qr // the connection is ready once the first QR code arrives
	code, err := carol.cli.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
	if err != nil {
		t.Fatalf("PairPhone: %v", err)
	}
	if len(code) != 9 || code[4] != '-' {
		t.Fatalf("pairing code %q is not XXXX-XXXX", code)
	}
	jid, err := srv.EnterPairingCode(ctx, phone, code)
	if err != nil {
		t.Fatalf("enter code: %v", err)
	}
	if _, _, err = WaitFor[*events.PairSuccess](ctx, carol.log, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor[*events.Connected](ctx, carol.log, 0, nil); err != nil {
		t.Fatal(err)
	}
	if carol.cli.Store.GetJID() != jid || jid.User != phone {
		t.Fatalf("paired as %s, server says %s", carol.cli.Store.GetJID(), jid)
	}
}

func TestPairByPhoneCodeRejectsWrongCode(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	const phone = "4915187654321"
	dave := newTestClient(t, srv, "dave")
	qr, err := dave.cli.GetQRChannel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err = dave.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	<-qr
	code, err := dave.cli.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
	if err != nil {
		t.Fatal(err)
	}
	wrong := []byte(code)
	if wrong[0] == 'A' {
		wrong[0] = 'B'
	} else {
		wrong[0] = 'A'
	}
	if _, err = srv.EnterPairingCode(ctx, phone, string(wrong)); !errors.Is(err, ErrWrongPairingCode) {
		t.Fatalf("wrong code: err = %v, want ErrWrongPairingCode", err)
	}
	if _, err = srv.EnterPairingCode(ctx, "4915100000000", code); !errors.Is(err, ErrNoPendingPairing) {
		t.Fatalf("code for another number: err = %v, want ErrNoPendingPairing", err)
	}
	for _, bad := range []string{"ABC", "ABCD-EF0I", "ABCD-EFGH-1"} {
		if _, err = srv.EnterPairingCode(ctx, phone, bad); !errors.Is(err, ErrBadPairingInput) {
			t.Fatalf("code %q: err = %v, want ErrBadPairingInput", bad, err)
		}
	}
	if len(srv.Devices(phone)) != 0 {
		t.Fatalf("a device was linked with a wrong code: %v", srv.Devices(phone))
	}
}

func TestScanQRRejectsBadInput(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	cases := []struct{ name, phone, qr string }{
		{"not four parts", "33611111111", "2@abc,def"},
		{"bad base64", "33611111111", "2@abc,!!!,!!!,!!!"},
		{"unknown ref", "33611111111", "2@unknown,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		{"phone with plus", "+33611111111", "x,y,z,w"},
		{"short phone", "123", "x,y,z,w"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := srv.ScanQR(ctx, tc.phone, tc.qr)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.name == "unknown ref" {
				if !errors.Is(err, ErrNoPendingPairing) {
					t.Fatalf("err = %v, want ErrNoPendingPairing", err)
				}
			} else if !errors.Is(err, ErrBadPairingInput) {
				t.Fatalf("err = %v, want ErrBadPairingInput", err)
			}
		})
	}
}

func TestOfflineQueueAndRedelivery(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob := pairedClient(t, srv, "Bob", "33622222222")
	bobDevice := bob.cli.Store.GetJID()
	bobJID := bobDevice.ToNonAD()

	bob.cli.Disconnect()
	waitUntil(t, "bob to be offline", func() bool { return !srv.IsConnected(bobDevice) })
	resp, err := alice.cli.SendMessage(ctx, bobJID, &waE2E.Message{Conversation: proto.String("while you were away")})
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.QueuedCount(bobDevice); n != 1 {
		t.Fatalf("queued for offline bob: %d, want 1", n)
	}

	// Bob comes back but fails to handle the message: it is not acknowledged and stays queued.
	failing := clientForDevice(t, srv, "bob-failing", bob.dev, bob.mem)
	failing.cli.SynchronousAck = true
	failing.cli.EnableDecryptedEventBuffer = true
	var attempts atomic.Int32
	failing.cli.AddEventHandlerWithSuccessStatus(func(evt any) bool {
		if m, ok := evt.(*events.Message); ok && m.Info.ID == resp.ID {
			attempts.Add(1)
			return false
		}
		return true
	})
	if err = failing.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, failing.log, 0, func(*events.OfflineSyncCompleted) bool { return true }); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the failing handler to run", func() bool { return attempts.Load() == 1 })
	failing.cli.Disconnect()
	if n := srv.QueuedCount(bobDevice); n != 1 {
		t.Fatalf("after a failed handler the queue holds %d, want the message still there", n)
	}

	// Next time it works: the message is redelivered, decrypted from the buffer, and acknowledged.
	again := clientForDevice(t, srv, "bob-again", bob.dev, bob.mem)
	again.cli.SynchronousAck = true
	again.cli.EnableDecryptedEventBuffer = true
	if err = again.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	msg, _, err := WaitFor(ctx, again.log, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID })
	if err != nil {
		t.Fatal(err)
	}
	if textOf(msg.Message) != "while you were away" {
		t.Fatalf("redelivered text = %q", textOf(msg.Message))
	}
	waitUntil(t, "bob's queue to empty", func() bool { return srv.QueuedCount(bobDevice) == 0 })
	if _, _, err = WaitFor(ctx, alice.log, 0, func(r *events.Receipt) bool {
		return r.MessageIDs[0] == resp.ID && r.Sender.ToNonAD() == bobJID
	}); err != nil {
		t.Fatalf("alice got no receipt after redelivery: %v", err)
	}
}

func TestStreamReplaced(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	first := pairedClient(t, srv, "first", "33633333333")
	second := clientForDevice(t, srv, "second", first.dev, first.mem)
	if err := second.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := WaitFor[*events.StreamReplaced](ctx, first.log, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := WaitFor[*events.Connected](ctx, second.log, 0, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first client to be disconnected", func() bool { return !first.cli.IsConnected() })
	if !srv.IsConnected(first.dev.GetJID()) {
		t.Fatal("the replacing connection is not the device's connection")
	}
}

func TestLoggedOut(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)

	// While connected: stream:error 401 device_removed.
	online := pairedClient(t, srv, "online", "33644444444")
	jid := online.cli.Store.GetJID()
	if err := srv.LogoutDevice(jid); err != nil {
		t.Fatal(err)
	}
	evt, _, err := WaitFor[*events.LoggedOut](ctx, online.log, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if evt.OnConnect {
		t.Fatal("LoggedOut.OnConnect = true for a device removed while connected")
	}
	waitUntil(t, "whatsmeow to delete the device", func() bool { return !online.mem.Saved() })

	// While offline: failure 401 on the next login.
	offline := pairedClient(t, srv, "offline", "33655555555")
	jid = offline.cli.Store.GetJID()
	offline.cli.Disconnect()
	if err = srv.LogoutDevice(jid); err != nil {
		t.Fatal(err)
	}
	back := clientForDevice(t, srv, "offline-back", offline.dev, offline.mem)
	if err = back.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	evt, _, err = WaitFor[*events.LoggedOut](ctx, back.log, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !evt.OnConnect || evt.Reason != events.ConnectFailureLoggedOut {
		t.Fatalf("LoggedOut = %+v, want OnConnect with reason 401", evt)
	}
	if err = srv.LogoutDevice(jid); err == nil {
		t.Fatal("logging out a removed device again succeeded")
	}
}

func TestReconnectAfterNetworkDrop(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob := pairedClient(t, srv, "Bob", "33622222222")
	bobDevice := bob.cli.Store.GetJID()
	if err := srv.Disconnect(bobDevice); err != nil {
		t.Fatal(err)
	}
	_, idx, err := WaitFor[*events.Disconnected](ctx, bob.log, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor[*events.Connected](ctx, bob.log, idx, nil); err != nil {
		t.Fatalf("whatsmeow did not reconnect by itself: %v", err)
	}
	resp, err := alice.cli.SendMessage(ctx, bobDevice.ToNonAD(), &waE2E.Message{Conversation: proto.String("still there?")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bob.log, idx, func(m *events.Message) bool { return m.Info.ID == resp.ID }); err != nil {
		t.Fatal(err)
	}
}

func TestMediaRoundTrip(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob := pairedClient(t, srv, "Bob", "33622222222")
	bobJID := bob.cli.Store.GetJID().ToNonAD()

	picture := bytes.Repeat([]byte("not really a JPEG, but bytes all the same. "), 2000)
	up, err := alice.cli.Upload(ctx, picture, whatsmeow.MediaImage)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if srv.MediaCount() != 1 {
		t.Fatalf("server holds %d media files, want 1", srv.MediaCount())
	}
	resp, err := alice.cli.SendMessage(ctx, bobJID, &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
		URL:           proto.String(up.URL),
		DirectPath:    proto.String(up.DirectPath),
		MediaKey:      up.MediaKey,
		FileEncSHA256: up.FileEncSHA256,
		FileSHA256:    up.FileSHA256,
		FileLength:    proto.Uint64(up.FileLength),
		Mimetype:      proto.String("image/jpeg"),
		Caption:       proto.String("a picture"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	msg, _, err := WaitFor(ctx, bob.log, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID })
	if err != nil {
		t.Fatal(err)
	}
	img := msg.Message.GetImageMessage()
	if img == nil || img.GetCaption() != "a picture" {
		t.Fatalf("bob got %v", msg.Message)
	}
	got, err := bob.cli.Download(ctx, img)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	if !bytes.Equal(got, picture) {
		t.Fatalf("downloaded %d bytes that differ from the %d uploaded", len(got), len(picture))
	}
	// Downloading by direct path only (no URL) goes through the media host from media_conn.
	img.URL = nil
	if got, err = bob.cli.Download(ctx, img); err != nil || !bytes.Equal(got, picture) {
		t.Fatalf("download by direct path: %v", err)
	}
	_ = types.EmptyJID
}

// TestClientLogout: whatsmeow's own Logout unlinks the device on the server.
func TestClientLogout(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	tc := pairedClient(t, srv, "leaving", "33666666666")
	jid := tc.cli.Store.GetJID()
	if err := tc.cli.Logout(ctx); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if len(srv.Devices("33666666666")) != 0 {
		t.Fatalf("device %s is still linked after logout", jid)
	}
	if tc.mem.Saved() {
		t.Fatal("whatsmeow kept the device after logout")
	}
}
