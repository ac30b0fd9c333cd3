package whatsapp

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/util/variationselector"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// dmFixture is Alice (logged in through the bridge) and Bob's phone, with numbers of their own.
type dmFixture struct {
	*harness
	login    *bridgev2.UserLogin
	bob      *watestserver.Phone
	alice    types.JID
	bobJID   types.JID
	bobGhost id.UserID
}

func newDM(t *testing.T, db *dbutil.Database) *dmFixture {
	h := newHarness(t, db)
	f := &dmFixture{harness: h}
	alicePhone, bobPhone := nextPhone(), nextPhone()
	f.login = h.loginQR(h.user("@alice:test"), alicePhone)
	var err error
	f.bob, err = h.srv.NewPhone(h.ctx, bobPhone, watestserver.PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.bob.Close)
	f.alice = types.NewJID(alicePhone, types.DefaultUserServer)
	f.bobJID = types.NewJID(bobPhone, types.DefaultUserServer)
	f.bobGhost = h.mx.FormatGhostMXID(portal.WAUserID(f.bobJID))
	return f
}

// bobSends sends a message from Bob's phone to Alice and returns its ID.
func (f *dmFixture) bobSends(msg *waE2E.Message) types.MessageID {
	f.t.Helper()
	resp, err := f.bob.Client.SendMessage(f.ctx, f.alice, msg)
	if err != nil {
		f.t.Fatalf("Bob sends: %v", err)
	}
	return resp.ID
}

// bobReceives waits for a message on Bob's phone, from event index from on.
func (f *dmFixture) bobReceives(from int, what string, match func(*events.Message) bool) *events.Message {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
	defer cancel()
	evt, _, err := watestserver.WaitFor(ctx, f.bob.Events, from, match)
	if err != nil {
		f.t.Fatalf("Bob never received %s: %v", what, err)
	}
	return evt
}

// aliceSendsToBob bridges a text from Alice's Matrix account to Bob's phone (after one message
// from Bob, which makes the portal) and returns it as Bob's phone got it.
func (f *dmFixture) aliceSendsToBob(body string) *events.Message {
	f.t.Helper()
	f.bobSends(&waE2E.Message{Conversation: proto.String("hi")})
	f.mx.waitEvent(f.t, 0, "Bob's message", func(e sentEvent) bool { return e.Sender == f.bobGhost && e.Type == event.EventMessage })
	room := f.portalRoom(f.login, f.bobJID)
	from := len(f.bob.Events.Events())
	f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: body})
	return f.bobReceives(from, "the message", func(m *events.Message) bool { return m.Message.GetConversation() == body })
}

// bobAsksAgain makes Bob's phone send a retry receipt for msg, as when it cannot decrypt it.
func (f *dmFixture) bobAsksAgain(msg *events.Message) {
	node := &waBinary.Node{Tag: "message", Attrs: waBinary.Attrs{
		"id": msg.Info.ID, "from": msg.Info.Sender, "t": msg.Info.Timestamp.Unix(),
	}}
	info := msg.Info
	f.bob.Client.DangerousInternals().SendRetryReceipt(f.ctx, node, &info, false)
}

func relatesTo(e sentEvent) *event.RelatesTo {
	var raw struct {
		RelatesTo *event.RelatesTo `json:"m.relates_to"`
	}
	_ = json.Unmarshal(e.Content.VeryRaw, &raw)
	return raw.RelatesTo
}

