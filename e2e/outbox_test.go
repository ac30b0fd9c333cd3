package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// waitMetric polls /metrics until the series matching labels satisfies cond.
func waitMetric(t *testing.T, br *bridgetest.Bridge, name string, labels map[string]string, what string, cond func(v float64, found bool) bool) {
	t.Helper()
	deadline := time.Now().Add(bridgetest.ReplyTimeout)
	for {
		samples, _ := scrapeMetrics(t, br.Address)
		got := find(samples, name, labels)
		v := 0.0
		if len(got) > 0 {
			v = got[0].value
		}
		if cond(v, len(got) > 0) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %s (last value %v, found %v)", name, what, v, len(got) > 0)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitStatus waits for the bridge's message status event about evtID with the given status.
func waitStatus(t *testing.T, br *bridgetest.Bridge, cli *mautrix.Client, room id.RoomID, evtID id.EventID, status event.MessageStatus) *event.BeeperMessageStatusEventContent {
	t.Helper()
	evt := br.WaitForEvent(t, cli, room, evtID, func(evt *event.Event) bool {
		c, ok := evt.Content.Parsed.(*event.BeeperMessageStatusEventContent)
		return ok && evt.Sender == br.Bot && c.RelatesTo.EventID == evtID && c.Status == status
	})
	return evt.Content.Parsed.(*event.BeeperMessageStatusEventContent)
}

// TestOutboxTelegram: messages and an edit sent from Matrix while the bridge cannot reach
// Telegram are answered PENDING, kept across a bridge restart, and reach the contact in order,
// exactly once, with the edit applied, when the connection is back.
func TestOutboxTelegram(t *testing.T) {
	srv := startTelegramServer(t)
	me, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000011", FirstName: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000012", FirstName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	br := bridgetest.New(t, bridgetest.Options{
		Binary: passerelleBin, Engine: "sqlite3-fk-wal", DisableEncryption: true, Edit: telegramSection(srv),
	})
	alice, room := tgDMPortal(t, br, srv, me, bob, "+33600000011", "ob")
	ctx := context.Background()
	bobView := func() []tgtestserver.StoredMessage { return srv.History(bob.ID(), tgtestserver.UserPeer(me.ID())) }
	before, err := alice.SendText(ctx, room, "before the outage")
	if err != nil {
		t.Fatal(err)
	}
	waitTelegram(t, srv, bob.ID(), tgtestserver.UserPeer(me.ID()), "the message sent while connected", func(h []tgtestserver.StoredMessage) bool {
		return tgLastWithText(h, "before the outage") != nil
	})
	// The bridge has its answer too: a cut before the answer arrives makes the send uncertain,
	// and an uncertain send is queued again (a fifth outbox entry).
	waitStatus(t, br, alice, room, before.EventID, event.MessageStatusSuccess)
	depth := map[string]string{"network": "tg", "queue": "outbox"}

	if n := srv.CutNetwork(); n == 0 {
		t.Fatal("the bridge had no connection to cut")
	}
	t.Cleanup(srv.RestoreNetwork)
	waitMetric(t, br, "passerelle_logins", map[string]string{"network": "tg", "state": "TRANSIENT_DISCONNECT"}, "the Telegram login disconnected",
		func(v float64, found bool) bool { return v == 1 })

	sent, _ := sendWhileCut(t, ctx, br, alice, room, "Telegram")
	waitMetric(t, br, "passerelle_queue_depth", depth, "4 queued events", func(v float64, _ bool) bool { return v == 4 })

	// The queue is in the database: a restart while still cut keeps it.
	if err = br.Restart(ctx); err != nil {
		t.Fatalf("restart the bridge: %v", err)
	}
	waitMetric(t, br, "passerelle_queue_depth", depth, "4 queued events after the restart", func(v float64, _ bool) bool { return v == 4 })
	for _, m := range bobView() {
		if strings.HasPrefix(m.Text, "queued") {
			t.Fatalf("Telegram got %q while the bridge was cut off", m.Text)
		}
	}

	srv.RestoreNetwork()
	deadline := time.Now().Add(2 * time.Minute) // gotd's reconnect backoff grew during the outage
	for tgLastWithText(bobView(), "queued three") == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the queued messages never reached Telegram; Bob sees %+v\nbridge log:\n%s", bobView(), br.LogTail(60))
		}
		time.Sleep(250 * time.Millisecond)
	}
	waitTelegram(t, srv, bob.ID(), tgtestserver.UserPeer(me.ID()), "the edit applied", func(h []tgtestserver.StoredMessage) bool {
		return tgLastWithText(h, "queued two, edited") != nil
	})
	var got []string
	lastID := 0
	for _, m := range bobView() {
		if !strings.HasPrefix(m.Text, "queued") {
			continue
		}
		if m.ID <= lastID {
			t.Errorf("message %q (ID %d) is out of order", m.Text, m.ID)
		}
		lastID = m.ID
		got = append(got, m.Text)
	}
	if want := []string{"queued one", "queued two, edited", "queued three"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Bob received %q, want %q exactly once each, in order", got, want)
	}
	waitStatus(t, br, alice, room, sent[2], event.MessageStatusSuccess)
	waitMetric(t, br, "passerelle_queue_depth", depth, "an empty outbox", func(v float64, _ bool) bool { return v == 0 })

	// Connected again: a new message goes straight through.
	if _, err = alice.SendText(ctx, room, "after the outage"); err != nil {
		t.Fatal(err)
	}
	waitTelegram(t, srv, bob.ID(), tgtestserver.UserPeer(me.ID()), "a message after the outage", func(h []tgtestserver.StoredMessage) bool {
		return tgLastWithText(h, "after the outage") != nil
	})

	// The network drops mid-send: Telegram stores the message, the bridge never gets the answer.
	// It queues the message; after reconnecting, Telegram's catch-up shows it as Ada's own and
	// the replay's copy is refused (same random_id): the bridge must record it as sent, not show
	// it twice in Matrix nor report a failure.
	uncertain := sendLosingAnswer(t, br, srv, alice, room, me.ID(), func() (*mautrix.RespSendEvent, error) {
		return alice.SendText(ctx, room, "queued uncertain")
	})
	if _, err = alice.SendText(ctx, room, "after the second outage"); err != nil {
		t.Fatal(err)
	}
	waitTelegram(t, srv, bob.ID(), tgtestserver.UserPeer(me.ID()), "a message after the second outage", func(h []tgtestserver.StoredMessage) bool {
		return tgLastWithText(h, "after the second outage") != nil
	})
	copies := 0
	for _, m := range bobView() {
		if m.Text == "queued uncertain" {
			copies++
		}
	}
	if copies != 1 {
		t.Fatalf("Bob has %d copies of the message whose answer was lost, want 1", copies)
	}
	// The room: the catch-up must not have bridged Ada's own message back as a second copy.
	br.WaitForEvent(t, alice, room, uncertain.EventID, func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return m != nil && m.Body == "after the second outage"
	})
	msgs, err := alice.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	var inRoom []id.EventID
	for _, evt := range msgs.Chunk {
		if evt.Type == event.EventMessage {
			_ = evt.Content.ParseRaw(evt.Type)
			if m := evt.Content.AsMessage(); m != nil && m.Body == "queued uncertain" {
				inRoom = append(inRoom, evt.ID)
			}
		}
	}
	if len(inRoom) != 1 || inRoom[0] != uncertain.EventID {
		t.Fatalf("the room shows %v with the uncertain message's text, want only the original %s", inRoom, uncertain.EventID)
	}

	// The same with a photo: recognised by its caption and kind, recorded once.
	pic := tgTestPNG(t)
	up, err := alice.UploadBytesWithName(ctx, pic, "image/png", "lost.png")
	if err != nil {
		t.Fatal(err)
	}
	sendLosingAnswer(t, br, srv, alice, room, me.ID(), func() (*mautrix.RespSendEvent, error) {
		return alice.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgImage, Body: "the lost chart", FileName: "lost.png", URL: up.ContentURI.CUString(),
			Info: &event.FileInfo{MimeType: "image/png", Size: len(pic)},
		})
	})
	photos := 0
	for _, m := range bobView() {
		if m.Text == "the lost chart" && m.Media == "photo" {
			photos++
		}
	}
	if photos != 1 {
		t.Fatalf("Bob has %d copies of the photo whose answer was lost, want 1", photos)
	}
}

