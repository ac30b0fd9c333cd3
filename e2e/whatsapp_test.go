package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
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
	linkWhatsAppQR(t, ctx, br, srv, alice, alicePhone)

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

	testWhatsAppDMFeatures(t, ctx, br, srv, alice, room, bob, aliceJID)
	testWhatsAppGroup(t, ctx, br, srv, alice, bob, alicePhone)
}

// testWhatsAppGroup: a group Bob creates with Alice becomes a room Alice is invited to; messages
// go both ways.
func testWhatsAppGroup(t *testing.T, ctx context.Context, br *bridgetest.Bridge, srv *watestserver.Server,
	alice *mautrix.Client, bob *watestserver.Phone, alicePhone string) {
	group, err := srv.CreateGroup(ctx, bob.JID.User, "Projet Passerelle", alicePhone)
	if err != nil {
		t.Fatal(err)
	}
	room := waitInvite(t, ctx, alice)
	if _, err = alice.JoinRoomByID(ctx, room); err != nil {
		t.Fatalf("join group room: %v", err)
	}
	name, err := bridgetest.RoomState(ctx, alice, room, event.StateRoomName, "")
	if err != nil || name["name"] != "Projet Passerelle" {
		t.Errorf("group room name = %v (%v)", name, err)
	}
	if _, err = bob.SendText(ctx, group, "bienvenue"); err != nil {
		t.Fatal(err)
	}
	br.WaitForEvent(t, alice, room, "", func(evt *event.Event) bool {
		return evt.Type == event.EventMessage && evt.Content.AsMessage().Body == "bienvenue"
	})
	from := len(bob.Events.Events())
	if _, err = alice.SendText(ctx, room, "merci"); err != nil {
		t.Fatal(err)
	}
	got := waitPhone(t, ctx, bob, from, "merci")
	if got.Info.Chat != group {
		t.Errorf("Alice's answer arrived in %s, want the group %s", got.Info.Chat, group)
	}
}