func TestDMRemoteToMatrix(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		fromBob := func(e sentEvent) bool { return e.Sender == f.bobGhost }

		firstID := f.bobSends(&waE2E.Message{Conversation: proto.String("first")})
		first, next := f.mx.waitEvent(t, 0, "first message", func(e sentEvent) bool {
			return fromBob(e) && e.Type == event.EventMessage && e.Message().Body == "first"
		})

		// Reply.
		f.bobSends(&waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("a reply"),
			ContextInfo: &waE2E.ContextInfo{
				StanzaID:      proto.String(firstID),
				Participant:   proto.String(f.bobJID.String()),
				QuotedMessage: &waE2E.Message{Conversation: proto.String("first")},
			},
		}})
		reply, next := f.mx.waitEvent(t, next, "reply", func(e sentEvent) bool {
			return fromBob(e) && e.Type == event.EventMessage && e.Message().Body == "a reply"
		})
		if rel := relatesTo(reply); rel == nil || rel.InReplyTo == nil || rel.InReplyTo.EventID != first.EventID {
			t.Errorf("reply relates to %+v, want in_reply_to %s", rel, first.EventID)
		}

		// Edit.
		f.bobSends(f.bob.Client.BuildEdit(f.alice, firstID, &waE2E.Message{Conversation: proto.String("first, edited")}))
		edit, next := f.mx.waitEvent(t, next, "edit", func(e sentEvent) bool {
			rel := relatesTo(e)
			return fromBob(e) && rel != nil && rel.Type == event.RelReplace
		})
		if rel := relatesTo(edit); rel.EventID != first.EventID {
			t.Errorf("edit replaces %s, want %s", rel.EventID, first.EventID)
		}
		if nc := edit.Message().NewContent; nc == nil || nc.Body != "first, edited" {
			t.Errorf("edit new content = %+v", nc)
		}

		// Reaction, then its removal.
		f.bobSends(f.bob.Client.BuildReaction(f.alice, f.bobJID, firstID, "👍"))
		reaction, next := f.mx.waitEvent(t, next, "reaction", func(e sentEvent) bool {
			return fromBob(e) && e.Type == event.EventReaction
		})
		if rel := relatesTo(reaction); rel == nil || variationselector.Remove(rel.Key) != "👍" || rel.EventID != first.EventID {
			t.Errorf("reaction = %+v, want 👍 on %s", rel, first.EventID)
		}
		f.bobSends(f.bob.Client.BuildReaction(f.alice, f.bobJID, firstID, ""))
		_, next = f.mx.waitEvent(t, next, "reaction removal", func(e sentEvent) bool {
			return fromBob(e) && e.Type == event.EventRedaction && e.Content.AsRedaction().Redacts == reaction.EventID
		})

		// Revoke.
		f.bobSends(f.bob.Client.BuildRevoke(f.alice, f.bobJID, firstID))
		f.mx.waitEvent(t, next, "revoke", func(e sentEvent) bool {
			_ = e.Content.ParseRaw(e.Type)
			return fromBob(e) && e.Type == event.EventRedaction && e.Content.AsRedaction().Redacts == first.EventID
		})
	})
}

func TestDMMatrixToRemote(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		bobMsgID := f.bobSends(&waE2E.Message{Conversation: proto.String("hello alice")})
		bobMsg, _ := f.mx.waitEvent(t, 0, "Bob's message", func(e sentEvent) bool { return e.Sender == f.bobGhost && e.Type == event.EventMessage })
		room := f.portalRoom(f.login, f.bobJID)

		// Reply from Matrix quotes Bob's message.
		from := len(f.bob.Events.Events())
		mine := f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgText, Body: "replying",
			RelatesTo: &event.RelatesTo{InReplyTo: &event.InReplyTo{EventID: bobMsg.EventID}},
		})
		got := f.bobReceives(from, "the reply", func(m *events.Message) bool { return m.Message.GetExtendedTextMessage().GetText() == "replying" })
		ci := got.Message.GetExtendedTextMessage().GetContextInfo()
		if ci.GetStanzaID() != bobMsgID || ci.GetParticipant() != f.bobJID.String() {
			t.Errorf("reply quotes %s by %s, want %s by %s", ci.GetStanzaID(), ci.GetParticipant(), bobMsgID, f.bobJID)
		}
		myID := got.Info.ID

		// Edit of our message.
		from = len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgText, Body: "* replying (edited)",
			NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "replying (edited)"},
			RelatesTo:  &event.RelatesTo{Type: event.RelReplace, EventID: mine},
		})
		edit := f.bobReceives(from, "the edit", func(m *events.Message) bool {
			return m.Message.GetProtocolMessage().GetType() == waE2E.ProtocolMessage_MESSAGE_EDIT
		})
		pm := edit.Message.GetProtocolMessage()
		if pm.GetKey().GetID() != myID || pm.GetEditedMessage().GetConversation() != "replying (edited)" {
			t.Errorf("edit = %v", pm)
		}

		// Reaction on Bob's message.
		from = len(f.bob.Events.Events())
		reactionEvt := f.matrixEvent("@alice:test", room, event.EventReaction, &event.ReactionEventContent{
			RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: bobMsg.EventID, Key: "❤️"},
		})
		react := f.bobReceives(from, "the reaction", func(m *events.Message) bool { return m.Message.GetReactionMessage() != nil })
		if r := react.Message.GetReactionMessage(); r.GetText() != "❤️" || r.GetKey().GetID() != bobMsgID {
			t.Errorf("reaction = %v", r)
		}

		// Removing the reaction sends an empty reaction.
		from = len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventRedaction, &event.RedactionEventContent{Redacts: reactionEvt})
		unreact := f.bobReceives(from, "the reaction removal", func(m *events.Message) bool { return m.Message.GetReactionMessage() != nil })
		if r := unreact.Message.GetReactionMessage(); r.GetText() != "" {
			t.Errorf("reaction removal = %v", r)
		}

		// Redaction of our message revokes it.
		from = len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventRedaction, &event.RedactionEventContent{Redacts: mine})
		revoke := f.bobReceives(from, "the revoke", func(m *events.Message) bool {
			return m.Message.GetProtocolMessage().GetType() == waE2E.ProtocolMessage_REVOKE
		})
		if revoke.Message.GetProtocolMessage().GetKey().GetID() != myID {
			t.Errorf("revoke targets %s, want %s", revoke.Message.GetProtocolMessage().GetKey().GetID(), myID)
		}

		// Edits after WhatsApp's window fail with a clear status.
		old := f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "old"})
		if _, err := f.db.Exec(f.ctx, "UPDATE message SET timestamp=$1 WHERE mxid=$2", time.Now().Add(-time.Hour).UnixNano(), old); err != nil {
			t.Fatal(err)
		}
		f.matrixEventAllowFail("@alice:test", room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgText, Body: "* too late",
			NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "too late"},
			RelatesTo:  &event.RelatesTo{Type: event.RelReplace, EventID: old},
		})
		f.mx.waitStatus(t, func(st bridgev2.MessageStatus) bool {
			return st.Status != event.MessageStatusSuccess && st.InternalError != nil && strings.Contains(st.InternalError.Error(), "too old")
		})
	})
}

