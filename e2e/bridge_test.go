package e2e

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
)

// wantFlows are the login flows of both networks, WhatsApp's first, as users see them.
var wantFlows = []string{"whatsapp-qr", "whatsapp-phone", "telegram-phone", "telegram-qr", "telegram-bot"}

// managementRoomHint is how `help` starts in the user's management room (bridgev2's wording):
// seeing it proves the bridge knows this room as the user's management room.
const managementRoomHint = "This is your management room"

// TestBridge runs one bridge and one homeserver per database engine and the foundation's
// end-to-end checks against each; the restart check runs last because it restarts the bridge.
func TestBridge(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			br := bridgetest.New(t, bridgetest.Options{Binary: passerelleBin, Engine: engine})
			t.Run("HelpAndLoginFlows", func(t *testing.T) { testHelpAndLoginFlows(t, br) })
			t.Run("ProvisioningLoginFlows", func(t *testing.T) { testProvisioningLoginFlows(t, br) })
			t.Run("ManagementRoomEncrypted", func(t *testing.T) { testManagementRoomEncrypted(t, br) })
			t.Run("PlainDMGetsEncrypted", func(t *testing.T) { testPlainDMGetsEncrypted(t, br) })
			t.Run("EncryptedCommandFromGoClient", func(t *testing.T) { testEncryptedCommandGo(t, br) })
			t.Run("EncryptedCommandFromIndependentClient", func(t *testing.T) { testEncryptedCommand(t, br) })
			t.Run("EncryptedSessionFromIndependentClient", func(t *testing.T) { testEncryptedSession(t, br) })
			t.Run("TransactionFromHarness", func(t *testing.T) { testTransactionFromHarness(t, br) })
			// These restart the bridge or the homeserver: they run last, one after the other.
			t.Run("RestartKeepsState", func(t *testing.T) { testRestartKeepsState(t, br) })
			t.Run("CommandSentWhileBridgeDown", func(t *testing.T) { testCommandWhileDown(t, br) })
			t.Run("HomeserverRestart", func(t *testing.T) { testHomeserverRestart(t, br) })
		})
	}
}

// flowLine matches one flow of the `login` answer: "* `whatsapp-qr` - description".
var flowLine = regexp.MustCompile("(?m)^\\* `([^`]+)` - ")

func testHelpAndLoginFlows(t *testing.T, br *bridgetest.Bridge) {
	user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("help"))
	room := br.OpenManagementRoom(t, user)

	help := br.Command(t, user, room, "help")
	if !strings.Contains(help.Body, managementRoomHint) {
		t.Errorf("help does not treat the DM as the management room; got:\n%s", help.Body)
	}
	for _, cmd := range []string{"login", "logout", "help"} {
		if !strings.Contains(help.Body, "**"+cmd+"**") {
			t.Errorf("help does not list the %q command; got:\n%s", cmd, help.Body)
		}
	}

	login := br.Command(t, user, room, "login")
	var got []string
	for _, m := range flowLine.FindAllStringSubmatch(login.Body, -1) {
		got = append(got, m[1])
	}
	if !slices.Equal(got, wantFlows) {
		t.Errorf("login offers flows %q, want exactly %q; answer:\n%s", got, wantFlows, login.Body)
	}
}

