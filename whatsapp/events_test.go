package whatsapp

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2/status"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// TestConnectionStates: WhatsApp's refusals become bridge states with a message for the user.
func TestConnectionStates(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		tests := []struct {
			evt  any
			want status.BridgeStateEvent
			code status.BridgeStateErrorCode
			text string
		}{
			{&events.ClientOutdated{}, status.StateBadCredentials, StateClientOutdated, "update Passerelle"},
			{&events.TemporaryBan{Code: events.TempBanBlockedByUsers, Expire: time.Hour}, status.StateBadCredentials, StateTemporaryBan, "too many people blocked you"},
			{&events.KeepAliveTimeout{ErrorCount: 3}, status.StateTransientDisconnect, StateKeepaliveFailed, "reconnecting"},
		}
		for _, tt := range tests {
			// whatsmeow dispatches these from its connection code; deliver them the same way.
			if !c.handleEvent(tt.evt) {
				t.Errorf("%T not acknowledged", tt.evt)
			}
			st := f.mx.waitState(t, f.login.ID, tt.want, tt.code)
			if !strings.Contains(st.Message, tt.text) {
				t.Errorf("%T: state message %q does not say %q", tt.evt, st.Message, tt.text)
			}
		}
	})
}

// TestPlaceholderReplaced: a message that cannot be decrypted yet shows a "waiting" notice, which
// the message replaces (as an edit, in place) once WhatsApp delivers it decryptable.
func TestPlaceholderReplaced(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		info := types.MessageInfo{
			MessageSource: types.MessageSource{Chat: f.bobJID, Sender: f.bobJID.ToNonAD()},
			ID:            "3EB0PLACEHOLDER", Timestamp: time.Now(), Type: "text",
		}
		if !c.handleEvent(&events.UndecryptableMessage{Info: info}) {
			t.Fatal("placeholder not handed to bridgev2")
		}
		notice, next := f.mx.waitEvent(t, 0, "the waiting notice", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == PlaceholderText
		})
		if !c.handleEvent(&events.Message{Info: info, Message: &waE2E.Message{Conversation: proto.String("finally")}}) {
			t.Fatal("decrypted message not handed to bridgev2")
		}
		edit, _ := f.mx.waitEvent(t, next, "the replacement", func(e sentEvent) bool {
			rel := relatesTo(e)
			return rel != nil && rel.Type == event.RelReplace
		})
		if rel := relatesTo(edit); rel.EventID != notice.EventID || edit.Message().NewContent.Body != "finally" {
			t.Errorf("replacement = %+v / %q", rel, edit.Message().NewContent.Body)
		}
		// A plain duplicate of a real message is ignored.
		before := f.mx.eventCount()
		c.handleEvent(&events.Message{Info: info, Message: &waE2E.Message{Conversation: proto.String("finally")}})
		time.Sleep(200 * time.Millisecond)
		if f.mx.eventCount() != before {
			t.Error("a duplicate message was bridged again")
		}
	})
}

// TestCallNotice: an incoming call shows as a notice in the chat.
func TestCallNotice(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		c.handleEvent(&events.CallOffer{BasicCallMeta: types.BasicCallMeta{
			From: f.bobJID, Timestamp: time.Now(), CallCreator: f.bobJID, CallID: "CALL1",
		}})
		got, _ := f.mx.waitEvent(t, 0, "the call notice", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().MsgType == event.MsgNotice
		})
		if got.Sender != f.bobGhost || !strings.Contains(got.Message().Body, "call") {
			t.Errorf("call notice %q from %s", got.Message().Body, got.Sender)
		}
	})
}

// TestRetryReceiptAfterRestart: when a contact cannot decrypt a message and asks for it again
// after the bridge restarted (whatsmeow's in-memory copy is gone), the bridge re-sends it from
// the device store.
func TestRetryReceiptAfterRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		first := f.aliceSendsToBob("keep this")

		f.restart()
		f.mx.waitState(t, f.login.ID, status.StateConnected, "")

		from := len(f.bob.Events.Events())
		f.bobAsksAgain(first)
		ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
		defer cancel()
		again, _, err := watestserver.WaitFor(ctx, f.bob.Events, from, func(m *events.Message) bool { return m.Info.ID == first.Info.ID })
		if err != nil {
			t.Fatalf("the bridge did not answer the retry receipt after a restart: %v", err)
		}
		if again.Message.GetConversation() != "keep this" {
			t.Errorf("re-sent message = %v", again.Message)
		}
	})
}

