package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotd/td/telegram/auth/qrlogin"
	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// TestTelegramFeatures runs the Telegram features that TestTelegram does not cover through the
// real bridge binary, one homeserver and one Telegram test server: link previews, live
// locations, group settings and kicks, reactions outside a chat's allowed set, QR login with a
// 2FA password and catch-up of edits and deletions made while the bridge was down.
func TestTelegramFeatures(t *testing.T) {
	srv := startTelegramServer(t)
	me, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33700000001", FirstName: "Irène", LastName: "Joliot"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33700000002", FirstName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	br := bridgetest.New(t, bridgetest.Options{
		Binary: passerelleBin, Engine: "sqlite3-fk-wal", DisableEncryption: true, Edit: telegramSection(srv),
	})
	alice := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("tgf"))
	mgmt := br.OpenManagementRoom(t, alice)
	seen := map[id.RoomID]bool{mgmt: true}
	dmPeer := tgtestserver.UserPeer(me.ID())
	var dmRoom id.RoomID

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	textIs := func(body string) func(*event.Event) bool {
		return func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Type == event.EventMessage && m != nil && m.Body == body
		}
	}

	step("Login", func(t *testing.T) {
		final := tgLogin(t, br, alice, mgmt,
			func() string { return "+33700000001" },
			func() string { code, _ := srv.LastCode("33700000001"); return code },
		)
		if !strings.Contains(final, "Logged in to Telegram as Irène Joliot") {
			t.Fatalf("login: %s", final)
		}
		if _, err := bob.SendText(dmPeer, "hello Irène"); err != nil {
			t.Fatal(err)
		}
		dmRoom = tgWaitInvite(t, alice, seen)
		br.WaitForEvent(t, alice, dmRoom, "", textIs("hello Irène"))
	})

	step("LinkPreviews", func(t *testing.T) {
		ctx := context.Background()
		story := "https://news.example.org/story"
		other := "https://blog.example.net/post"
		if err := srv.AddWebPage(tgtestserver.WebPage{URL: story, SiteName: "Example News", Title: "A story", Description: "What happened today", Photo: tgTestPNG(t)}); err != nil {
			t.Fatal(err)
		}
		if err := srv.AddWebPage(tgtestserver.WebPage{URL: other, SiteName: "Blog", Title: "A post"}); err != nil {
			t.Fatal(err)
		}
		text := "read " + story + " please"
		if _, err := bob.SendText(dmPeer, text, &tg.MessageEntityURL{Offset: 5, Length: len(story)}); err != nil {
			t.Fatal(err)
		}
		evt := br.WaitForEvent(t, alice, dmRoom, "", textIs(text))
		previews, _ := evt.Content.Raw["com.beeper.linkpreviews"].([]any)
		if len(previews) != 1 {
			t.Fatalf("link previews %v in %v", previews, evt.Content.Raw)
		}
		p, _ := previews[0].(map[string]any)
		for k, want := range map[string]string{"og:title": "A story", "og:description": "What happened today", "og:site_name": "Example News", "og:url": story, "matched_url": story, "og:image:type": "image/jpeg"} {
			if p[k] != want {
				t.Errorf("preview %s = %v, want %q", k, p[k], want)
			}
		}
		img, _ := p["og:image"].(string)
		mxc := id.ContentURIString(img).ParseOrIgnore()
		if !mxc.IsValid() {
			t.Fatalf("preview image %q is not an mxc URI", img)
		}
		if data, err := alice.DownloadBytes(ctx, mxc); err != nil || len(data) == 0 || fmt.Sprint(p["matrix:image:size"]) != fmt.Sprint(len(data)) {
			t.Errorf("preview image: %d bytes (%v), size field %v", len(data), err, p["matrix:image:size"])
		}

		// Matrix → Telegram: a plain link gets Telegram's own preview…
		if _, err := alice.SendText(ctx, dmRoom, "see "+story); err != nil {
			t.Fatal(err)
		}
		// …and a bundled preview picks the link previewed, not Telegram's default (the first).
		both := "first " + story + " then " + other
		if _, err := alice.SendMessageEvent(ctx, dmRoom, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgText, Body: both,
			BeeperLinkPreviews: []*event.BeeperLinkPreview{{LinkPreview: event.LinkPreview{CanonicalURL: other, Title: "A post"}, MatchedURL: other}},
		}); err != nil {
			t.Fatal(err)
		}
		pageOf := func(m *tgtestserver.StoredMessage) string {
			if m == nil || m.Media != "webpage" {
				return ""
			}
			wp, _ := m.MediaObject.(*tg.MessageMediaWebPage).Webpage.(*tg.WebPage)
			if wp == nil {
				return ""
			}
			return wp.URL
		}
		waitTelegram(t, srv, bob.ID(), tgtestserver.UserPeer(me.ID()), "both links with their previews", func(h []tgtestserver.StoredMessage) bool {
			return pageOf(tgLastWithText(h, "see "+story)) == story && pageOf(tgLastWithText(h, both)) == other
		})
	})

	step("LiveLocation", func(t *testing.T) {
		sent, err := bob.Send(dmPeer, tgtestserver.Message{Location: &tgtestserver.Location{Lat: 48.85, Long: 2.35, LivePeriod: 900}})
		if err != nil {
			t.Fatal(err)
		}
		orig := br.WaitForEvent(t, alice, dmRoom, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.MsgType == event.MsgLocation && m.GeoURI == "geo:48.850000,2.350000" && strings.HasPrefix(m.Body, "Live location, shared for 15 min")
		})
		editOf := func(what string, match func(*event.MessageEventContent) bool) *event.Event {
			t.Helper()
			return br.WaitForEvent(t, alice, dmRoom, orig.ID, func(evt *event.Event) bool {
				m := evt.Content.AsMessage()
				return m != nil && m.NewContent != nil && m.RelatesTo.GetReplaceID() == orig.ID && match(m.NewContent)
			})
		}
		if err := bob.UpdateLiveLocation(dmPeer, sent.ID, 48.8606, 2.3376); err != nil {
			t.Fatal(err)
		}
		moved := editOf("the moved location", func(c *event.MessageEventContent) bool {
			return c.MsgType == event.MsgLocation && c.GeoURI == "geo:48.860600,2.337600" && strings.HasPrefix(c.Body, "Live location, shared")
		})
		if err := bob.StopLiveLocation(dmPeer, sent.ID); err != nil {
			t.Fatal(err)
		}
		ended := editOf("the end of the live location", func(c *event.MessageEventContent) bool {
			return c.MsgType == event.MsgLocation && c.GeoURI == "geo:48.860600,2.337600" && strings.HasPrefix(c.Body, "Live location ended")
		})
		if ended.ID == moved.ID {
			t.Fatal("the stop was not bridged as its own edit")
		}
	})

	step("GroupSettingsKickAndReactions", func(t *testing.T) {
		ctx := context.Background()
		meActor, err := srv.Actor(me.ID())
		if err != nil {
			t.Fatal(err)
		}
		carol, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33700000003", FirstName: "Carol"})
		if err != nil {
			t.Fatal(err)
		}
		pic := tgTestPNG(t)
		up, err := alice.UploadBytesWithName(ctx, pic, "image/png", "avatar.png")
		if err != nil {
			t.Fatal(err)
		}
		waitChat := func(p tgtestserver.Peer, what string, cond func(tgtestserver.ChatInfo) bool) {
			t.Helper()
			deadline := time.Now().Add(bridgetest.ReplyTimeout)
			for {
				info, _ := srv.Chat(p)
				if cond(info) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("Telegram never showed %s: %+v", what, info)
				}
				time.Sleep(150 * time.Millisecond)
			}
		}
		// Topic and avatar of a basic group and of a supergroup, both created by the user.
		groupID, err := meActor.CreateGroup("Settings group", bob.ID(), carol.ID())
		if err != nil {
			t.Fatal(err)
		}
		superID, err := meActor.CreateChannel("Settings supergroup", tgtestserver.Supergroup, bob.ID(), carol.ID())
		if err != nil {
			t.Fatal(err)
		}
		// Both portals may be created (and invite) in either order: each is told by its message.
		rooms := map[tgtestserver.Peer]id.RoomID{}
		texts := map[string]tgtestserver.Peer{}
		for _, p := range []tgtestserver.Peer{tgtestserver.ChatPeer(groupID), tgtestserver.ChannelPeer(superID)} {
			text := fmt.Sprintf("hello %d", p.ID)
			if _, err := carol.SendText(p, text); err != nil {
				t.Fatal(err)
			}
			texts[text] = p
		}
		for text, room := range tgWaitPortals(t, alice, seen, slices.Collect(maps.Keys(texts))) {
			rooms[texts[text]] = room
		}
		for p, room := range rooms {
			topic := fmt.Sprintf("topic from Matrix for %d", p.ID)
			if _, err := alice.SendStateEvent(ctx, room, event.StateTopic, "", &event.TopicEventContent{Topic: topic}); err != nil {
				t.Fatal(err)
			}
			waitChat(p, "the topic as the about text", func(c tgtestserver.ChatInfo) bool { return c.About == topic })
			if _, err := alice.SendStateEvent(ctx, room, event.StateRoomAvatar, "", &event.RoomAvatarEventContent{URL: up.ContentURI.CUString()}); err != nil {
				t.Fatal(err)
			}
			waitChat(p, "the room avatar as the chat photo", func(c tgtestserver.ChatInfo) bool { return c.PhotoID != 0 })
			waitTelegram(t, srv, carol.ID(), p, "the photo change from the user", func(h []tgtestserver.StoredMessage) bool {
				for _, m := range h {
					if _, ok := m.Action.(*tg.MessageActionChatEditPhoto); ok && m.From == me.ID() {
						return true
					}
				}
				return false
			})
		}

		// A Matrix kick in the supergroup removes Carol on Telegram (channels.editBanned).
		superPeer := tgtestserver.ChannelPeer(superID)
		carolGhost := id.UserID(fmt.Sprintf("@passerelle_tg.%d:%s", carol.ID(), hstest.ServerName))
		if _, err := alice.KickUser(ctx, rooms[superPeer], &mautrix.ReqKickUser{UserID: carolGhost, Reason: "off topic"}); err != nil {
			t.Fatal(err)
		}
		waitChat(superPeer, "Carol removed", func(c tgtestserver.ChatInfo) bool {
			return !slices.Contains(c.Members, carol.ID()) && slices.Contains(c.Banned, carol.ID())
		})

		// A reaction the supergroup does not allow fails with a clear, permanent status.
		if err := meActor.SetAllowedReactions(superPeer, []string{"👍"}); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.SendText(superPeer, "react to this"); err != nil {
			t.Fatal(err)
		}
		target := br.WaitForEvent(t, alice, rooms[superPeer], "", textIs("react to this"))
		reaction, err := alice.SendReaction(ctx, rooms[superPeer], target.ID, "😂")
		if err != nil {
			t.Fatal(err)
		}
		st := br.WaitForEvent(t, alice, rooms[superPeer], reaction.EventID, func(evt *event.Event) bool {
			rel, _ := evt.Content.Raw["m.relates_to"].(map[string]any)
			return evt.Type == event.BeeperMessageStatus && rel["event_id"] == reaction.EventID.String()
		})
		if st.Content.Raw["status"] != string(event.MessageStatusFail) || !strings.Contains(fmt.Sprint(st.Content.Raw["message"]), "not allowed in this Telegram chat") {
			t.Fatalf("status of the refused reaction: %v", st.Content.Raw)
		}
		// An allowed one goes through.
		if _, err := alice.SendReaction(ctx, rooms[superPeer], target.ID, "👍"); err != nil {
			t.Fatal(err)
		}
		waitTelegram(t, srv, bob.ID(), superPeer, "the allowed reaction", func(h []tgtestserver.StoredMessage) bool {
			m := tgLastWithText(h, "react to this")
			return m != nil && m.Reactions[me.ID()] == "👍"
		})
	})

	step("QRLoginThenPassword", func(t *testing.T) {
		ctx := context.Background()
		fanny, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33700000004", FirstName: "Fanny", Password: "polonium", PasswordHint: "element 84"})
		if err != nil {
			t.Fatal(err)
		}
		phoneApp := tgAppClient(t, srv, "33700000004", "polonium")
		user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("tgqr2fa"))
		room := br.OpenManagementRoom(t, user)
		sent, err := user.SendText(ctx, room, "login telegram-qr")
		if err != nil {
			t.Fatal(err)
		}
		qr := br.WaitForEvent(t, user, room, sent.EventID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == br.Bot && m != nil && m.MsgType == event.MsgImage && strings.HasPrefix(m.Body, "tg://login?token=")
		})
		token, err := qrlogin.ParseTokenURL(qr.Content.AsMessage().Body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := qrlogin.AcceptQR(ctx, phoneApp, token); err != nil {
			t.Fatalf("accept QR: %v", err)
		}
		// The scan is not enough: the account has two-step verification.
		instructions := br.WaitForEvent(t, user, room, qr.ID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == br.Bot && m != nil && strings.Contains(m.Body, "two-step verification")
		})
		if !strings.Contains(instructions.Content.AsMessage().Body, "element 84") {
			t.Errorf("password step without the hint: %q", instructions.Content.AsMessage().Body)
		}
		prompt := func(after id.EventID) {
			br.WaitForEvent(t, user, room, after, func(evt *event.Event) bool {
				m := evt.Content.AsMessage()
				return evt.Sender == br.Bot && m != nil && strings.HasPrefix(m.Body, "Please enter")
			})
		}
		prompt(qr.ID)
		// A wrong password asks again instead of ending the login.
		wrong, err := user.SendText(ctx, room, "radium")
		if err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, user, room, wrong.EventID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == br.Bot && m != nil && strings.Contains(m.Body, "Wrong cloud password, try again")
		})
		prompt(wrong.EventID)
		right, err := user.SendText(ctx, room, "polonium")
		if err != nil {
			t.Fatal(err)
		}
		br.WaitForEvent(t, user, room, right.EventID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == br.Bot && m != nil && strings.Contains(m.Body, "Logged in to Telegram as Fanny")
		})
		// The bridge's session is a real one of Fanny's account, beside her phone.
		auths, err := phoneApp.AccountGetAuthorizations(ctx)
		if err != nil || len(auths.Authorizations) != 2 {
			t.Fatalf("Fanny's sessions after the QR login: %v (%v), want phone and bridge", auths, err)
		}
		if _, err := srv.Actor(fanny.ID()); err != nil {
			t.Fatal(err)
		}
	})

	step("CatchUpEditsAndDeletesMadeWhileDown", func(t *testing.T) {
		ctx := context.Background()
		kept, err := bob.SendText(dmPeer, "bridged before the restart")
		if err != nil {
			t.Fatal(err)
		}
		gone, err := bob.SendText(dmPeer, "deleted while the bridge is down")
		if err != nil {
			t.Fatal(err)
		}
		keptEvt := br.WaitForEvent(t, alice, dmRoom, "", textIs("bridged before the restart"))
		goneEvt := br.WaitForEvent(t, alice, dmRoom, "", textIs("deleted while the bridge is down"))
		if err := br.Stop(); err != nil {
			t.Fatal(err)
		}
		// While the bridge is down Bob sends a message, then edits and deletes what it bridged,
		// and sends messages he then edits or deletes: getDifference returns the new messages
		// apart from the edits and deletions, whose pts follow the first new message.
		fresh, err := bob.SendText(dmPeer, "sent while down")
		if err != nil {
			t.Fatal(err)
		}
		if err := bob.Edit(dmPeer, kept.ID, "edited while the bridge was down"); err != nil {
			t.Fatal(err)
		}
		if err := bob.Delete(dmPeer, gone.ID); err != nil {
			t.Fatal(err)
		}
		if err := bob.Edit(dmPeer, fresh.ID, "sent and edited while down"); err != nil {
			t.Fatal(err)
		}
		regretted, err := bob.SendText(dmPeer, "sent and deleted while down")
		if err != nil {
			t.Fatal(err)
		}
		if err := bob.Delete(dmPeer, regretted.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.SendText(dmPeer, "last while down"); err != nil {
			t.Fatal(err)
		}
		if err := br.Start(ctx); err != nil {
			t.Fatal(err)
		}
		last := br.WaitForEvent(t, alice, dmRoom, keptEvt.ID, textIs("last while down"))
		br.WaitForEvent(t, alice, dmRoom, keptEvt.ID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && m.NewContent != nil && m.RelatesTo.GetReplaceID() == keptEvt.ID && m.NewContent.Body == "edited while the bridge was down"
		})
		br.WaitForEvent(t, alice, dmRoom, goneEvt.ID, func(evt *event.Event) bool {
			return evt.Type == event.EventRedaction && evt.Redacts == goneEvt.ID
		})
		// The messages sent while down show as they ended: the edited one with its last text
		// (as such or through an edit), the deleted one not at all (or redacted).
		resp, err := alice.Messages(ctx, dmRoom, "", "", mautrix.DirectionBackward, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		shown := map[string]id.EventID{}
		redacted := map[id.EventID]bool{}
		edited := map[id.EventID]string{}
		for _, evt := range resp.Chunk {
			_ = evt.Content.ParseRaw(evt.Type)
			if evt.Type == event.EventRedaction {
				redacted[evt.Redacts] = true
				continue
			}
			if evt.Unsigned.RedactedBecause != nil {
				redacted[evt.ID] = true
			}
			m := evt.Content.AsMessage()
			if m == nil {
				continue
			}
			if m.NewContent != nil {
				edited[m.RelatesTo.GetReplaceID()] = m.NewContent.Body
				continue
			}
			shown[m.Body] = evt.ID
		}
		freshText := ""
		if evtID, ok := shown["sent and edited while down"]; ok {
			freshText = "sent and edited while down"
			_ = evtID
		} else if evtID, ok := shown["sent while down"]; ok {
			freshText = edited[evtID]
		}
		if freshText != "sent and edited while down" {
			t.Errorf("the message sent and edited while down shows %q; timeline bodies %v", freshText, shown)
		}
		if evtID, ok := shown["sent and deleted while down"]; ok && !redacted[evtID] {
			t.Errorf("the message deleted while down is still shown (%s)", evtID)
		}
		_ = last
	})
}
