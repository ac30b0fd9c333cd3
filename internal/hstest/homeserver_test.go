package hstest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// waitForText pages back through the room until a message with the given body from sender shows
// up, or fails the test after the deadline.
func waitForText(t *testing.T, cli *mautrix.Client, roomID id.RoomID, sender id.UserID, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		resp, err := cli.Messages(ctx, roomID, "", "", mautrix.DirectionBackward, nil, 50)
		if err == nil {
			for _, evt := range resp.Chunk {
				if evt.Type != event.EventMessage || evt.Sender != sender {
					continue
				}
				_ = evt.Content.ParseRaw(evt.Type)
				if msg := evt.Content.AsMessage(); msg.Body == body {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never saw %q from %s in %s (last error: %v)", cli.UserID, body, sender, roomID, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestTwoUsersExchangeMessages(t *testing.T) {
	hs := New(t, Options{})
	ctx := context.Background()
	alice := hs.NewUser(t, "alice")
	bob := hs.NewUser(t, "bob")
	if alice.UserID != UserID("alice") || bob.UserID != UserID("bob") {
		t.Fatalf("user IDs: got %s and %s, want @alice:localhost and @bob:localhost", alice.UserID, bob.UserID)
	}
	if alice.DeviceID == "" {
		t.Fatal("registered client has no device ID")
	}

	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}, IsDirect: true})
	if err != nil {
		t.Fatalf("alice creates room: %v", err)
	}
	if _, err = bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatalf("bob joins %s: %v", room.RoomID, err)
	}
	if _, err = alice.SendText(ctx, room.RoomID, "bonjour bob"); err != nil {
		t.Fatalf("alice sends: %v", err)
	}
	waitForText(t, bob, room.RoomID, alice.UserID, "bonjour bob")
	if _, err = bob.SendText(ctx, room.RoomID, "salut alice"); err != nil {
		t.Fatalf("bob sends: %v", err)
	}
	waitForText(t, alice, room.RoomID, bob.UserID, "salut alice")

	// The password NewUser set lets a second client log in as the same user.
	again, err := mautrix.NewClient(hs.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	login, err := again.Login(ctx, &mautrix.ReqLogin{
		Type:       mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "bob"},
		Password:   Password("bob"),
	})
	if err != nil {
		t.Fatalf("bob logs in with Password(\"bob\"): %v", err)
	}
	if login.UserID != bob.UserID {
		t.Fatalf("login as bob returned %s", login.UserID)
	}

	// A taken name is an error, not a silent second account.
	if _, err = hs.RegisterUser(ctx, "alice", "whatever"); err == nil {
		t.Fatal("registering @alice twice succeeded")
	}
}

