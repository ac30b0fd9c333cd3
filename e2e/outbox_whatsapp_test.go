package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// TestOutboxWhatsApp: messages and an edit sent from Matrix while the bridge cannot reach
// WhatsApp are answered PENDING, nothing reaches the contact, and once the network is back the
// contact's phone gets them in order, exactly once each, with the edit applied to the right
// message.
func TestOutboxWhatsApp(t *testing.T) {
	const alicePhone, bobPhone = "33630000001", "33630000002"
	srv, err := watestserver.Start(watestserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer srv.TrustRoot()()
	br := bridgetest.New(t, bridgetest.Options{
		Binary: passerelleBin, Engine: "sqlite3-fk-wal", DisableEncryption: true, Edit: whatsappSection(t, srv),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	alice := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("wa-ob"))
	linkWhatsAppQR(t, ctx, br, srv, alice, alicePhone)

	bob, err := srv.NewPhone(ctx, bobPhone, watestserver.PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, err = bob.SendText(ctx, types.NewJID(alicePhone, types.DefaultUserServer), "hello Alice"); err != nil {
		t.Fatal(err)
	}
	room := waitInvite(t, ctx, alice)
	if _, err = alice.JoinRoomByID(ctx, room); err != nil {
		t.Fatalf("join portal room: %v", err)
	}
	br.WaitForEvent(t, alice, room, "", func(evt *event.Event) bool {
		return evt.Type == event.EventMessage && evt.Content.AsMessage().Body == "hello Alice"
	})
	from := len(bob.Events.Events())
	before, err := alice.SendText(ctx, room, "before the outage")
	if err != nil {
		t.Fatal(err)
	}
	waitPhone(t, ctx, bob, from, "before the outage")
	// Wait for the server's ack at the bridge too: a cut before it arrives makes the send
	// uncertain, and an uncertain send is queued again (a fifth outbox entry; the replay carries
	// the same message ID, so the phone keeps one copy).
	waitStatus(t, br, alice, room, before.EventID, event.MessageStatusSuccess)
	depth := map[string]string{"network": "wa", "queue": "outbox"}

	n, err := srv.CutProxy(alicePhone)
	if err != nil || n == 0 {
		t.Fatalf("cut the bridge's WhatsApp connection: %d connections closed, %v", n, err)
	}
	t.Cleanup(func() { _ = srv.RestoreProxy() })
	waitMetric(t, br, "passerelle_logins", map[string]string{"network": "wa", "state": "TRANSIENT_DISCONNECT"}, "the WhatsApp login disconnected",
		func(v float64, found bool) bool { return v == 1 })

	from = len(bob.Events.Events())
	sent, edit := sendWhileCut(t, ctx, br, alice, room, "WhatsApp")
	waitMetric(t, br, "passerelle_queue_depth", depth, "4 queued events", func(v float64, _ bool) bool { return v == 4 })
	if got := queuedAtPhone(bob, from); len(got) != 0 {
		t.Fatalf("Bob's phone got %q while the bridge was cut off", got)
	}

	if err = srv.RestoreProxy(); err != nil {
		t.Fatal(err)
	}
	// whatsmeow's reconnect delay grew during the outage (2 s more per failed attempt).
	longCtx, longCancel := context.WithTimeout(ctx, 2*time.Minute)
	defer longCancel()
	if _, _, err = watestserver.WaitFor(longCtx, bob.Events, from, func(m *events.Message) bool { return textOf(m) == "queued three" }); err != nil {
		t.Fatalf("the queued messages never reached Bob (got %q): %v\nbridge log:\n%s", queuedAtPhone(bob, from), err, br.LogTail(60))
	}
	waitStatus(t, br, alice, room, sent[2], event.MessageStatusSuccess)
	waitStatus(t, br, alice, room, edit, event.MessageStatusSuccess)
	waitMetric(t, br, "passerelle_queue_depth", depth, "an empty outbox", func(v float64, _ bool) bool { return v == 0 })

	// Connected again: a new message goes straight through. It also closes the window for late
	// duplicates: the phone receives in order, so any second copy would have come before it.
	if _, err = alice.SendText(ctx, room, "after the outage"); err != nil {
		t.Fatal(err)
	}
	waitPhone(t, ctx, bob, from, "after the outage")

	got := queuedAtPhone(bob, from)
	if want := []string{"queued one", "queued two", "queued three"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Bob received %q, want %q exactly once each, in order", got, want)
	}
	var twoID types.MessageID
	var edits []*waE2E.ProtocolMessage
	editIDs := map[types.MessageID]bool{}
	for _, evt := range bob.Events.Events()[from:] {
		m, ok := evt.(*events.Message)
		if !ok {
			continue
		}
		if textOf(m) == "queued two" {
			twoID = m.Info.ID
		}
		if pm := m.Message.GetProtocolMessage(); pm.GetType() == waE2E.ProtocolMessage_MESSAGE_EDIT && !editIDs[m.Info.ID] {
			editIDs[m.Info.ID] = true
			edits = append(edits, pm)
		}
	}
	if len(edits) != 1 || edits[0].GetKey().GetID() != twoID || edits[0].GetEditedMessage().GetConversation() != "queued two, edited" {
		t.Fatalf("Bob got %d edits (%v), want one of message %s to %q", len(edits), edits, twoID, "queued two, edited")
	}

	// The network drops mid-send: the message reaches Bob, the bridge never hears back. It
	// cannot know, so it queues the message and sends it again after reconnecting; the second
	// copy carries the same WhatsApp message ID, and Bob's app keeps one message.
	from = len(bob.Events.Events())
	lost := srv.LoseNextAck(alicePhone)
	uncertain, err := alice.SendText(ctx, room, "queued uncertain")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-ctx.Done():
		t.Fatal("the bridge's message never reached the server")
	}
	waitStatus(t, br, alice, room, uncertain.EventID, event.MessageStatusPending)
	if err = srv.RestoreProxy(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, br, alice, room, uncertain.EventID, event.MessageStatusSuccess)
	if _, err = alice.SendText(ctx, room, "after the second outage"); err != nil {
		t.Fatal(err)
	}
	waitPhone(t, ctx, bob, from, "after the second outage")
	var copies []types.MessageID
	for _, evt := range bob.Events.Events()[from:] {
		if m, ok := evt.(*events.Message); ok && textOf(m) == "queued uncertain" {
			copies = append(copies, m.Info.ID)
		}
	}
	if len(copies) != 2 || copies[0] != copies[1] {
		t.Fatalf("Bob's phone got %d copies of the uncertain message with IDs %v, want the first send and the replay with one ID", len(copies), copies)
	}
	if got := queuedAtPhone(bob, from); len(got) != 1 {
		t.Fatalf("Bob's app shows %q, want the uncertain message once", got)
	}
}

// sendWhileCut sends "queued one/two/three" and an edit of the second (itself still queued) as
// alice while the bridge cannot reach network (its name as in the notices), checks that each is
// answered PENDING and that the room is told once, and returns the three event IDs and the edit's.
func sendWhileCut(t *testing.T, ctx context.Context, br *bridgetest.Bridge, alice *mautrix.Client, room id.RoomID, network string) ([]id.EventID, id.EventID) {
	t.Helper()
	var sent []id.EventID
	for _, text := range []string{"queued one", "queued two", "queued three"} {
		resp, err := alice.SendText(ctx, room, text)
		if err != nil {
			t.Fatal(err)
		}
		st := waitStatus(t, br, alice, room, resp.EventID, event.MessageStatusPending)
		if !strings.Contains(st.Message, network+" reconnects") {
			t.Errorf("pending status of %q says %q", text, st.Message)
		}
		sent = append(sent, resp.EventID)
	}
	edit, err := alice.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "* queued two, edited",
		NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "queued two, edited"},
		RelatesTo:  &event.RelatesTo{Type: event.RelReplace, EventID: sent[1]},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, br, alice, room, edit.EventID, event.MessageStatusPending)
	br.WaitForEvent(t, alice, room, sent[0], func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return evt.Sender == br.Bot && m != nil && m.MsgType == event.MsgNotice && strings.Contains(m.Body, "Not connected to "+network)
	})
	return sent, edit.EventID
}

