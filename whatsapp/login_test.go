package whatsapp

import (
	"testing"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/status"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

func TestLoginQR(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		h := newHarness(t, db)
		phone := nextPhone()
		ul := h.loginQR(h.user("@alice:test"), phone)
		if !ul.Client.IsLoggedIn() {
			t.Fatal("client not logged in after login")
		}
		dev := h.srv.Devices(phone)
		if len(dev) != 1 || !h.srv.IsConnected(dev[0]) {
			t.Fatalf("server devices = %v, want one connected device", dev)
		}
		meta := ul.Metadata.(*portal.LoginMeta)
		if meta.WA == nil || meta.WA.WADeviceID != dev[0].Device {
			t.Fatalf("login metadata = %+v, want device %d", meta.WA, dev[0].Device)
		}

		// The session survives a restart: the same device logs in again, no new pairing.
		h.restart()
		h.mx.waitState(t, ul.ID, status.StateConnected, "")
		if got := h.srv.Devices(phone); len(got) != 1 || got[0] != dev[0] {
			t.Fatalf("after restart devices = %v, want %v", got, dev)
		}

		// Unlinked from the phone: a clear bad-credentials state.
		if err := h.srv.LogoutDevice(dev[0]); err != nil {
			t.Fatal(err)
		}
		st := h.mx.waitState(t, ul.ID, status.StateBadCredentials, StateLoggedOut)
		if st.Message == "" {
			t.Error("logged-out state carries no message for the user")
		}
		// whatsmeow deleted the unlinked device: after a restart the login says so at once.
		h.restart()
		h.mx.waitState(t, ul.ID, status.StateBadCredentials, StateNoDevice)
	})
}

func TestLoginPairingCode(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		h := newHarness(t, db)
		phone := nextPhone()
		proc, err := h.wa.CreateLogin(h.ctx, h.user("@bob:test"), FlowPhone)
		if err != nil {
			t.Fatal(err)
		}
		step, err := proc.Start(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if step.Type != bridgev2.LoginStepTypeUserInput || len(step.UserInputParams.Fields) != 1 {
			t.Fatalf("first step = %+v, want the phone number input", step)
		}
		input := proc.(bridgev2.LoginProcessUserInput)
		if _, err = input.SubmitUserInput(h.ctx, map[string]string{"phone": "0612"}); err == nil {
			t.Fatal("a national short number was accepted")
		}
		step, err = input.SubmitUserInput(h.ctx, map[string]string{"phone": "+" + phone[:2] + " " + phone[2:]})
		if err != nil {
			t.Fatal(err)
		}
		if step.Type != bridgev2.LoginStepTypeDisplayAndWait || step.DisplayAndWaitParams.Type != bridgev2.LoginDisplayTypeCode {
			t.Fatalf("step = %+v, want a pairing code", step)
		}
		code := step.DisplayAndWaitParams.Data
		if len(code) != 9 && len(code) != 8 {
			t.Fatalf("pairing code %q is not 8 characters", code)
		}
		entered := make(chan error, 1)
		go func() {
			_, err := h.srv.EnterPairingCode(h.ctx, phone, code)
			entered <- err
		}()
		final, err := proc.(bridgev2.LoginProcessDisplayAndWait).Wait(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err = <-entered; err != nil {
			t.Fatal(err)
		}
		ul := h.checkComplete(final, phone)

		// Stream replaced: another connection with the same keys.
		dev := h.srv.Devices(phone)[0]
		if err = h.srv.SendStreamError(dev, "", "replaced"); err != nil {
			t.Fatal(err)
		}
		h.mx.waitState(t, ul.ID, status.StateBadCredentials, StateStreamReplaced)

		// Logout from Matrix unlinks the device on the server and deletes its keys.
		h.restart()
		ul2, err := h.br.GetExistingUserLoginByID(h.ctx, ul.ID)
		if err != nil || ul2 == nil {
			t.Fatalf("login lost across restart: %v", err)
		}
		h.mx.waitState(t, ul.ID, status.StateConnected, "")
		ul2.Client.LogoutRemote(h.ctx)
		if got := h.srv.Devices(phone); len(got) != 0 {
			t.Errorf("server still lists devices %v after logout", got)
		}
		if d, err := h.wa.Devices.GetDevice(h.ctx, dev); err != nil || d != nil {
			t.Errorf("device keys still stored after logout (%v, %v)", d, err)
		}
	})
}

func TestTextBothWays(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		h := newHarness(t, db)
		alicePhone, bobPhone := nextPhone(), nextPhone()
		ul := h.loginQR(h.user("@alice:test"), alicePhone)
		bob, err := h.srv.NewPhone(h.ctx, bobPhone, watestserver.PhoneOptions{PushName: "Bob"})
		if err != nil {
			t.Fatal(err)
		}
		defer bob.Close()
		alice := types.NewJID(alicePhone, types.DefaultUserServer)
		bobJID := types.NewJID(bobPhone, types.DefaultUserServer)

		if _, err = bob.SendText(h.ctx, alice, "*hi* alice"); err != nil {
			t.Fatal(err)
		}
		ghost := h.mx.FormatGhostMXID(portal.WAUserID(bobJID))
		got, _ := h.mx.waitEvent(t, 0, "Bob's message", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Sender == ghost
		})
		msg := got.Message()
		if msg.Body != "*hi* alice" || msg.FormattedBody != "<strong>hi</strong> alice" {
			t.Errorf("bridged message = %q / %q", msg.Body, msg.FormattedBody)
		}
		room := h.portalRoom(ul, bobJID)
		if got.RoomID != room {
			t.Errorf("message went to %s, portal room is %s", got.RoomID, room)
		}
		// No saved contact: the ghost shows the name Bob chose (his push name).
		if g, err := h.br.GetGhostByID(h.ctx, portal.WAUserID(bobJID)); err != nil || g.Name != "Bob" {
			t.Errorf("Bob's ghost is named %q (%v), want his push name", g.Name, err)
		}

		from := len(bob.Events.Events())
		h.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgText, Body: "hello bob", Format: event.FormatHTML, FormattedBody: "hello <em>bob</em>",
		})
		evt, _, err := watestserver.WaitFor(h.ctx, bob.Events, from, func(m *events.Message) bool { return m.Message.GetConversation() != "" })
		if err != nil {
			t.Fatal(err)
		}
		if received := evt.Message.GetConversation(); received != "hello _bob_" {
			t.Errorf("Bob received %q, want %q", received, "hello _bob_")
		}
	})
}
