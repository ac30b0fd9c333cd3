package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// TestWhatsApp runs the bridge binary against Dendrite and the WhatsApp test server, configured
// only through network.whatsapp.proxy and network.whatsapp.server.* as an operator would: a user
// links WhatsApp through the provisioning API by "scanning" the QR code the bridge shows, a
// contact's phone writes, the user answers from Matrix, and messages sent while the bridge is
// down arrive after it restarts.
func TestWhatsApp(t *testing.T) {
	srv, err := watestserver.Start(watestserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// The phones of this test process trust the test server too (the bridge process gets the
	// key through its config).
	defer srv.TrustRoot()()
	caFile := filepath.Join(t.TempDir(), "wa-ca.pem")
	if err = srv.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	for i, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) {
			br := bridgetest.New(t, bridgetest.Options{
				Binary:            passerelleBin,
				Engine:            engine,
				DisableEncryption: true,
				Edit: func(cfg bridgetest.Config) error {
					for _, s := range []struct {
						value string
						path  []string
					}{
						{srv.ProxyURL(), []string{"network", "whatsapp", "proxy"}},
						{srv.RootPublicKeyBase64(), []string{"network", "whatsapp", "server", "root_public_key"}},
						{caFile, []string{"network", "whatsapp", "server", "ca_file"}},
					} {
						if err := cfg.Set(s.value, s.path...); err != nil {
							return err
						}
					}
					return nil
				},
			})
			// Distinct numbers per engine: both runs share one WhatsApp server.
			alicePhone := "3361000000" + string(rune('1'+2*i))
			bobPhone := "3361000000" + string(rune('2'+2*i))
			testWhatsAppFlow(t, br, srv, alicePhone, bobPhone)
		})
	}
}

func testWhatsAppFlow(t *testing.T, br *bridgetest.Bridge, srv *watestserver.Server, alicePhone, bobPhone string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alice := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("wa-alice"))

	// Login through the provisioning API: the QR step carries whatsmeow's raw QR string.
	var step struct {
		LoginID        string `json:"login_id"`
		Type           string `json:"type"`
		StepID         string `json:"step_id"`
		Instructions   string `json:"instructions"`
		DisplayAndWait *struct {
			Type string `json:"type"`
			Data string `json:"data"`
		} `json:"display_and_wait"`
		Complete *struct {
			UserLoginID string `json:"user_login_id"`
		} `json:"complete"`
	}
	if _, err := br.Provision(ctx, http.MethodPost, "/v3/login/start/whatsapp-qr", alice.UserID, struct{}{}, &step); err != nil {
		t.Fatal(err)
	}
	if step.Type != "display_and_wait" || step.DisplayAndWait == nil || step.DisplayAndWait.Type != "qr" || step.DisplayAndWait.Data == "" {
		t.Fatalf("login start = %+v, want a QR code", step)
	}
	loginID, stepID := step.LoginID, step.StepID
	scanned := make(chan error, 1)
	go func() {
		_, err := srv.ScanQR(ctx, alicePhone, step.DisplayAndWait.Data)
		scanned <- err
	}()
	if _, err := br.Provision(ctx, http.MethodPost, "/v3/login/step/"+loginID+"/"+stepID+"/display_and_wait", alice.UserID, struct{}{}, &step); err != nil {
		t.Fatal(err)
	}
	if err := <-scanned; err != nil {
		t.Fatal(err)
	}
	if step.Type != "complete" || step.Complete == nil || step.Complete.UserLoginID != "wa."+alicePhone || step.Instructions == "" {
		t.Fatalf("final login step = %+v", step)
	}

	bob, err := srv.NewPhone(ctx, bobPhone, watestserver.PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	aliceJID := types.NewJID(alicePhone, types.DefaultUserServer)
	if _, err = bob.SendText(ctx, aliceJID, "hello from *WhatsApp*"); err != nil {
		t.Fatal(err)
	}

	// The portal room invites Alice; she joins and reads Bob's message.
	room := waitInvite(t, ctx, alice)
	if _, err = alice.JoinRoomByID(ctx, room); err != nil {
		t.Fatalf("join portal room: %v", err)
	}
	msg := br.WaitForEvent(t, alice, room, "", func(evt *event.Event) bool {
		return evt.Type == event.EventMessage && evt.Content.AsMessage().Body == "hello from *WhatsApp*"
	})
	if got := msg.Content.AsMessage().FormattedBody; got != "hello from <strong>WhatsApp</strong>" {
		t.Errorf("formatted body = %q", got)
	}
	if !strings.Contains(msg.Sender.String(), bobPhone) {
		t.Errorf("Bob's message sent by %s, want his ghost", msg.Sender)
	}

	// Alice answers from Matrix; Bob's phone gets it as WhatsApp text.
	from := len(bob.Events.Events())
	if _, err = alice.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "hi bob", Format: event.FormatHTML, FormattedBody: "hi <strong>bob</strong>",
	}); err != nil {
		t.Fatal(err)
	}
	waitPhone(t, ctx, bob, from, "hi *bob*")

	// Messages sent while the bridge is down arrive once it is back.
	if err = br.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err = bob.SendText(ctx, aliceJID, "sent while the bridge was down"); err != nil {
		t.Fatal(err)
	}
	if err = br.Start(ctx); err != nil {
		t.Fatal(err)
	}
	br.WaitForEvent(t, alice, room, msg.ID, func(evt *event.Event) bool {
		return evt.Type == event.EventMessage && evt.Content.AsMessage().Body == "sent while the bridge was down"
	})

	// And the link still works from Matrix after the restart.
	from = len(bob.Events.Events())
	if _, err = alice.SendText(ctx, room, "still here"); err != nil {
		t.Fatal(err)
	}
	waitPhone(t, ctx, bob, from, "still here")
}

// waitInvite waits until the user is invited to a room and returns it.
func waitInvite(t *testing.T, ctx context.Context, cli *mautrix.Client) id.RoomID {
	t.Helper()
	deadline := time.Now().Add(bridgetest.ReplyTimeout)
	since := ""
	for time.Now().Before(deadline) {
		resp, err := cli.SyncRequest(ctx, 2000, since, "", false, event.PresenceOffline)
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		since = resp.NextBatch
		for roomID := range resp.Rooms.Invite {
			return roomID
		}
	}
	t.Fatalf("%s was never invited to a portal room", cli.UserID)
	return ""
}

// waitPhone waits until the phone receives a text message.
func waitPhone(t *testing.T, ctx context.Context, phone *watestserver.Phone, from int, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, bridgetest.ReplyTimeout)
	defer cancel()
	_, _, err := watestserver.WaitFor(ctx, phone.Events, from, func(m *events.Message) bool {
		return m.Message.GetConversation() == text || m.Message.GetExtendedTextMessage().GetText() == text
	})
	if err != nil {
		t.Fatalf("%s never received %q: %v", phone.JID, text, err)
	}
}