// TestUndecryptableResentThroughRetry: the real path of a message the bridge cannot decrypt.
// The bridge loses its Signal session with Bob's phone (as after a broken restore), so Bob's
// next message, encrypted for the old session, cannot be decrypted: the room shows the waiting
// notice, whatsmeow sends a retry receipt through the server, Bob's phone re-encrypts and resends,
// and the message replaces the notice in place.
func TestUndecryptableResentThroughRetry(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		f.bobSends(&waE2E.Message{Conversation: proto.String("before")})
		_, next := f.mx.waitEvent(t, 0, "Bob's first message", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "before"
		})
		bobLID, err := f.srv.AccountLID(f.bobJID.User)
		if err != nil {
			t.Fatal(err)
		}
		for _, jid := range []types.JID{f.bobJID, bobLID} {
			if err = c.WA.Store.Sessions.DeleteAllSessions(f.ctx, jid.SignalAddressUser()); err != nil {
				t.Fatal(err)
			}
		}
		id := f.bobSends(&waE2E.Message{Conversation: proto.String("after the lost session")})
		notice, next := f.mx.waitEvent(t, next, "the waiting notice", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == PlaceholderText
		})
		if notice.Sender != f.bobGhost {
			t.Errorf("notice from %s, want Bob's ghost", notice.Sender)
		}
		edit, _ := f.mx.waitEvent(t, next, "the resent message replacing the notice", func(e sentEvent) bool {
			rel := relatesTo(e)
			return rel != nil && rel.Type == event.RelReplace
		})
		if rel := relatesTo(edit); rel.EventID != notice.EventID || edit.Message().NewContent.Body != "after the lost session" {
			t.Errorf("replacement = %+v / %q", rel, edit.Message().NewContent.Body)
		}
		// The database row is updated after the edit reaches Matrix.
		waitFor(t, "the message row to lose its undecryptable mark", func() bool {
			msg, err := f.br.DB.Message.GetFirstPartByID(f.ctx, f.login.ID, portal.WAMessageID(f.bobJID, f.bobJID, id))
			if err != nil || msg == nil || msg.MXID != notice.EventID {
				t.Fatalf("message %s in the database: %+v (%v), want the notice's event", id, msg, err)
			}
			meta := msg.Metadata.(*portal.MessageMeta)
			return meta.WA != nil && !meta.WA.Undecryptable
		})
		// The retry went through the server: Bob's phone got the bridge's retry receipt.
		if _, _, err = watestserver.WaitFor(f.ctx, f.bob.Events, 0, func(r *events.Receipt) bool {
			return r.Type == types.ReceiptTypeRetry && len(r.MessageIDs) > 0 && r.MessageIDs[0] == id
		}); err != nil {
			t.Errorf("Bob's phone never saw a retry receipt: %v", err)
		}
	})
}

// TestCallNoticeFromServer: a call offered through the server (not injected) shows as a notice.
func TestCallNoticeFromServer(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		callID, err := f.srv.OfferCall(f.bobJID.User, f.alice.User, false)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := f.mx.waitEvent(t, 0, "the call notice", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().MsgType == event.MsgNotice && strings.Contains(e.Message().Body, "call")
		})
		if got.Sender != f.bobGhost {
			t.Errorf("call notice from %s, want Bob's ghost", got.Sender)
		}
		waitFor(t, "the call recorded as a message", func() bool {
			msg, err := f.br.DB.Message.GetFirstPartByID(f.ctx, f.login.ID, portal.WAMessageID(f.bobJID, f.bobJID, "call-"+callID))
			return err == nil && msg != nil
		})
	})
}
