package whatsapp

import (
	"strings"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/util/jsontime"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestDisappearingTimerFromMatrix: a change of the room's disappearing timer reaches the contact's
// phone as WhatsApp's setting message, later Matrix messages carry the expiration, a timer WhatsApp
// does not offer is refused without reaching the phone, and switching it off reaches the phone too;
// in a group, the group's timer changes on the server.
func TestDisappearingTimerFromMatrix(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		f.bobSends(&waE2E.Message{Conversation: proto.String("hello")})
		f.mx.waitEvent(t, 0, "Bob's message", func(e sentEvent) bool { return e.Sender == f.bobGhost && e.Type == event.EventMessage })
		room := f.portalRoom(f.login, f.bobJID)
		week := 7 * 24 * time.Hour
		setting := func(m *events.Message) bool {
			return m.Message.GetProtocolMessage().GetType() == waE2E.ProtocolMessage_EPHEMERAL_SETTING
		}

		from := len(f.bob.Events.Events())
		f.matrixStateChange("@alice:test", room, event.StateBeeperDisappearingTimer,
			&event.BeeperDisappearingTimer{Type: event.DisappearingTypeAfterSend, Timer: jsontime.MS(week)}, &event.BeeperDisappearingTimer{})
		got := f.bobReceives(from, "the timer setting", setting)
		if exp := got.Message.GetProtocolMessage().GetEphemeralExpiration(); exp != uint32(week/time.Second) {
			t.Fatalf("Bob's phone got a timer of %d s, want %d", exp, uint32(week/time.Second))
		}
		p, err := f.br.GetExistingPortalByKey(f.ctx, f.login.Client.(*Client).portalKey(f.bobJID))
		if err != nil || p.Disappear.Timer != week {
			t.Fatalf("portal timer = %+v (%v), want %s", p.Disappear, err, week)
		}

		from = len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "this will vanish"})
		msg := f.bobReceives(from, "the message", func(m *events.Message) bool {
			return m.Message.GetExtendedTextMessage().GetText() == "this will vanish"
		})
		if exp := msg.Message.GetExtendedTextMessage().GetContextInfo().GetExpiration(); exp != uint32(week/time.Second) {
			t.Errorf("message expiration = %d s, want %d", exp, uint32(week/time.Second))
		}

		// One hour is not a WhatsApp timer: refused, nothing sent.
		from = len(f.bob.Events.Events())
		f.matrixEventAllowFail("@alice:test", room, event.StateBeeperDisappearingTimer,
			&event.BeeperDisappearingTimer{Type: event.DisappearingTypeAfterSend, Timer: jsontime.MS(time.Hour)})
		f.mx.waitStatus(t, func(st bridgev2.MessageStatus) bool {
			// bridgev2 refuses it against the room's capability (ErrDisappearingTimerUnsupported).
			return st.Status != event.MessageStatusSuccess && st.InternalError != nil && strings.Contains(st.InternalError.Error(), "invalid disappearing timer")
		})

		f.matrixStateChange("@alice:test", room, event.StateBeeperDisappearingTimer,
			&event.BeeperDisappearingTimer{Type: event.DisappearingTypeNone}, &event.BeeperDisappearingTimer{Type: event.DisappearingTypeAfterSend, Timer: jsontime.MS(week)})
		off := f.bobReceives(from, "the timer switched off", setting)
		if exp := off.Message.GetProtocolMessage().GetEphemeralExpiration(); exp != 0 {
			t.Errorf("after the refused change and switching off, Bob's phone got %d s, want 0 (the 1 h change must not reach it)", exp)
		}

		// A group: the group's own setting changes.
		group, err := f.srv.CreateGroup(f.ctx, f.bobJID.User, "Vanishing", f.alice.User)
		if err != nil {
			t.Fatal(err)
		}
		groupRoom := f.waitPortalRoom(f.login, group)
		day := 24 * time.Hour
		f.matrixStateChange("@alice:test", groupRoom, event.StateBeeperDisappearingTimer,
			&event.BeeperDisappearingTimer{Type: event.DisappearingTypeAfterSend, Timer: jsontime.MS(day)}, &event.BeeperDisappearingTimer{})
		info, err := f.bob.Client.GetGroupInfo(f.ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		if info.DisappearingTimer != uint32(day/time.Second) {
			t.Errorf("group timer on WhatsApp = %d s, want %d", info.DisappearingTimer, uint32(day/time.Second))
		}
	})
}

// waitPortalRoom waits until the room of a chat exists (it is created from a remote event).
func (h *harness) waitPortalRoom(login *bridgev2.UserLogin, chat types.JID) id.RoomID {
	h.t.Helper()
	key := login.Client.(*Client).portalKey(chat)
	var room id.RoomID
	waitFor(h.t, "the room of "+chat.String(), func() bool {
		if p, err := h.br.GetExistingPortalByKey(h.ctx, key); err == nil && p != nil {
			room = p.MXID
		}
		return room != ""
	})
	return room
}