// sendLosingAnswer makes the Telegram test server lose its answer to the next message account
// sends (the network is cut instead), sends one from Matrix with send, and checks the bridge's
// statuses: PENDING while cut off, SUCCESS once the network is back. It returns the event.
func sendLosingAnswer(t *testing.T, br *bridgetest.Bridge, srv *tgtestserver.Server, alice *mautrix.Client, room id.RoomID, account int64, send func() (*mautrix.RespSendEvent, error)) *mautrix.RespSendEvent {
	t.Helper()
	lost := srv.LoseNextAnswer(account)
	resp, err := send()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(time.Minute):
		t.Fatal("the bridge's message never reached the server")
	}
	waitStatus(t, br, alice, room, resp.EventID, event.MessageStatusPending)
	srv.RestoreNetwork()
	waitStatus(t, br, alice, room, resp.EventID, event.MessageStatusSuccess)
	return resp
}

// tgLoginPhone logs cli in to Telegram by phone (an account without a password) in its
// management room mgmt.
func tgLoginPhone(t *testing.T, br *bridgetest.Bridge, srv *tgtestserver.Server, cli *mautrix.Client, mgmt id.RoomID, phone string) {
	t.Helper()
	digits := strings.TrimPrefix(phone, "+")
	final := tgLogin(t, br, cli, mgmt,
		func() string { return phone },
		func() string {
			code, ok := srv.LastCode(digits)
			if !ok {
				t.Fatal("the server sent no login code")
			}
			return code
		},
	)
	if !strings.Contains(final, "Logged in to Telegram") {
		t.Fatalf("login did not finish, got:\n%s", final)
	}
}

// tgDMPortal logs a new Matrix user in to Telegram as me (whose phone is phone) and opens the DM
// portal with bob by a first message from bob; it returns the user and the portal.
func tgDMPortal(t *testing.T, br *bridgetest.Bridge, srv *tgtestserver.Server, me, bob *tgtestserver.Actor, phone, localpart string) (*mautrix.Client, id.RoomID) {
	t.Helper()
	alice := br.Homeserver.NewUser(t, hstest.UniqueLocalpart(localpart))
	mgmt := br.OpenManagementRoom(t, alice)
	tgLoginPhone(t, br, srv, alice, mgmt, phone)
	if _, err := bob.SendText(tgtestserver.UserPeer(me.ID()), "hello Ada"); err != nil {
		t.Fatal(err)
	}
	room := tgWaitInvite(t, alice, map[id.RoomID]bool{mgmt: true})
	br.WaitForEvent(t, alice, room, "", func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return m != nil && m.Body == "hello Ada"
	})
	return alice, room
}