func TestReceiptsAndTyping(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		f.bobSends(&waE2E.Message{Conversation: proto.String("ping")})
		bobMsg, next := f.mx.waitEvent(t, 0, "Bob's message", func(e sentEvent) bool { return e.Sender == f.bobGhost && e.Type == event.EventMessage })
		room := f.portalRoom(f.login, f.bobJID)

		// Alice's message, read by Bob on his phone → read receipt by Bob's ghost.
		from := len(f.bob.Events.Events())
		mine := f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "pong"})
		got := f.bobReceives(from, "pong", func(m *events.Message) bool { return m.Message.GetConversation() == "pong" })
		if err := f.bob.Client.MarkRead(f.ctx, []types.MessageID{got.Info.ID}, time.Now(), f.alice, types.EmptyJID); err != nil {
			t.Fatal(err)
		}
		_, next = f.mx.waitEvent(t, next, "Bob's read receipt", func(e sentEvent) bool {
			return e.Sender == f.bobGhost && e.Type == event.EphemeralEventReceipt && string(e.Content.VeryRaw) == `{"event_id":"`+string(mine)+`"}`
		})

		// Typing on the phone shows as typing in Matrix.
		if err := f.bob.Client.SendChatPresence(f.ctx, f.alice, types.ChatPresenceComposing, types.ChatPresenceMediaText); err != nil {
			t.Fatal(err)
		}
		f.mx.waitEvent(t, next, "Bob typing", func(e sentEvent) bool {
			return e.Sender == f.bobGhost && e.Type == event.EphemeralEventTyping && string(e.Content.VeryRaw) != `{"timeout":0}`
		})

		// Alice reads Bob's message in Matrix → Bob's phone gets a read receipt.
		from = len(f.bob.Events.Events())
		rr := &event.Event{Type: event.EphemeralEventReceipt, RoomID: room, Content: event.Content{Parsed: &event.ReceiptEventContent{
			bobMsg.EventID: {event.ReceiptTypeRead: {"@alice:test": {Timestamp: time.Now()}}},
		}}}
		rr.Mautrix.EventSource = event.SourceEphemeral
		f.br.QueueMatrixEvent(f.ctx, rr)
		ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
		defer cancel()
		receipt, _, err := watestserver.WaitFor(ctx, f.bob.Events, from, func(r *events.Receipt) bool { return r.Type == types.ReceiptTypeRead })
		if err != nil {
			t.Fatalf("Bob got no read receipt: %v", err)
		}
		if len(receipt.MessageIDs) != 1 {
			t.Errorf("receipt IDs = %v", receipt.MessageIDs)
		}

		// Alice typing in Matrix → Bob sees composing.
		from = len(f.bob.Events.Events())
		typing := &event.Event{Type: event.EphemeralEventTyping, RoomID: room, Content: event.Content{Parsed: &event.TypingEventContent{UserIDs: []id.UserID{"@alice:test"}}}}
		typing.Mautrix.EventSource = event.SourceEphemeral
		f.br.QueueMatrixEvent(f.ctx, typing)
		if _, _, err = watestserver.WaitFor(ctx, f.bob.Events, from, func(p *events.ChatPresence) bool { return p.State == types.ChatPresenceComposing }); err != nil {
			t.Fatalf("Bob never saw Alice typing: %v", err)
		}
	})
}
