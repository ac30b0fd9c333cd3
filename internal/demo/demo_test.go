package demo

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// syncBuffer collects what the demo prints (login codes, contacts' answers).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDemoWalkthrough does what the demo's instructions tell a person to do, with an encrypting
// Matrix client as that person: log in to Telegram and WhatsApp through the bot and talk to the
// simulated contacts, who answer through the real bridge.
func TestDemoWalkthrough(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out := &syncBuffer{}
	d, err := Start(ctx, Options{Dir: t.TempDir(), Out: out, SkipUser: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo output:\n%s\nbridge log tail:\n%s", out.String(), d.Bridge.LogTail(60))
		}
		if err := d.Close(); err != nil {
			t.Errorf("close demo: %v", err)
		}
	})
	if !strings.Contains(d.Instructions(), d.HS.URL) || !strings.Contains(d.Instructions(), d.Password) {
		t.Fatalf("instructions lack the homeserver or password:\n%s", d.Instructions())
	}

	u := d.HS.NewCryptoUser(t, "demo")
	invites := make(chan id.RoomID, 16)
	u.Syncer.(mautrix.ExtensibleSyncer).OnEventType(event.StateMember, func(ctx context.Context, evt *event.Event) {
		if evt.GetStateKey() == u.UserID.String() && evt.Content.AsMember().Membership == event.MembershipInvite {
			go func() {
				if _, err := u.JoinRoomByID(context.Background(), evt.RoomID); err == nil {
					invites <- evt.RoomID
				}
			}()
		}
	})

	resp, err := u.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{d.Bridge.Bot},
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mgmt := resp.RoomID
	if err = u.WaitForEncryption(ctx, mgmt); err != nil {
		t.Fatal(err)
	}
	// The bot's welcome: it has joined, so the first encrypted command is shared with it.
	if _, err = u.WaitForEvent(ctx, mgmt, "", func(evt *event.Event) bool {
		return evt.Sender == d.Bridge.Bot && (evt.Type == event.EventMessage || evt.Type == event.EventEncrypted)
	}); err != nil {
		t.Fatal(err)
	}
	fromBot := func(after id.EventID, want func(body string) bool) string {
		t.Helper()
		evt, err := u.WaitForEvent(ctx, mgmt, after, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == d.Bridge.Bot && evt.Type == event.EventMessage && m != nil && want(m.Body)
		})
		if err != nil {
			t.Fatal(err)
		}
		return evt.Content.AsMessage().Body
	}
	say := func(text string) id.EventID {
		t.Helper()
		sent, err := u.SendText(ctx, mgmt, text)
		if err != nil {
			t.Fatalf("send %q: %v", text, err)
		}
		return sent.EventID
	}
	prompt := func(body string) bool { return strings.HasPrefix(body, "Please enter") }
	talk := func(room id.RoomID, text, answerPrefix string) {
		t.Helper()
		if err := u.WaitForEncryption(ctx, room); err != nil {
			t.Fatal(err)
		}
		sent, err := u.SendText(ctx, room, text)
		if err != nil {
			t.Fatal(err)
		}
		if _, err = u.WaitForEvent(ctx, room, sent.EventID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Type == event.EventMessage && m != nil && strings.HasPrefix(m.Body, answerPrefix) && strings.Contains(m.Body, text)
		}); err != nil {
			t.Fatal(err)
		}
	}
	roomLink := regexp.MustCompile(`matrix\.to/#/(![^)\s?]+)`)

	t.Run("Telegram", func(t *testing.T) {
		fromBot(say("login telegram-phone"), prompt)
		fromBot(say(TelegramYou), prompt)
		code, ok := d.Telegram.LastCode(strings.TrimPrefix(TelegramYou, "+"))
		if !ok || !strings.Contains(out.String(), code) {
			t.Fatalf("login code %q not printed:\n%s", code, out.String())
		}
		fromBot(say(code), func(b string) bool { return strings.Contains(b, "Logged in") })
		reply := fromBot(say("start-chat "+TelegramDominique), func(b string) bool { return strings.Contains(b, "chat with") })
		m := roomLink.FindStringSubmatch(reply)
		if m == nil {
			t.Fatalf("start-chat reply has no room link: %s", reply)
		}
		room := id.RoomID(m[1])
		if _, err := u.JoinRoomByID(ctx, room); err != nil {
			t.Fatal(err)
		}
		talk(room, "Bonjour Dominique", "Dominique ici")
		checkBridgeInfo(t, u.Client, room, "telegram")
	})

	t.Run("WhatsApp", func(t *testing.T) {
		fromBot(say("login whatsapp-phone"), prompt)
		after := say("+" + WhatsAppYou)
		code := fromBot(after, func(b string) bool { return pairingCodeRe.MatchString(strings.Trim(b, " `")) })
		if _, err := d.PhoneInput(ctx, strings.Trim(code, " `")); err != nil {
			t.Fatal(err)
		}
		fromBot(after, func(b string) bool {
			return strings.Contains(b, "Logged in") || strings.Contains(b, "Successfully logged in")
		})
		// Zoé greets the user once the phone linked Passerelle: her chat appears by itself.
		var zoeRoom id.RoomID
		var rooms []id.RoomID
		deadline := time.Now().Add(2 * time.Minute)
		for zoeRoom == "" {
			if time.Now().After(deadline) {
				t.Fatalf("Zoé's greeting never arrived in a new room (invited to %v)", rooms)
			}
			select {
			case room := <-invites:
				rooms = append(rooms, room)
			case <-time.After(500 * time.Millisecond):
			}
			for _, room := range rooms {
				for _, evt := range u.Timeline(room) {
					if m := evt.Content.AsMessage(); evt.Type == event.EventMessage && m != nil && strings.HasPrefix(m.Body, "Coucou Camille") {
						zoeRoom = room
					}
				}
			}
		}
		talk(zoeRoom, "Oui, je te reçois", "Zoé ici")
		checkBridgeInfo(t, u.Client, zoeRoom, "whatsapp")
	})

	// With a login on each network, a phone number is tried on WhatsApp first, then Telegram.
	t.Run("StartChatOrder", func(t *testing.T) {
		reply := fromBot(say("start-chat +"+WhatsAppZoe), func(b string) bool { return strings.Contains(b, "chat with") })
		if !strings.Contains(reply, "WhatsApp chat") {
			t.Errorf("Zoé is on both networks; start-chat should pick WhatsApp, got: %s", reply)
		}
		reply = fromBot(say("start-chat "+TelegramSacha), func(b string) bool { return strings.Contains(b, "chat with") })
		if !strings.Contains(reply, "Telegram chat") {
			t.Errorf("Sacha is only on Telegram; start-chat should fall through to Telegram, got: %s", reply)
		}
		if m := roomLink.FindStringSubmatch(reply); m != nil {
			if _, err := u.JoinRoomByID(ctx, id.RoomID(m[1])); err == nil {
				checkBridgeInfo(t, u.Client, id.RoomID(m[1]), "telegram")
			}
		}
	})
}

// checkBridgeInfo asserts that the room's m.bridge state names the network of its portal.
func checkBridgeInfo(t *testing.T, cli *mautrix.Client, room id.RoomID, network string) {
	t.Helper()
	state, err := cli.State(context.Background(), room)
	if err != nil {
		t.Fatalf("room state of %s: %v", room, err)
	}
	found := false
	for _, evt := range state[event.StateBridge] {
		info, ok := evt.Content.Parsed.(*event.BridgeEventContent)
		if !ok {
			continue
		}
		found = true
		if info.Protocol.ID != network || info.Protocol.AvatarURL == "" {
			t.Errorf("m.bridge in %s names protocol %+v, want %s with an icon", room, info.Protocol, network)
		}
	}
	if !found {
		t.Errorf("no m.bridge state in %s", room)
	}
}