func testProvisioningLoginFlows(t *testing.T, br *bridgetest.Bridge) {
	ctx := context.Background()
	user := hstest.UserID(hstest.UniqueLocalpart("prov"))
	var resp struct {
		Flows []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"flows"`
	}
	if _, err := br.Provision(ctx, http.MethodGet, "/v3/login/flows", user, nil, &resp); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range resp.Flows {
		got = append(got, f.ID)
		if f.Name == "" {
			t.Errorf("flow %s has no name", f.ID)
		}
	}
	if !slices.Equal(got, wantFlows) {
		t.Errorf("provisioning lists flows %q, want exactly %q", got, wantFlows)
	}

	// The API is closed to a wrong secret and to users without login permission.
	if status, err := br.ProvisionWithSecret(ctx, "not-the-shared-secret-of-this-bridge", http.MethodGet, "/v3/login/flows", user, nil, nil); err == nil || status != http.StatusUnauthorized {
		t.Errorf("wrong shared secret: got HTTP %d (%v), want 401", status, err)
	}
	if status, err := br.Provision(ctx, http.MethodGet, "/v3/login/flows", "@mallory:elsewhere.example", nil, nil); err == nil || status != http.StatusForbidden {
		t.Errorf("user of another server: got HTTP %d (%v), want 403", status, err)
	}
}

// testManagementRoomEncrypted: in a management room created encrypted (as Element creates DMs)
// the bot keeps the room's megolm encryption and encrypts what it sends there.
func testManagementRoomEncrypted(t *testing.T, br *bridgetest.Bridge) {
	ctx := context.Background()
	user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("enc"))
	room := br.OpenEncryptedManagementRoom(t, user)
	welcome := br.WaitForEvent(t, user, room, "", func(evt *event.Event) bool {
		return evt.Sender == br.Bot && (evt.Type == event.EventMessage || evt.Type == event.EventEncrypted)
	})
	if welcome.Type != event.EventEncrypted {
		t.Errorf("the bot's first message in an encrypted management room is %s, want %s", welcome.Type.Type, event.EventEncrypted.Type)
	}
	content, err := bridgetest.RoomState(ctx, user, room, event.StateEncryption, "")
	if err != nil {
		t.Fatal(err)
	}
	if content == nil || content["algorithm"] != string(id.AlgorithmMegolmV1) {
		t.Errorf("management room encryption state is %v, want algorithm %s", content, id.AlgorithmMegolmV1)
	}
}

// testPlainDMGetsEncrypted documents a gap: encryption.default is on, yet a management room the
// user created without encryption stays unencrypted, because bridgev2's bot-invite handling
// (matrixinvite.go) never sends m.room.encryption. It runs once the bridge does that.
func testPlainDMGetsEncrypted(t *testing.T, br *bridgetest.Bridge) {
	ctx := context.Background()
	user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("plain"))
	room := br.OpenManagementRoom(t, user)
	content, err := bridgetest.RoomState(ctx, user, room, event.StateEncryption, "")
	if err != nil {
		t.Fatal(err)
	}
	if content == nil {
		t.Skip("known gap: a management room created unencrypted stays unencrypted although encryption.default is on (bridgev2 does not enable it on bot invites)")
	}
	if content["algorithm"] != string(id.AlgorithmMegolmV1) {
		t.Errorf("management room encryption algorithm %v, want %s", content["algorithm"], id.AlgorithmMegolmV1)
	}
}

// testEncryptedCommandGo: a user whose client does E2EE (mautrix crypto) talks to the bot in an
// encrypted management room; the bot decrypts the commands and its answers decrypt.
func testEncryptedCommandGo(t *testing.T, br *bridgetest.Bridge) {
	user := br.Homeserver.NewCryptoUser(t, hstest.UniqueLocalpart("goe2ee"))
	room := br.OpenEncryptedManagementRoom(t, user.Client)
	help := br.EncryptedCommand(t, user, room, "help")
	if !strings.Contains(help.Body, managementRoomHint) {
		t.Errorf("decrypted help does not see the management room:\n%s", help.Body)
	}
	login := br.EncryptedCommand(t, user, room, "login")
	var got []string
	for _, m := range flowLine.FindAllStringSubmatch(login.Body, -1) {
		got = append(got, m[1])
	}
	if !slices.Equal(got, wantFlows) {
		t.Errorf("encrypted login offers flows %q, want exactly %q; answer:\n%s", got, wantFlows, login.Body)
	}
}

// testEncryptedCommand: an independent client (matrix-js-sdk with its Rust crypto) sends an
// encrypted help and decrypts the bot's encrypted answer.
func testEncryptedCommand(t *testing.T, br *bridgetest.Bridge) {
	localpart := hstest.UniqueLocalpart("js")
	br.Homeserver.NewUser(t, localpart)
	res := br.RunJSCommand(t, bridgetest.JSCommand{
		Localpart: localpart,
		Password:  hstest.Password(localpart),
		Command:   "help",
		Expect:    managementRoomHint,
	})
	if !res.OK {
		t.Fatalf("the independent client got no decryptable answer to an encrypted help: %s; replies: %+v", res.Error, res.Replies)
	}
	if res.SentWireType != event.EventEncrypted.Type {
		t.Errorf("the command was stored as %q, want %s", res.SentWireType, event.EventEncrypted.Type)
	}
	if res.RoomEncryption["algorithm"] != string(id.AlgorithmMegolmV1) {
		t.Errorf("room encryption %v", res.RoomEncryption)
	}
	for _, r := range res.Replies {
		if r.WireType != event.EventEncrypted.Type {
			t.Errorf("the bot answered in clear in an encrypted room: %+v", r)
		}
		if r.DecryptionFailure {
			t.Errorf("the client could not decrypt a bot message: %+v", r)
		}
	}
}

// testTransactionFromHarness: an event delivered with hstest.DeliverTransaction (the way tests
// feed the bridge what Dendrite does not push: typing, receipts, redactions) is accepted and
// handled like one from the homeserver; a wrong hs_token is refused.
func testTransactionFromHarness(t *testing.T, br *bridgetest.Bridge) {
	ctx := context.Background()
	user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("txn"))
	room := br.OpenManagementRoom(t, user)
	isBotMessage := func(e *event.Event) bool { return e.Sender == br.Bot && e.Type == event.EventMessage }
	welcome := br.WaitForEvent(t, user, room, "", isBotMessage)
	evt := &event.Event{
		Type:      event.EventMessage,
		RoomID:    room,
		Sender:    user.UserID,
		ID:        hstest.NewEventID(),
		Timestamp: time.Now().UnixMilli(),
		Content:   event.Content{Parsed: &event.MessageEventContent{MsgType: event.MsgText, Body: "version"}},
	}
	if err := hstest.DeliverTransaction(ctx, br.Registration, "", &appservice.Transaction{Events: []*event.Event{evt}}); err != nil {
		t.Fatal(err)
	}
	reply := br.WaitForEvent(t, user, room, welcome.ID, isBotMessage)
	if body := reply.Content.AsMessage().Body; !strings.Contains(body, "passerelle") {
		t.Errorf("the bot's answer to a delivered `version` does not name the bridge: %q", body)
	}

	// Typing, a read receipt and a redaction (what Dendrite does not pass on) are accepted, and
	// the bot keeps answering afterwards.
	extra := &appservice.Transaction{
		Events: []*event.Event{hstest.RedactionEvent(room, user.UserID, evt.ID, "typo")},
		EphemeralEvents: []*event.Event{
			hstest.TypingEvent(room, user.UserID),
			hstest.ReadReceiptEvent(room, reply.ID, user.UserID, time.Now()),
			hstest.TypingEvent(room),
		},
	}
	if err := hstest.DeliverTransaction(ctx, br.Registration, "", extra); err != nil {
		t.Fatal(err)
	}
	if help := br.Command(t, user, room, "help"); !strings.Contains(help.Body, managementRoomHint) {
		t.Errorf("after typing, receipt and redaction, help says:\n%s", help.Body)
	}

	wrong := *br.Registration
	wrong.ServerToken = "not-the-hs-token"
	if err := hstest.DeliverTransaction(ctx, &wrong, "", &appservice.Transaction{Events: []*event.Event{evt}}); err == nil {
		t.Error("the bridge accepted a transaction signed with a wrong hs_token")
	}
}

// testEncryptedSession: with a long-running matrix-js-sdk client, a message the bot sends on its
// own (the welcome, as the bridge sends remote messages into portals) and an answer to an
// encrypted command both arrive encrypted and decrypt.
func testEncryptedSession(t *testing.T, br *bridgetest.Bridge) {
	localpart := hstest.UniqueLocalpart("jss")
	br.Homeserver.NewUser(t, localpart)
	js := bridgetest.StartJSSession(t, br.Homeserver, localpart, hstest.Password(localpart))
	room := js.CreateDM(t, br.Bot, true)
	js.WaitJoined(t, room, br.Bot)
	welcome := js.WaitForMessage(t, room, bridgetest.JSWait{Sender: br.Bot, Contains: "management room"})
	if welcome.WireType != event.EventEncrypted.Type || !welcome.Decrypted {
		t.Errorf("the bot's welcome: %+v, want it encrypted and decrypted", welcome)
	}
	sent, wire := js.Send(t, room, "login")
	if wire != event.EventEncrypted.Type {
		t.Errorf("the command was stored as %q, want %s", wire, event.EventEncrypted.Type)
	}
	reply := js.WaitForMessage(t, room, bridgetest.JSWait{Sender: br.Bot, After: sent, Contains: "`whatsapp-qr`"})
	if reply.WireType != event.EventEncrypted.Type || !reply.Decrypted {
		t.Errorf("the bot's answer to login: %+v, want it encrypted and decrypted", reply)
	}
	var got []string
	for _, m := range flowLine.FindAllStringSubmatch(reply.Body, -1) {
		got = append(got, m[1])
	}
	if !slices.Equal(got, wantFlows) {
		t.Errorf("login over the JS client offers %q, want exactly %q", got, wantFlows)
	}
}

// testRestartKeepsState: after a bridge restart the bot still knows the user's management room
// (database) and still talks encrypted in an encrypted one (crypto store).
func testRestartKeepsState(t *testing.T, br *bridgetest.Bridge) {
	ctx := context.Background()
	user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("restart"))
	room := br.OpenManagementRoom(t, user)
	if help := br.Command(t, user, room, "help"); !strings.Contains(help.Body, managementRoomHint) {
		t.Fatalf("before restart, help does not see the management room:\n%s", help.Body)
	}
	e2ee := br.Homeserver.NewCryptoUser(t, hstest.UniqueLocalpart("restart-e2ee"))
	encRoom := br.OpenEncryptedManagementRoom(t, e2ee.Client)
	if help := br.EncryptedCommand(t, e2ee, encRoom, "help"); !strings.Contains(help.Body, managementRoomHint) {
		t.Fatalf("before restart, encrypted help does not see the management room:\n%s", help.Body)
	}

	if err := br.Restart(ctx); err != nil {
		t.Fatal(err)
	}

	help := br.Command(t, user, room, "help")
	if !strings.Contains(help.Body, managementRoomHint) {
		t.Errorf("after restart the bridge forgot the management room; help says:\n%s", help.Body)
	}
	encHelp := br.EncryptedCommand(t, e2ee, encRoom, "help")
	if !strings.Contains(encHelp.Body, managementRoomHint) {
		t.Errorf("after restart, encrypted help does not see the management room:\n%s", encHelp.Body)
	}
}

// testCommandWhileDown: a command sent while the bridge is stopped is not lost: the homeserver
// redelivers it (with backoff) and the bot answers once it is back.
func testCommandWhileDown(t *testing.T, br *bridgetest.Bridge) {
	ctx := context.Background()
	user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("down"))
	room := br.OpenManagementRoom(t, user)
	if err := br.Stop(); err != nil {
		t.Fatal(err)
	}
	sent, err := user.SendText(ctx, room, "help")
	if err != nil {
		t.Fatalf("send while the bridge is down: %v", err)
	}
	if err = br.Start(ctx); err != nil {
		t.Fatal(err)
	}
	reply := br.WaitForEvent(t, user, room, sent.EventID, func(evt *event.Event) bool {
		return evt.Sender == br.Bot && evt.Type == event.EventMessage
	})
	if body := reply.Content.AsMessage().Body; !strings.Contains(body, managementRoomHint) {
		t.Errorf("the command sent while the bridge was down got %q", body)
	}
}

// testHomeserverRestart: when the homeserver restarts under a running bridge, the bot keeps
// answering, in clear and encrypted, without restarting the bridge.
func testHomeserverRestart(t *testing.T, br *bridgetest.Bridge) {
	ctx := context.Background()
	user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("hsrestart"))
	room := br.OpenManagementRoom(t, user)
	e2ee := br.Homeserver.NewCryptoUser(t, hstest.UniqueLocalpart("hsrestart-e2ee"))
	encRoom := br.OpenEncryptedManagementRoom(t, e2ee.Client)
	if err := br.Homeserver.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if !br.Running() {
		t.Fatal("the bridge exited when the homeserver restarted")
	}
	if help := br.Command(t, user, room, "help"); !strings.Contains(help.Body, managementRoomHint) {
		t.Errorf("after the homeserver restart, help says:\n%s", help.Body)
	}
	if help := br.EncryptedCommand(t, e2ee, encRoom, "help"); !strings.Contains(help.Body, managementRoomHint) {
		t.Errorf("after the homeserver restart, encrypted help says:\n%s", help.Body)
	}
}