// textOf is the plain text of a WhatsApp message, or "" for other kinds.
func textOf(m *events.Message) string {
	if t := m.Message.GetConversation(); t != "" {
		return t
	}
	return m.Message.GetExtendedTextMessage().GetText()
}

// queuedAtPhone lists the texts starting with "queued" that the phone received from index from,
// as the WhatsApp app shows them: a message received again with the same chat, sender and ID
// replaces the copy it has, so it is listed once.
func queuedAtPhone(p *watestserver.Phone, from int) []string {
	var out []string
	seen := map[string]bool{}
	for _, evt := range p.Events.Events()[from:] {
		if m, ok := evt.(*events.Message); ok && strings.HasPrefix(textOf(m), "queued") {
			key := m.Info.Chat.String() + "|" + m.Info.Sender.ToNonAD().String() + "|" + m.Info.ID
			if !seen[key] {
				seen[key] = true
				out = append(out, textOf(m))
			}
		}
	}
	return out
}

// whatsappSection points a bridge's WhatsApp network at the test server, through its proxy, and
// turns message status events on.
func whatsappSection(t *testing.T, srv *watestserver.Server) func(cfg bridgetest.Config) error {
	caFile := filepath.Join(t.TempDir(), "wa-ca.pem")
	if err := srv.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	return func(cfg bridgetest.Config) error {
		settings := map[string][]string{
			srv.ProxyURL():            {"network", "whatsapp", "proxy"},
			srv.RootPublicKeyBase64(): {"network", "whatsapp", "server", "root_public_key"},
			caFile:                    {"network", "whatsapp", "server", "ca_file"},
		}
		for value, path := range settings {
			if err := cfg.Set(value, path...); err != nil {
				return err
			}
		}
		// PENDING and SUCCESS reach the room as message status events.
		return cfg.Set(true, "matrix", "message_status_events")
	}
}