// testWhatsAppDMFeatures: replies, edits, reactions, revokes, receipts and media, both ways,
// through Dendrite.
func testWhatsAppDMFeatures(t *testing.T, ctx context.Context, br *bridgetest.Bridge, srv *watestserver.Server,
	alice *mautrix.Client, room id.RoomID, bob *watestserver.Phone, aliceJID types.JID) {
	bobJID := bob.JID.ToNonAD()
	// Bob writes, then edits, reacts to and finally revokes his message.
	sent, err := bob.SendText(ctx, aliceJID, "typo mesage")
	if err != nil {
		t.Fatal(err)
	}
	orig := br.WaitForEvent(t, alice, room, "", func(evt *event.Event) bool {
		return evt.Type == event.EventMessage && evt.Content.AsMessage().Body == "typo mesage"
	})
	if _, err = bob.Client.SendMessage(ctx, aliceJID, bob.Client.BuildEdit(aliceJID, sent.ID, &waE2E.Message{Conversation: proto.String("typo message")})); err != nil {
		t.Fatal(err)
	}
	br.WaitForEvent(t, alice, room, orig.ID, func(evt *event.Event) bool {
		rel := evt.Content.AsMessage().RelatesTo
		return evt.Type == event.EventMessage && rel != nil && rel.Type == event.RelReplace && rel.EventID == orig.ID &&
			evt.Content.AsMessage().NewContent != nil && evt.Content.AsMessage().NewContent.Body == "typo message"
	})
	if _, err = bob.Client.SendMessage(ctx, aliceJID, bob.Client.BuildReaction(aliceJID, bobJID, sent.ID, "😂")); err != nil {
		t.Fatal(err)
	}
	br.WaitForEvent(t, alice, room, orig.ID, func(evt *event.Event) bool {
		if evt.Type != event.EventReaction {
			return false
		}
		rel := evt.Content.AsReaction().RelatesTo
		return rel.EventID == orig.ID && strings.HasPrefix(rel.Key, "😂")
	})

	// Bob replies to Alice's message.
	from := len(bob.Events.Events())
	mine, err := alice.SendText(ctx, room, "answer this")
	if err != nil {
		t.Fatal(err)
	}
	got := waitPhone(t, ctx, bob, from, "answer this")
	if _, err = bob.Client.SendMessage(ctx, aliceJID, &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text: proto.String("answered"),
		ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String(got.Info.ID), Participant: proto.String(aliceJID.String()),
			QuotedMessage: &waE2E.Message{Conversation: proto.String("answer this")}},
	}}); err != nil {
		t.Fatal(err)
	}
	br.WaitForEvent(t, alice, room, mine.EventID, func(evt *event.Event) bool {
		msg := evt.Content.AsMessage()
		return evt.Type == event.EventMessage && msg.Body == "answered" && msg.RelatesTo != nil && msg.RelatesTo.GetReplyTo() == mine.EventID
	})

	// Bob reads Alice's message: his ghost's read receipt reaches Alice's client.
	if err = bob.Client.MarkRead(ctx, []types.MessageID{got.Info.ID}, time.Now(), aliceJID, types.EmptyJID); err != nil {
		t.Fatal(err)
	}
	waitReceipt(t, ctx, alice, room, mine.EventID)

	// Alice reads Bob's message (delivered as the homeserver would push the receipt EDU).
	from = len(bob.Events.Events())
	if err = hstest.DeliverTransaction(ctx, br.Registration, "", &appservice.Transaction{
		EphemeralEvents: []*event.Event{hstest.ReadReceiptEvent(room, orig.ID, alice.UserID, time.Now())},
	}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, bridgetest.ReplyTimeout)
	defer cancel()
	if _, _, err = watestserver.WaitFor(rctx, bob.Events, from, func(r *events.Receipt) bool {
		return r.Type == types.ReceiptTypeRead && len(r.MessageIDs) > 0 && r.MessageIDs[0] == sent.ID
	}); err != nil {
		t.Fatalf("Bob's phone never got Alice's read receipt: %v", err)
	}

	// Alice reacts to, edits and deletes from Matrix.
	from = len(bob.Events.Events())
	if _, err = alice.SendReaction(ctx, room, orig.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	waitPhoneMsg(t, ctx, bob, from, "Alice's reaction", func(m *events.Message) bool {
		r := m.Message.GetReactionMessage()
		return r != nil && r.GetKey().GetID() == sent.ID && strings.HasPrefix(r.GetText(), "👍")
	})
	from = len(bob.Events.Events())
	if _, err = alice.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "* answer that",
		NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "answer that"},
		RelatesTo:  &event.RelatesTo{Type: event.RelReplace, EventID: mine.EventID},
	}); err != nil {
		t.Fatal(err)
	}
	waitPhoneMsg(t, ctx, bob, from, "Alice's edit", func(m *events.Message) bool {
		pm := m.Message.GetProtocolMessage()
		return pm.GetType() == waE2E.ProtocolMessage_MESSAGE_EDIT && pm.GetKey().GetID() == got.Info.ID &&
			pm.GetEditedMessage().GetConversation() == "answer that"
	})
	from = len(bob.Events.Events())
	if err = hstest.DeliverTransaction(ctx, br.Registration, "", &appservice.Transaction{
		Events: []*event.Event{hstest.RedactionEvent(room, alice.UserID, mine.EventID, "")},
	}); err != nil {
		t.Fatal(err)
	}
	waitPhoneMsg(t, ctx, bob, from, "Alice's deletion", func(m *events.Message) bool {
		pm := m.Message.GetProtocolMessage()
		return pm.GetType() == waE2E.ProtocolMessage_REVOKE && pm.GetKey().GetID() == got.Info.ID
	})

	// Bob deletes his message for everyone.
	if _, err = bob.Client.SendMessage(ctx, aliceJID, bob.Client.BuildRevoke(aliceJID, bobJID, sent.ID)); err != nil {
		t.Fatal(err)
	}
	br.WaitForEvent(t, alice, room, orig.ID, func(evt *event.Event) bool {
		return evt.Type == event.EventRedaction && (evt.Redacts == orig.ID || evt.Content.AsRedaction().Redacts == orig.ID)
	})

	// Media both ways, byte for byte.
	img := make([]byte, 20_000)
	for i := range img {
		img[i] = byte(i * 7)
	}
	up, err := bob.Client.Upload(ctx, img, whatsmeow.MediaImage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = bob.Client.SendMessage(ctx, aliceJID, &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
		URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
		FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: proto.String("image/jpeg"), Caption: proto.String("photo"),
	}}); err != nil {
		t.Fatal(err)
	}
	imgEvt := br.WaitForEvent(t, alice, room, orig.ID, func(evt *event.Event) bool {
		return evt.Type == event.EventMessage && evt.Content.AsMessage().MsgType == event.MsgImage
	})
	data, err := alice.DownloadBytes(ctx, imgEvt.Content.AsMessage().URL.ParseOrIgnore())
	if err != nil {
		t.Fatalf("download the bridged image: %v", err)
	}
	if !bytes.Equal(data, img) || imgEvt.Content.AsMessage().Body != "photo" {
		t.Errorf("bridged image: %d bytes (want %d), caption %q", len(data), len(img), imgEvt.Content.AsMessage().Body)
	}
	mxc, err := alice.UploadBytes(ctx, img, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	from = len(bob.Events.Events())
	if _, err = alice.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgImage, Body: "back.png", URL: mxc.ContentURI.CUString(), Info: &event.FileInfo{MimeType: "image/png", Size: len(img)},
	}); err != nil {
		t.Fatal(err)
	}
	imgMsg := waitPhoneMsg(t, ctx, bob, from, "Alice's image", func(m *events.Message) bool { return m.Message.GetImageMessage() != nil })
	back, err := bob.Client.Download(ctx, imgMsg.Message.GetImageMessage())
	if err != nil || !bytes.Equal(back, img) {
		t.Errorf("Bob's download of Alice's image: %d bytes, %v", len(back), err)
	}
	_ = srv
}