// TestRestartKeepsData checks the fault-test path: after Stop and Start on the same address the
// users, their tokens and the room history are still there.
func TestRestartKeepsData(t *testing.T) {
	hs := New(t, Options{})
	ctx := context.Background()
	alice := hs.NewUser(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatalf("create room: %v", err)
	}
	if _, err = alice.SendText(ctx, room.RoomID, "before restart"); err != nil {
		t.Fatalf("send: %v", err)
	}
	addr := hs.Addr
	if err = hs.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if hs.Running() {
		t.Fatal("Running() after Stop")
	}
	if _, err = alice.Whoami(ctx); err == nil {
		t.Fatal("a stopped homeserver still answered")
	}
	if err = hs.Start(ctx); err != nil {
		t.Fatalf("start again: %v", err)
	}
	if hs.Addr != addr {
		t.Fatalf("address changed across restart: %s -> %s", addr, hs.Addr)
	}
	if _, err = alice.Whoami(ctx); err != nil {
		t.Fatalf("alice's token after restart: %v", err)
	}
	waitForText(t, alice, room.RoomID, alice.UserID, "before restart")
	if _, err = alice.SendText(ctx, room.RoomID, "after restart"); err != nil {
		t.Fatalf("send after restart: %v", err)
	}
	waitForText(t, alice, room.RoomID, alice.UserID, "after restart")
	if err = hs.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err = hs.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err = os.Stat(hs.Dir); !os.IsNotExist(err) {
		t.Fatalf("data directory %s still exists after Close (stat: %v)", hs.Dir, err)
	}
	if err = hs.Start(ctx); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

// fakeAppService records what a homeserver pushes to an appservice registration, checking the
// hs_token the way a bridge does.
type fakeAppService struct {
	token string
	mu    sync.Mutex
	txns  map[string]appservice.Transaction
	auths []string
}

func (f *fakeAppService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	txnID, ok := strings.CutPrefix(r.URL.Path, "/_matrix/app/v1/transactions/")
	if r.Method != http.MethodPut || !ok {
		// Dendrite may probe users and aliases; nothing here exists.
		http.Error(w, `{"errcode":"M_NOT_FOUND"}`, http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"errcode":"M_FORBIDDEN"}`, http.StatusForbidden)
		return
	}
	var txn appservice.Transaction
	if err := json.NewDecoder(r.Body).Decode(&txn); err != nil {
		http.Error(w, `{"errcode":"M_NOT_JSON"}`, http.StatusBadRequest)
		return
	}
	f.txns[txnID] = txn
	_, _ = w.Write([]byte("{}"))
}

func (f *fakeAppService) find(pred func(*event.Event) bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, txn := range f.txns {
		for _, evt := range append(append([]*event.Event{}, txn.Events...), txn.EphemeralEvents...) {
			if pred(evt) {
				return true
			}
		}
	}
	return false
}

// TestAppServiceRegistration checks that a registration passed in Options reaches Dendrite (it
// pushes room events in the namespace to the appservice, signed with hs_token) and that
// DeliverTransaction produces the same kind of request.
func TestAppServiceRegistration(t *testing.T) {
	fake := &fakeAppService{token: "hs-secret", txns: map[string]appservice.Transaction{}}
	srv := &http.Server{Handler: fake}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	reg := &appservice.Registration{
		ID:              "hstest",
		URL:             "http://" + ln.Addr().String(),
		AppToken:        "as-secret",
		ServerToken:     fake.token,
		SenderLocalpart: "hstestbot",
		Namespaces: appservice.Namespaces{UserIDs: appservice.NamespaceList{
			{Regex: "@hstest_.*:localhost", Exclusive: true},
		}},
	}
	regPath := filepath.Join(t.TempDir(), "registration.yaml")
	if err = reg.Save(regPath); err != nil {
		t.Fatal(err)
	}
	hs := New(t, Options{AppServices: []string{regPath}})
	ctx := context.Background()

	// The appservice's token is accepted, so Dendrite loaded the registration.
	bot, err := hs.Client(UserID("hstestbot"), reg.AppToken)
	if err != nil {
		t.Fatal(err)
	}
	if who, err := bot.Whoami(ctx); err != nil || who.UserID != UserID("hstestbot") {
		t.Fatalf("whoami with as_token: %v, %v", who, err)
	}
	// Exclusive namespace: ordinary users may not take it.
	if _, err = hs.RegisterUser(ctx, "hstest_intruder", "x"); err == nil {
		t.Fatal("an ordinary user registered inside the appservice's exclusive namespace")
	}

	alice := hs.NewUser(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{UserID("hstestbot")}})
	if err != nil {
		t.Fatalf("create room inviting the bot: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !fake.find(func(evt *event.Event) bool {
		return evt.Type == event.StateMember && evt.RoomID == room.RoomID && evt.GetStateKey() == UserID("hstestbot").String()
	}) {
		if time.Now().After(deadline) {
			t.Fatalf("Dendrite never pushed the bot's invite to the appservice; auth headers seen: %v", fake.auths)
		}
		time.Sleep(100 * time.Millisecond)
	}

	typing := &event.Event{
		Type:    event.EphemeralEventTyping,
		RoomID:  room.RoomID,
		Content: event.Content{Parsed: &event.TypingEventContent{UserIDs: []id.UserID{alice.UserID}}},
	}
	if err = DeliverTransaction(ctx, reg, "txn-typing", &appservice.Transaction{EphemeralEvents: []*event.Event{typing}}); err != nil {
		t.Fatalf("DeliverTransaction: %v", err)
	}
	if !fake.find(func(evt *event.Event) bool {
		return evt.Type.Type == event.EphemeralEventTyping.Type && evt.RoomID == room.RoomID
	}) {
		t.Fatal("the delivered typing event did not arrive")
	}
	wrong := *reg
	wrong.ServerToken = "not-the-token"
	if err = DeliverTransaction(ctx, &wrong, "", &appservice.Transaction{}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("delivery with a wrong hs_token: got %v, want an HTTP 403 error", err)
	}
}

// TestKeptDirectory checks the demo mode: a caller-owned data directory and a fixed address;
// the data survives Close and a second Launch on the same directory.
func TestKeptDirectory(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "dendrite-data")
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	hs, err := Launch(ctx, Options{Dir: dir, Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hs.Close() }) // a no-op after the Close below
	if hs.Addr != addr || hs.URL != "http://"+addr {
		t.Errorf("listening on %s (%s), want %s", hs.Addr, hs.URL, addr)
	}
	if hs.LogPath != filepath.Join(dir, "dendrite.log") {
		t.Errorf("log at %s, want it in the kept directory", hs.LogPath)
	}
	alice, err := hs.RegisterUser(ctx, "alice", Password("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if err = hs.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err = os.Stat(filepath.Join(dir, "dendrite.yaml")); err != nil {
		t.Fatalf("Close removed the caller's directory: %v", err)
	}

	again, err := Launch(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	cli, err := again.Client(alice.UserID, alice.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if who, err := cli.Whoami(ctx); err != nil || who.UserID != alice.UserID {
		t.Fatalf("alice's token on the relaunched homeserver: %v, %v", who, err)
	}
}