// linkWhatsAppQR links user's WhatsApp account phone through the provisioning API's QR flow:
// the first step carries whatsmeow's raw QR string, which the test server scans as the phone,
// and the last names the new login and says what to do next.
func linkWhatsAppQR(t *testing.T, ctx context.Context, br *bridgetest.Bridge, srv *watestserver.Server, user *mautrix.Client, phone string) {
	t.Helper()
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
	if _, err := br.Provision(ctx, http.MethodPost, "/v3/login/start/whatsapp-qr", user.UserID, struct{}{}, &step); err != nil {
		t.Fatal(err)
	}
	if step.Type != "display_and_wait" || step.DisplayAndWait == nil || step.DisplayAndWait.Type != "qr" || step.DisplayAndWait.Data == "" {
		t.Fatalf("login start = %+v, want a QR code", step)
	}
	scanned := make(chan error, 1)
	go func() {
		_, err := srv.ScanQR(ctx, phone, step.DisplayAndWait.Data)
		scanned <- err
	}()
	if _, err := br.Provision(ctx, http.MethodPost, "/v3/login/step/"+step.LoginID+"/"+step.StepID+"/display_and_wait", user.UserID, struct{}{}, &step); err != nil {
		t.Fatal(err)
	}
	if err := <-scanned; err != nil {
		t.Fatal(err)
	}
	if step.Type != "complete" || step.Complete == nil || step.Complete.UserLoginID != "wa."+phone || step.Instructions == "" {
		t.Fatalf("final login step = %+v", step)
	}
}