// waitReceipt waits until the room's read receipts show someone other than cli at eventID.
func waitReceipt(t *testing.T, ctx context.Context, cli *mautrix.Client, room id.RoomID, eventID id.EventID) {
	t.Helper()
	deadline := time.Now().Add(bridgetest.ReplyTimeout)
	since := ""
	for time.Now().Before(deadline) {
		resp, err := cli.SyncRequest(ctx, 2000, since, "", false, event.PresenceOffline)
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		since = resp.NextBatch
		for _, evt := range resp.Rooms.Join[room].Ephemeral.Events {
			if evt.Type != event.EphemeralEventReceipt {
				continue
			}
			_ = evt.Content.ParseRaw(evt.Type)
			for target, receipts := range *evt.Content.AsReceipt() {
				for user := range receipts[event.ReceiptTypeRead] {
					if target == eventID && user != cli.UserID {
						return
					}
				}
			}
		}
	}
	t.Fatalf("no read receipt on %s", eventID)
}

// waitInvite waits until the user is invited to a portal room (not a space, such as the
// bridge's per-login space) and returns it.
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
		for roomID, invite := range resp.Rooms.Invite {
			isSpace := false
			for _, evt := range invite.State.Events {
				_ = evt.Content.ParseRaw(evt.Type)
				switch evt.Type {
				case event.StateCreate:
					isSpace = isSpace || evt.Content.AsCreate().Type == event.RoomTypeSpace
				case event.StateRoomName:
					// The per-login space is named "Passerelle (<account>)", in case the
					// homeserver leaves m.room.create out of the invite state.
					isSpace = isSpace || strings.HasPrefix(evt.Content.AsRoomName().Name, "Passerelle (")
				}
			}
			if !isSpace {
				return roomID
			}
		}
	}
	t.Fatalf("%s was never invited to a portal room", cli.UserID)
	return ""
}

// waitPhone waits until the phone receives a text message.
func waitPhone(t *testing.T, ctx context.Context, phone *watestserver.Phone, from int, text string) *events.Message {
	t.Helper()
	return waitPhoneMsg(t, ctx, phone, from, fmt.Sprintf("%q", text), func(m *events.Message) bool {
		return m.Message.GetConversation() == text || m.Message.GetExtendedTextMessage().GetText() == text
	})
}

// waitPhoneMsg waits until the phone receives a message that matches.
func waitPhoneMsg(t *testing.T, ctx context.Context, phone *watestserver.Phone, from int, what string, match func(*events.Message) bool) *events.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, bridgetest.ReplyTimeout)
	defer cancel()
	msg, _, err := watestserver.WaitFor(ctx, phone.Events, from, match)
	if err != nil {
		t.Fatalf("%s never received %s: %v", phone.JID, what, err)
	}
	return msg
}
