package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/telegram/auth/qrlogin"
	"github.com/gotd/td/tg"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

const (
	tgTestAPIID   = 12345
	tgTestAPIHash = "0123456789abcdef0123456789abcdef"
)

// tgAppClient is a Telegram app logged in on the test server (a user's phone), for accepting
// QR logins; it stops when the test ends. password is the account's cloud password, if any.
func tgAppClient(t *testing.T, srv *tgtestserver.Server, phone, password string) *tg.Client {
	t.Helper()
	opts := srv.ClientOptions()
	opts.SessionStorage = &session.StorageMemory{}
	opts.NoUpdates = true
	client := telegram.NewClient(tgTestAPIID, tgTestAPIHash, opts)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *tg.Client, 1)
	done := make(chan error, 1)
	go func() {
		done <- client.Run(ctx, func(ctx context.Context) error {
			sent, err := client.Auth().SendCode(ctx, phone, auth.SendCodeOptions{})
			if err != nil {
				return err
			}
			code, _ := srv.LastCode(phone)
			_, err = client.Auth().SignIn(ctx, phone, code, sent.(*tg.AuthSentCode).PhoneCodeHash)
			if errors.Is(err, auth.ErrPasswordAuthNeeded) && password != "" {
				_, err = client.Auth().Password(ctx, password)
			}
			if err != nil {
				return err
			}
			ready <- client.API()
			<-ctx.Done()
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case api := <-ready:
		return api
	case err := <-done:
		t.Fatalf("phone app for %s: %v", phone, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("phone app for %s did not log in", phone)
	}
	return nil
}

// tgTestPNG is a small real PNG (the test server makes thumbnails of photos).
func tgTestPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := 0; x < 40; x++ {
		img.Set(x, x%30, color.RGBA{B: 200, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// startTelegramServer runs the project's Telegram test server on loopback for one test.
func startTelegramServer(t *testing.T) *tgtestserver.Server {
	t.Helper()
	srv, err := tgtestserver.New(tgtestserver.Options{
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Timestamp().Logger(),
	})
	if err != nil {
		t.Fatalf("telegram test server: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("start telegram test server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// telegramSection points the bridge's network.telegram section at srv, as an operator would.
func telegramSection(srv *tgtestserver.Server) func(cfg bridgetest.Config) error {
	return func(cfg bridgetest.Config) error {
		keys := []any{}
		for _, k := range srv.PublicKeysPEM() {
			keys = append(keys, k)
		}
		for _, s := range []struct {
			value any
			path  []string
		}{
			{true, []string{"network", "telegram", "enabled"}},
			{tgTestAPIID, []string{"network", "telegram", "api_id"}},
			{tgTestAPIHash, []string{"network", "telegram", "api_hash"}},
			{srv.DC(), []string{"network", "telegram", "server", "dc"}},
			{[]any{map[string]any{"id": srv.DC(), "address": srv.Addr()}}, []string{"network", "telegram", "server", "dc_options"}},
			{keys, []string{"network", "telegram", "server", "public_keys"}},
			{"errors", []string{"bridge", "bridge_status_notices"}},
			{true, []string{"backfill", "enabled"}},
			{true, []string{"matrix", "message_status_events"}},
			{20, []string{"backfill", "max_initial_messages"}},
		} {
			if err := cfg.Set(s.value, s.path...); err != nil {
				return err
			}
		}
		return nil
	}
}

// tgWaitInvite syncs until the user is invited to a room not in seen, joins it and returns it.
func tgWaitInvite(t *testing.T, cli *mautrix.Client, seen map[id.RoomID]bool) id.RoomID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bridgetest.ReplyTimeout)
	defer cancel()
	for {
		resp, err := cli.SyncRequest(ctx, 1000, "", "", false, event.PresenceOnline)
		if err == nil {
			for room, inv := range resp.Rooms.Invite {
				if !seen[room] && isSpace(inv) {
					// bridgev2's personal filtering space, not a portal.
					seen[room] = true
					_, _ = cli.JoinRoomByID(ctx, room)
					continue
				}
				if !seen[room] {
					seen[room] = true
					if _, err := cli.JoinRoomByID(ctx, room); err != nil {
						t.Fatalf("join portal %s: %v", room, err)
					}
					return room
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("%s was not invited to a new portal within %s", cli.UserID, bridgetest.ReplyTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tgWaitPortals joins the portals the user is invited to (rooms not in seen) until each text
// has shown in one of them, and returns the room of each text: portals created together may
// invite in any order.
func tgWaitPortals(t *testing.T, cli *mautrix.Client, seen map[id.RoomID]bool, texts []string) map[string]id.RoomID {
	t.Helper()
	ctx := context.Background()
	found := map[string]id.RoomID{}
	var joined []id.RoomID
	deadline := time.Now().Add(2 * bridgetest.ReplyTimeout)
	for len(found) < len(texts) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: portals with %q not found (have %v) within %s", cli.UserID, texts, found, 2*bridgetest.ReplyTimeout)
		}
		if len(joined) < len(texts) {
			joined = append(joined, tgWaitInvite(t, cli, seen))
		}
		for _, room := range joined {
			msgs, err := cli.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 50)
			if err != nil {
				continue
			}
			for _, evt := range msgs.Chunk {
				if evt.Type != event.EventMessage {
					continue
				}
				_ = evt.Content.ParseRaw(evt.Type)
				if m := evt.Content.AsMessage(); m != nil && slices.Contains(texts, m.Body) {
					found[m.Body] = room
				}
			}
		}
		if len(found) < len(texts) {
			time.Sleep(200 * time.Millisecond)
		}
	}
	return found
}

func isSpace(inv *mautrix.SyncInvitedRoom) bool {
	for _, evt := range inv.State.Events {
		if evt.Type == event.StateCreate {
			_ = evt.Content.ParseRaw(evt.Type)
			if c := evt.Content.AsCreate(); c != nil && c.Type == event.RoomTypeSpace {
				return true
			}
		}
	}
	return false
}

// waitTelegram polls the test server until cond holds on what userID sees in p.
func waitTelegram(t *testing.T, srv *tgtestserver.Server, userID int64, p tgtestserver.Peer, what string, cond func([]tgtestserver.StoredMessage) bool) []tgtestserver.StoredMessage {
	t.Helper()
	deadline := time.Now().Add(bridgetest.ReplyTimeout)
	for {
		h := srv.History(userID, p)
		if cond(h) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("Telegram never showed %s; history of %d in %v: %+v", what, userID, p, h)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func tgLastWithText(h []tgtestserver.StoredMessage, text string) *tgtestserver.StoredMessage {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Text == text {
			return &h[i]
		}
	}
	return nil
}

// login runs a bridgev2 command login in the management room, answering each prompt.
func tgLogin(t *testing.T, br *bridgetest.Bridge, cli *mautrix.Client, room id.RoomID, answers ...func() string) string {
	t.Helper()
	ctx := context.Background()
	// The bot sends the step's instructions, then "Please enter your <field>".
	prompt := func(after id.EventID) {
		t.Helper()
		br.WaitForEvent(t, cli, room, after, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == br.Bot && m != nil && strings.HasPrefix(m.Body, "Please enter")
		})
	}
	sent, err := cli.SendText(ctx, room, "login telegram-phone")
	if err != nil {
		t.Fatal(err)
	}
	for i, answer := range answers {
		prompt(sent.EventID)
		if sent, err = cli.SendText(ctx, room, answer()); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	reply := br.WaitForEvent(t, cli, room, sent.EventID, func(evt *event.Event) bool {
		return evt.Sender == br.Bot && evt.Type == event.EventMessage
	})
	return reply.Content.AsMessage().Body
}

func TestTelegram(t *testing.T) {
	srv := startTelegramServer(t)
	me, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33 6 00 00 00 01", FirstName: "Marie", LastName: "Curie", Password: "radium", PasswordHint: "element 88"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000002", FirstName: "Bob", Username: "bobtg"})
	if err != nil {
		t.Fatal(err)
	}
	br := bridgetest.New(t, bridgetest.Options{
		Binary: passerelleBin, Engine: "sqlite3-fk-wal", DisableEncryption: true, Edit: telegramSection(srv),
	})
	alice := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("tg"))
	mgmt := br.OpenManagementRoom(t, alice)
	seen := map[id.RoomID]bool{mgmt: true}
	dmPeer := tgtestserver.UserPeer(me.ID())
	var dmRoom, groupRoom id.RoomID
	var bobGhost id.UserID
	var groupChat int64
	var carol *tgtestserver.Actor

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("PhoneLoginWithPassword", func(t *testing.T) {
		final := tgLogin(t, br, alice, mgmt,
			func() string { return "+33600000001" },
			func() string {
				code, ok := srv.LastCode("33600000001")
				if !ok {
					t.Fatal("the server sent no login code")
				}
				return code
			},
			func() string { return "radium" },
		)
		if !strings.Contains(final, "Logged in to Telegram as Marie Curie") {
			t.Fatalf("login did not finish, got:\n%s", final)
		}
	})

	step("DMFromTelegram", func(t *testing.T) {
		if _, err := bob.SendText(dmPeer, "Hello from Telegram", &tg.MessageEntityBold{Offset: 6, Length: 4}); err != nil {
			t.Fatal(err)
		}
		dmRoom = tgWaitInvite(t, alice, seen)
		evt := br.WaitForEvent(t, alice, dmRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Type == event.EventMessage && m != nil && m.Body == "Hello from Telegram"
		})
		if got := evt.Content.AsMessage().FormattedBody; got != "Hello <strong>from</strong> Telegram" {
			t.Errorf("formatted body = %q", got)
		}
		if !strings.Contains(evt.Sender.String(), "tg."+fmt.Sprint(bob.ID())) {
			t.Errorf("sender %s is not Bob's ghost", evt.Sender)
		}
		bobGhost = evt.Sender
	})

	step("DMToTelegram", func(t *testing.T) {
		ctx := context.Background()
		_, err := alice.SendMessageEvent(ctx, dmRoom, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgText, Body: "**hi** Bob", Format: event.FormatHTML, FormattedBody: "<strong>hi</strong> Bob",
		})
		if err != nil {
			t.Fatal(err)
		}
		h := waitTelegram(t, srv, bob.ID(), tgtestserver.UserPeer(me.ID()), "alice's message", func(h []tgtestserver.StoredMessage) bool {
			return tgLastWithText(h, "hi Bob") != nil
		})
		m := tgLastWithText(h, "hi Bob")
		if m.From != me.ID() || len(m.Entities) != 1 {
			t.Fatalf("message on Telegram: %+v", m)
		}
		if b, ok := m.Entities[0].(*tg.MessageEntityBold); !ok || b.Offset != 0 || b.Length != 2 {
			t.Errorf("entities = %#v, want bold 0..2", m.Entities)
		}
	})

	// internal/pushmute: the bot and the ghosts get no notifications (the homeserver would store
	// one per bridge user per message for nobody to read).
	step("BridgeUsersMuted", func(t *testing.T) {
		ctx := context.Background()
		for _, u := range []id.UserID{br.Bot, bobGhost} {
			cli, err := mautrix.NewClient(br.Homeserver.URL, u, br.Registration.AppToken)
			if err != nil {
				t.Fatal(err)
			}
			cli.SetAppServiceUserID = true
			deadline := time.Now().Add(30 * time.Second)
			for {
				var rule struct {
					Enabled bool `json:"enabled"`
				}
				url := cli.BuildClientURL("v3", "pushrules", "global", "override", ".m.rule.master", "enabled")
				if _, err = cli.MakeRequest(ctx, "GET", url, nil, &rule); err != nil {
					t.Fatalf("master push rule of %s: %v", u, err)
				}
				if rule.Enabled {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the bridge did not mute the push notifications of %s", u)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		notifications := func(u id.UserID) int {
			cli, _ := mautrix.NewClient(br.Homeserver.URL, u, br.Registration.AppToken)
			cli.SetAppServiceUserID = true
			var resp struct {
				Notifications []json.RawMessage `json:"notifications"`
			}
			if _, err := cli.MakeRequest(ctx, "GET", cli.BuildClientURL("v3", "notifications"), nil, &resp); err != nil {
				t.Fatalf("notifications of %s: %v", u, err)
			}
			return len(resp.Notifications)
		}
		before := map[id.UserID]int{br.Bot: notifications(br.Bot), bobGhost: notifications(bobGhost)}
		if _, err := alice.SendText(ctx, dmRoom, "no notification for the ghost"); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, bob.ID(), tgtestserver.UserPeer(me.ID()), "the message", func(h []tgtestserver.StoredMessage) bool {
			return tgLastWithText(h, "no notification for the ghost") != nil
		})
		// Dendrite stores notifications in its own consumer; give it time to (wrongly) do so.
		time.Sleep(time.Second)
		for u, n := range before {
			if got := notifications(u); got != n {
				t.Errorf("%s got %d notifications for alice's message, want none", u, got-n)
			}
		}
	})

	step("ReplyEditDeleteFromTelegram", func(t *testing.T) {
		sent, err := bob.SendText(dmPeer, "to be edited")
		if err != nil {
			t.Fatal(err)
		}
		orig := br.WaitForEvent(t, alice, dmRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.Body == "to be edited"
		})
		bobID := sent.IDFor(bob.ID())
		if err := bob.Edit(dmPeer, bobID, "edited text"); err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, alice, dmRoom, orig.ID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.NewContent != nil && m.NewContent.Body == "edited text" && m.RelatesTo.GetReplaceID() == orig.ID
		})
		if err := bob.React(dmPeer, bobID, "👍"); err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, alice, dmRoom, orig.ID, func(evt *event.Event) bool {
			r := evt.Content.AsReaction()
			return evt.Type == event.EventReaction && r != nil && r.RelatesTo.EventID == orig.ID && strings.HasPrefix(r.RelatesTo.Key, "👍")
		})
		reply, err := bob.Send(dmPeer, tgtestserver.Message{Text: "a reply", ReplyTo: bobID})
		if err != nil {
			t.Fatal(err)
		}
		_ = reply
		br.WaitForEvent(t, alice, dmRoom, orig.ID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.Body == "a reply" && m.RelatesTo.GetReplyTo() == orig.ID
		})
		if err := bob.Delete(dmPeer, bobID); err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, alice, dmRoom, orig.ID, func(evt *event.Event) bool {
			return evt.Type == event.EventRedaction && evt.Redacts == orig.ID
		})
	})

	step("ReplyEditReactDeleteFromMatrix", func(t *testing.T) {
		ctx := context.Background()
		incoming, err := bob.SendText(dmPeer, "react to me")
		if err != nil {
			t.Fatal(err)
		}
		target := br.WaitForEvent(t, alice, dmRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.Body == "react to me"
		})
		if _, err := alice.SendReaction(ctx, dmRoom, target.ID, "❤️"); err != nil {
			t.Fatal(err)
		}
		bobPeer := tgtestserver.UserPeer(me.ID())
		waitTelegram(t, srv, bob.ID(), bobPeer, "alice's reaction", func(h []tgtestserver.StoredMessage) bool {
			for _, m := range h {
				if m.ID == incoming.IDFor(bob.ID()) && m.Reactions[me.ID()] != "" {
					return true
				}
			}
			return false
		})
		content := &event.MessageEventContent{MsgType: event.MsgText, Body: "my reply"}
		content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(target.ID)
		sent, err := alice.SendMessageEvent(ctx, dmRoom, event.EventMessage, content)
		if err != nil {
			t.Fatal(err)
		}
		h := waitTelegram(t, srv, bob.ID(), bobPeer, "alice's reply", func(h []tgtestserver.StoredMessage) bool {
			return tgLastWithText(h, "my reply") != nil
		})
		if m := tgLastWithText(h, "my reply"); m.ReplyTo != incoming.IDFor(bob.ID()) {
			t.Errorf("reply_to = %d, want %d", m.ReplyTo, incoming.IDFor(bob.ID()))
		}
		edit := &event.MessageEventContent{MsgType: event.MsgText, Body: "* my edited reply",
			NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "my edited reply"}}
		edit.RelatesTo = (&event.RelatesTo{}).SetReplace(sent.EventID)
		if _, err := alice.SendMessageEvent(ctx, dmRoom, event.EventMessage, edit); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, bob.ID(), bobPeer, "alice's edit", func(h []tgtestserver.StoredMessage) bool {
			return tgLastWithText(h, "my edited reply") != nil && tgLastWithText(h, "my reply") == nil
		})
	})

	step("GhostProfileAndRedactionFromMatrix", func(t *testing.T) {
		ctx := context.Background()
		bobGhost := id.UserID(fmt.Sprintf("@passerelle_tg.%d:%s", bob.ID(), hstest.ServerName))
		member, err := bridgetest.RoomState(ctx, alice, dmRoom, event.StateMember, bobGhost.String())
		if err != nil || member["displayname"] != "Bob" {
			t.Errorf("Bob's ghost member event %v (%v), want displayname Bob", member, err)
		}
		sent, err := alice.SendText(ctx, dmRoom, "delete me")
		if err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, bob.ID(), dmPeer, "the message to delete", func(h []tgtestserver.StoredMessage) bool {
			return tgLastWithText(h, "delete me") != nil
		})
		// Dendrite does not pass a local user's redaction to the bridge: deliver it as Synapse does.
		redaction := hstest.RedactionEvent(dmRoom, alice.UserID, sent.EventID, "oops")
		if err := hstest.DeliverTransaction(ctx, br.Registration, "", &appservice.Transaction{Events: []*event.Event{redaction}}); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, bob.ID(), dmPeer, "the deletion", func(h []tgtestserver.StoredMessage) bool {
			return tgLastWithText(h, "delete me") == nil
		})
	})

	step("GroupBothWays", func(t *testing.T) {
		var err error
		carol, err = srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000003", FirstName: "Carol"})
		if err != nil {
			t.Fatal(err)
		}
		chatID, err := bob.CreateGroup("Lab team", me.ID(), carol.ID())
		if err != nil {
			t.Fatal(err)
		}
		groupChat = chatID
		if _, err := carol.SendText(tgtestserver.ChatPeer(chatID), "hi team"); err != nil {
			t.Fatal(err)
		}
		room := tgWaitInvite(t, alice, seen)
		groupRoom = room
		br.WaitForEvent(t, alice, room, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.Body == "hi team" && strings.Contains(evt.Sender.String(), fmt.Sprint(carol.ID()))
		})
		name, err := bridgetest.RoomState(context.Background(), alice, room, event.StateRoomName, "")
		if err != nil || name["name"] != "Lab team" {
			t.Errorf("room name = %v, %v; want Lab team", name, err)
		}
		if _, err := alice.SendText(context.Background(), room, "hello group"); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, carol.ID(), tgtestserver.ChatPeer(chatID), "alice's group message", func(h []tgtestserver.StoredMessage) bool {
			m := tgLastWithText(h, "hello group")
			return m != nil && m.From == me.ID()
		})
	})

	step("GroupTitleBothWaysAndMigration", func(t *testing.T) {
		ctx := context.Background()
		if _, err := alice.SendStateEvent(ctx, groupRoom, event.StateRoomName, "", &event.RoomNameEventContent{Name: "Lab team (Matrix)"}); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, carol.ID(), tgtestserver.ChatPeer(groupChat), "the title change", func(h []tgtestserver.StoredMessage) bool {
			for _, m := range h {
				if a, ok := m.Action.(*tg.MessageActionChatEditTitle); ok && a.Title == "Lab team (Matrix)" && m.From == me.ID() {
					return true
				}
			}
			return false
		})
		if err := bob.Rename(tgtestserver.ChatPeer(groupChat), "Lab team (Telegram)"); err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, alice, groupRoom, "", func(evt *event.Event) bool {
			return evt.Type == event.StateRoomName && evt.Content.AsRoomName().Name == "Lab team (Telegram)"
		})
		channelID, err := bob.Migrate(groupChat)
		if err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, alice, groupRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && strings.Contains(m.Body, "upgraded to a supergroup")
		})
		newRoom := tgWaitInvite(t, alice, seen)
		if _, err := carol.SendText(tgtestserver.ChannelPeer(channelID), "in the supergroup now"); err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, alice, newRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.Body == "in the supergroup now"
		})
	})

	step("MediaFromTelegram", func(t *testing.T) {
		pic := tgTestPNG(t)
		if _, err := bob.Send(dmPeer, tgtestserver.Message{Text: "a picture", Photo: pic}); err != nil {
			t.Fatal(err)
		}
		img := br.WaitForEvent(t, alice, dmRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.MsgType == event.MsgImage && m.Body == "a picture"
		})
		if img.Content.AsMessage().URL == "" {
			t.Fatalf("image without URL: %+v", img.Content.Raw)
		}
		voice := []tg.DocumentAttributeClass{&tg.DocumentAttributeAudio{Voice: true, Duration: 3, Waveform: []byte{0xff, 0x00, 0xff, 0x00, 0xff}}}
		if _, err := bob.Send(dmPeer, tgtestserver.Message{Document: []byte("OggS fake voice"), MimeType: "audio/ogg", Attributes: voice}); err != nil {
			t.Fatal(err)
		}
		v := br.WaitForEvent(t, alice, dmRoom, img.ID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.MsgType == event.MsgAudio
		})
		if _, ok := v.Content.Raw["org.matrix.msc3245.voice"]; !ok {
			t.Errorf("voice note lacks the MSC3245 marker: %v", v.Content.Raw)
		}
	})

	step("MediaToTelegram", func(t *testing.T) {
		ctx := context.Background()
		pic := tgTestPNG(t)
		up, err := alice.UploadBytesWithName(ctx, pic, "image/png", "chart.png")
		if err != nil {
			t.Fatal(err)
		}
		_, err = alice.SendMessageEvent(ctx, dmRoom, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgImage, Body: "the chart", FileName: "chart.png", URL: up.ContentURI.CUString(),
			Info: &event.FileInfo{MimeType: "image/png", Size: len(pic)},
		})
		if err != nil {
			t.Fatal(err)
		}
		h := waitTelegram(t, srv, bob.ID(), dmPeer, "alice's picture", func(h []tgtestserver.StoredMessage) bool {
			m := tgLastWithText(h, "the chart")
			return m != nil && m.Media == "photo"
		})
		if m := tgLastWithText(h, "the chart"); len(m.Data) == 0 {
			t.Error("the photo arrived without data")
		}
	})

	step("LocationsContactsAndStickers", func(t *testing.T) {
		ctx := context.Background()
		if _, err := bob.Send(dmPeer, tgtestserver.Message{Location: &tgtestserver.Location{Lat: 48.8584, Long: 2.2945, VenueTitle: "Tour Eiffel", VenueAddress: "Paris"}}); err != nil {
			t.Fatal(err)
		}
		loc := br.WaitForEvent(t, alice, dmRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.MsgType == event.MsgLocation && strings.HasPrefix(m.Body, "Tour Eiffel")
		})
		if geo := loc.Content.AsMessage().GeoURI; geo != "geo:48.858400,2.294500" {
			t.Errorf("geo URI %q", geo)
		}
		if _, err := bob.Send(dmPeer, tgtestserver.Message{Contact: &tgtestserver.Contact{Phone: "33611112222", FirstName: "Ada", LastName: "Lovelace"}}); err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, alice, dmRoom, loc.ID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && strings.Contains(m.Body, "Contact: Ada Lovelace +33611112222")
		})
		if _, err := alice.SendMessageEvent(ctx, dmRoom, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgLocation, Body: "here", GeoURI: "geo:43.6047,1.4442",
		}); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, bob.ID(), dmPeer, "alice's location", func(h []tgtestserver.StoredMessage) bool {
			return len(h) > 0 && h[len(h)-1].Media == "geo"
		})
		pic := tgTestPNG(t)
		up, err := alice.UploadBytesWithName(ctx, pic, "image/png", "sticker.png")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.SendMessageEvent(ctx, dmRoom, event.EventSticker, &event.MessageEventContent{
			Body: "😺", URL: up.ContentURI.CUString(), Info: &event.FileInfo{MimeType: "image/png", Width: 40, Height: 30, Size: len(pic)},
		}); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, bob.ID(), dmPeer, "alice's sticker", func(h []tgtestserver.StoredMessage) bool {
			if len(h) == 0 || h[len(h)-1].Media != "document" {
				return false
			}
			for _, a := range h[len(h)-1].Attributes {
				if st, ok := a.(*tg.DocumentAttributeSticker); ok && st.Alt == "😺" {
					return true
				}
			}
			return false
		})
	})

	step("FloodWaitStillDeliversOnce", func(t *testing.T) {
		if err := srv.InjectFloodWait("messages.sendMessage", 2, 1); err != nil {
			t.Fatal(err)
		}
		sentEvt, err := alice.SendText(context.Background(), dmRoom, "after a flood wait")
		if err != nil {
			t.Fatal(err)
		}
		// The wait shows on the Matrix message as a pending status saying why.
		br.WaitForEvent(t, alice, dmRoom, sentEvt.EventID, func(evt *event.Event) bool {
			if evt.Type != event.BeeperMessageStatus {
				return false
			}
			rel, _ := evt.Content.Raw["m.relates_to"].(map[string]any)
			return rel["event_id"] == sentEvt.EventID.String() && evt.Content.Raw["status"] == "PENDING" &&
				strings.Contains(fmt.Sprint(evt.Content.Raw["message"]), "asked the bridge to wait")
		})
		h := waitTelegram(t, srv, bob.ID(), dmPeer, "the delayed message", func(h []tgtestserver.StoredMessage) bool {
			return tgLastWithText(h, "after a flood wait") != nil
		})
		n := 0
		for _, m := range h {
			if m.Text == "after a flood wait" {
				n++
			}
		}
		if n != 1 || srv.FloodWaitsLeft("messages.sendMessage") != 0 {
			t.Fatalf("delivered %d times (flood waits left %d), want once after the wait", n, srv.FloodWaitsLeft("messages.sendMessage"))
		}
	})

	step("QRLogin", func(t *testing.T) {
		dora, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000004", FirstName: "Dora"})
		if err != nil {
			t.Fatal(err)
		}
		phoneApp := tgAppClient(t, srv, "33600000004", "")
		bea := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("tgqr"))
		room := br.OpenManagementRoom(t, bea)
		sent, err := bea.SendText(context.Background(), room, "login telegram-qr")
		if err != nil {
			t.Fatal(err)
		}
		qr := br.WaitForEvent(t, bea, room, sent.EventID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == br.Bot && m != nil && m.MsgType == event.MsgImage && strings.HasPrefix(m.Body, "tg://login?token=")
		})
		token, err := qrlogin.ParseTokenURL(qr.Content.AsMessage().Body)
		if err != nil {
			t.Fatal(err)
		}
		// Dora scans the code with her phone.
		if _, err := qrlogin.AcceptQR(context.Background(), phoneApp, token); err != nil {
			t.Fatalf("accept QR: %v", err)
		}
		br.WaitForEvent(t, bea, room, qr.ID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == br.Bot && m != nil && strings.Contains(m.Body, "Logged in to Telegram as Dora")
		})
		sessions := func() int {
			auths, err := phoneApp.AccountGetAuthorizations(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return len(auths.Authorizations)
		}
		if n := sessions(); n != 2 {
			t.Fatalf("Dora has %d sessions after the QR login, want 2 (phone and bridge)", n)
		}
		// Logging out in Matrix ends the bridge's Telegram session.
		br.Command(t, bea, room, fmt.Sprintf("logout tg.%d", dora.ID()))
		deadline := time.Now().Add(bridgetest.ReplyTimeout)
		for sessions() != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("Dora still has %d sessions after logout", sessions())
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	step("BotLogin", func(t *testing.T) {
		relay, err := srv.CreateUser(tgtestserver.UserSpec{FirstName: "Relay Bot", Username: "relay_bot", Bot: true})
		if err != nil {
			t.Fatal(err)
		}
		cleo := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("tgbot"))
		room := br.OpenManagementRoom(t, cleo)
		sent, err := cleo.SendText(context.Background(), room, "login telegram-bot")
		if err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, cleo, room, sent.EventID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == br.Bot && m != nil && strings.HasPrefix(m.Body, "Please enter")
		})
		sent, err = cleo.SendText(context.Background(), room, relay.BotToken())
		if err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, cleo, room, sent.EventID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == br.Bot && m != nil && strings.Contains(m.Body, "Logged in to Telegram as Relay Bot")
		})
	})

	step("ReceiptsAndTypingFromMatrix", func(t *testing.T) {
		ctx := context.Background()
		sent, err := bob.SendText(dmPeer, "please read me")
		if err != nil {
			t.Fatal(err)
		}
		evt := br.WaitForEvent(t, alice, dmRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.Body == "please read me"
		})
		// Dendrite does not pass ephemeral events to appservices: deliver them as a homeserver would.
		txn := &appservice.Transaction{EphemeralEvents: []*event.Event{
			hstest.TypingEvent(dmRoom, alice.UserID),
			hstest.ReadReceiptEvent(dmRoom, evt.ID, alice.UserID, time.Now()),
		}}
		if err := hstest.DeliverTransaction(ctx, br.Registration, "", txn); err != nil {
			t.Fatal(err)
		}
		want := sent.IDFor(me.ID())
		deadline := time.Now().Add(bridgetest.ReplyTimeout)
		for srv.ReadInbox(me.ID(), tgtestserver.UserPeer(bob.ID())) < want {
			if time.Now().After(deadline) {
				t.Fatalf("Telegram read position %d, want %d", srv.ReadInbox(me.ID(), tgtestserver.UserPeer(bob.ID())), want)
			}
			time.Sleep(150 * time.Millisecond)
		}
		if srv.ReadOutbox(bob.ID(), dmPeer) < sent.IDFor(bob.ID()) {
			t.Errorf("Bob does not see his message as read")
		}
	})

	step("ReceiptsAndTypingFromTelegram", func(t *testing.T) {
		ctx := context.Background()
		if _, err := alice.SendText(ctx, dmRoom, "did you read this?"); err != nil {
			t.Fatal(err)
		}
		h := waitTelegram(t, srv, bob.ID(), dmPeer, "the question", func(h []tgtestserver.StoredMessage) bool {
			return tgLastWithText(h, "did you read this?") != nil
		})
		if err := bob.Typing(dmPeer, nil); err != nil {
			t.Fatal(err)
		}
		if err := bob.Read(dmPeer, tgLastWithText(h, "did you read this?").ID); err != nil {
			t.Fatal(err)
		}
		var sawTyping, sawReceipt bool
		deadline := time.Now().Add(bridgetest.ReplyTimeout)
		since := ""
		for !(sawTyping && sawReceipt) && time.Now().Before(deadline) {
			resp, err := alice.SyncRequest(ctx, 1000, since, "", false, event.PresenceOnline)
			if err != nil {
				continue
			}
			since = resp.NextBatch
			room := resp.Rooms.Join[dmRoom]
			if room == nil {
				continue
			}
			for _, evt := range room.Ephemeral.Events {
				_ = evt.Content.ParseRaw(evt.Type)
				switch evt.Type {
				case event.EphemeralEventTyping:
					for _, u := range evt.Content.AsTyping().UserIDs {
						sawTyping = sawTyping || strings.Contains(u.String(), fmt.Sprint(bob.ID()))
					}
				case event.EphemeralEventReceipt:
					for _, byType := range *evt.Content.AsReceipt() {
						for u := range byType[event.ReceiptTypeRead] {
							sawReceipt = sawReceipt || strings.Contains(u.String(), fmt.Sprint(bob.ID()))
						}
					}
				}
			}
		}
		if !sawTyping || !sawReceipt {
			t.Fatalf("from Bob's ghost: typing seen=%v, read receipt seen=%v", sawTyping, sawReceipt)
		}
	})

	step("SupergroupChannelAndForum", func(t *testing.T) {
		ctx := context.Background()
		sgID, err := bob.CreateChannel("Research", tgtestserver.Supergroup, me.ID())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.SendText(tgtestserver.ChannelPeer(sgID), "supergroup hello"); err != nil {
			t.Fatal(err)
		}
		sgRoom := tgWaitInvite(t, alice, seen)
		br.WaitForEvent(t, alice, sgRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.Body == "supergroup hello"
		})
		if _, err := alice.SendText(ctx, sgRoom, "supergroup answer"); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, bob.ID(), tgtestserver.ChannelPeer(sgID), "the answer in the supergroup", func(h []tgtestserver.StoredMessage) bool {
			m := tgLastWithText(h, "supergroup answer")
			return m != nil && m.From == me.ID()
		})

		chID, err := bob.CreateChannel("Announcements", tgtestserver.Broadcast, me.ID())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.SendText(tgtestserver.ChannelPeer(chID), "news"); err != nil {
			t.Fatal(err)
		}
		chRoom := tgWaitInvite(t, alice, seen)
		br.WaitForEvent(t, alice, chRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.Body == "news"
		})
		pl, err := bridgetest.RoomState(ctx, alice, chRoom, event.StatePowerLevels, "")
		if err != nil || pl["events_default"] != float64(50) {
			t.Errorf("channel power levels %v (%v): subscribers must not be able to post", pl, err)
		}

		forumID, err := bob.CreateChannel("Projects", tgtestserver.Forum, me.ID())
		if err != nil {
			t.Fatal(err)
		}
		topic, err := bob.CreateTopic(forumID, "Plans")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Send(tgtestserver.ChannelPeer(forumID), tgtestserver.Message{Text: "in the topic", TopicID: topic}); err != nil {
			t.Fatal(err)
		}
		var topicRoom id.RoomID
		for topicRoom == "" {
			r := tgWaitInvite(t, alice, seen)
			if _, err := bridgetest.WaitForEvent(ctx, alice, r, "", func(evt *event.Event) bool {
				m := evt.Content.AsMessage()
				return m != nil && m.Body == "in the topic"
			}); err == nil {
				topicRoom = r
			}
		}
		name, _ := bridgetest.RoomState(ctx, alice, topicRoom, event.StateRoomName, "")
		if name["name"] != "Projects / Plans" {
			t.Errorf("topic room name = %v, want Projects / Plans", name["name"])
		}
		if _, err := alice.SendText(ctx, topicRoom, "topic answer"); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, bob.ID(), tgtestserver.ChannelPeer(forumID), "the answer in the topic", func(h []tgtestserver.StoredMessage) bool {
			m := tgLastWithText(h, "topic answer")
			return m != nil && m.TopicID == topic
		})
	})

	step("BackfillWhenPortalIsCreated", func(t *testing.T) {
		eve, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000005", FirstName: "Eve"})
		if err != nil {
			t.Fatal(err)
		}
		evePeer := tgtestserver.UserPeer(eve.ID())
		for _, text := range []string{"old 1", "old 2", "old 3"} {
			if _, err := bob.SendText(evePeer, text); err != nil {
				t.Fatal(err)
			}
		}
		erin := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("tgeve"))
		room := br.OpenManagementRoom(t, erin)
		erinSeen := map[id.RoomID]bool{room: true}
		final := tgLogin(t, br, erin, room,
			func() string { return "+33600000005" },
			func() string { code, _ := srv.LastCode("33600000005"); return code },
		)
		if !strings.Contains(final, "Logged in to Telegram as Eve") {
			t.Fatalf("login: %s", final)
		}
		if _, err := bob.SendText(evePeer, "new 4"); err != nil {
			t.Fatal(err)
		}
		portalRoom := tgWaitInvite(t, erin, erinSeen)
		br.WaitForEvent(t, erin, portalRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.Body == "new 4"
		})
		resp, err := erin.Messages(context.Background(), portalRoom, "", "", mautrix.DirectionBackward, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for i := len(resp.Chunk) - 1; i >= 0; i-- {
			evt := resp.Chunk[i]
			_ = evt.Content.ParseRaw(evt.Type)
			if m := evt.Content.AsMessage(); evt.Type == event.EventMessage && m != nil && m.Body != "" {
				bodies = append(bodies, m.Body)
			}
		}
		if want := []string{"old 1", "old 2", "old 3", "new 4"}; !slices.Equal(bodies, want) {
			t.Fatalf("portal timeline %q, want %q (backfilled once, in order)", bodies, want)
		}
	})

	step("PollsBothWays", func(t *testing.T) {
		ctx := context.Background()
		if _, err := bob.Send(dmPeer, tgtestserver.Message{Poll: &tgtestserver.Poll{Question: "Lunch?", Answers: []string{"Pizza", "Salad"}}}); err != nil {
			t.Fatal(err)
		}
		pollEvt := br.WaitForEvent(t, alice, dmRoom, "", func(evt *event.Event) bool {
			return evt.Type == event.EventUnstablePollStart && strings.Contains(fmt.Sprint(evt.Content.Raw["body"]), "Lunch?")
		})
		start, _ := pollEvt.Content.Raw["org.matrix.msc3381.poll.start"].(map[string]any)
		answers, _ := start["answers"].([]any)
		if len(answers) != 2 {
			t.Fatalf("poll start content: %v", pollEvt.Content.Raw)
		}
		salad, _ := answers[1].(map[string]any)["id"].(string)
		vote := map[string]any{
			"m.relates_to":                     map[string]any{"rel_type": "m.reference", "event_id": pollEvt.ID},
			"org.matrix.msc3381.poll.response": map[string]any{"answers": []string{salad}},
		}
		if _, err := alice.SendMessageEvent(ctx, dmRoom, event.EventUnstablePollResponse, vote); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, me.ID(), tgtestserver.UserPeer(bob.ID()), "alice's vote", func(h []tgtestserver.StoredMessage) bool {
			for _, m := range h {
				if p, ok := m.MediaObject.(*tg.MessageMediaPoll); ok && p.Poll.Question.Text == "Lunch?" {
					for _, r := range p.Results.Results {
						if r.Chosen && string(r.Option) == salad {
							return true
						}
					}
				}
			}
			return false
		})
		mine := map[string]any{
			"body": "Where?\n1. Here\n2. There",
			"org.matrix.msc3381.poll.start": map[string]any{
				"kind": "org.matrix.msc3381.poll.disclosed", "max_selections": 1,
				"question": map[string]any{"org.matrix.msc1767.text": "Where?"},
				"answers": []any{
					map[string]any{"id": "here", "org.matrix.msc1767.text": "Here"},
					map[string]any{"id": "there", "org.matrix.msc1767.text": "There"},
				},
			},
		}
		if _, err := alice.SendMessageEvent(ctx, dmRoom, event.EventUnstablePollStart, mine); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, bob.ID(), dmPeer, "alice's poll", func(h []tgtestserver.StoredMessage) bool {
			for _, m := range h {
				if p, ok := m.MediaObject.(*tg.MessageMediaPoll); ok && p.Poll.Question.Text == "Where?" && len(p.Poll.Answers) == 2 {
					return true
				}
			}
			return false
		})
	})

	step("CatchUpAfterRestart", func(t *testing.T) {
		if err := br.Stop(); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.SendText(dmPeer, "sent while the bridge was down"); err != nil {
			t.Fatal(err)
		}
		if err := br.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, alice, dmRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.Body == "sent while the bridge was down"
		})
	})

	step("RevokedSessionIsBadCredentials", func(t *testing.T) {
		before := br.WaitForEvent(t, alice, mgmt, "", func(evt *event.Event) bool { return true })
		_ = before
		if n := srv.RevokeSessions(me.ID()); n == 0 {
			t.Fatal("no session to revoke")
		}
		// The next request on the revoked key fails with AUTH_KEY_UNREGISTERED.
		if _, err := bob.SendText(dmPeer, "after revoke"); err != nil {
			t.Fatal(err)
		}
		notice := br.WaitForEvent(t, alice, mgmt, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == br.Bot && m != nil && strings.Contains(m.Body, "Telegram ended this session")
		})
		if !slices.Contains([]event.MessageType{event.MsgNotice, event.MsgText}, notice.Content.AsMessage().MsgType) {
			t.Errorf("notice msgtype %s", notice.Content.AsMessage().MsgType)
		}
	})
}
