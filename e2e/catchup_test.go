package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// pushFault stands between the homeserver and the bridge's appservice endpoint and, for a
// transaction carrying a message whose body (or a room name change whose name) starts with a
// given prefix, either swallows it (answers 200 without passing it on: the homeserver believes
// it delivered, as Dendrite does when it drops an event while shutting down) or holds it for a
// while before passing it on.
type pushFault struct {
	proxy *httputil.ReverseProxy

	mu      sync.Mutex
	swallow map[string]chan struct{}
	hold    map[string]time.Duration
	held    map[string]chan struct{}
}

func (f *pushFault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/transactions/") {
		f.proxy.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var txn struct {
		Events []struct {
			Content struct {
				Body string `json:"body"`
				Name string `json:"name"`
			} `json:"content"`
		} `json:"events"`
	}
	_ = json.Unmarshal(body, &txn)
	for _, evt := range txn.Events {
		if evt.Content.Body == "" {
			// A room name change is matched by the new name.
			evt.Content.Body = evt.Content.Name
		}
		f.mu.Lock()
		var swallowed, held chan struct{}
		var delay time.Duration
		for prefix, ch := range f.swallow {
			if strings.HasPrefix(evt.Content.Body, prefix) {
				swallowed = ch
				delete(f.swallow, prefix)
			}
		}
		for prefix, d := range f.hold {
			if strings.HasPrefix(evt.Content.Body, prefix) {
				delay, held = d, f.held[prefix]
				delete(f.hold, prefix)
			}
		}
		f.mu.Unlock()
		if swallowed != nil {
			close(swallowed)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{}"))
			return
		}
		if held != nil {
			time.Sleep(delay)
			close(held)
		}
	}
	f.proxy.ServeHTTP(w, r)
}

func (f *pushFault) swallowNext(prefix string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.swallow[prefix] = ch
	return ch
}

func (f *pushFault) holdNext(prefix string, d time.Duration) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.hold[prefix], f.held[prefix] = d, ch
	return ch
}

// TestUnpushedEventIsCaughtUp: messages that the homeserver stored but never pushed to the
// bridge reach Telegram anyway, exactly once: one followed by later traffic in its room, one
// that is the last event of a quiet room (after the grace period), and one that the homeserver
// pushes late, after catch-up bridged it; and a group's rename, a room change, the same way.
func TestUnpushedEventIsCaughtUp(t *testing.T) {
	srv := startTelegramServer(t)
	me, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000031", FirstName: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000032", FirstName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fault := &pushFault{swallow: map[string]chan struct{}{}, hold: map[string]time.Duration{}, held: map[string]chan struct{}{}}
	proxySrv := &http.Server{Handler: fault, ReadHeaderTimeout: 10 * time.Second}
	t.Cleanup(func() { _ = proxySrv.Close() })
	const grace = 15 * time.Second
	br := bridgetest.New(t, bridgetest.Options{
		Binary: passerelleBin, Engine: "postgres", DisableEncryption: true,
		Env: []string{"PASSERELLE_CATCHUP_INTERVAL=2s", "PASSERELLE_CATCHUP_GRACE=" + grace.String()},
		Edit: func(cfg bridgetest.Config) error {
			if err := telegramSection(srv)(cfg); err != nil {
				return err
			}
			// The homeserver pushes to the fault proxy (the registration's url), which passes on to
			// the bridge's own listener.
			target, err := url.Parse(cfg.String("appservice", "address"))
			if err != nil {
				return err
			}
			fault.proxy = httputil.NewSingleHostReverseProxy(target)
			go func() { _ = proxySrv.Serve(ln) }()
			return cfg.Set("http://"+ln.Addr().String(), "appservice", "address")
		},
	})
	alice, room := tgDMPortal(t, br, srv, me, bob, "+33600000031", "cu")
	ctx := context.Background()
	bobView := func() []tgtestserver.StoredMessage { return srv.History(bob.ID(), tgtestserver.UserPeer(me.ID())) }
	waitBob := func(text string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for tgLastWithText(bobView(), text) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("%q never reached Telegram within %s; Bob sees %+v\nbridge log:\n%s", text, within, bobView(), br.LogTail(40))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	send := func(text string) {
		t.Helper()
		if _, err := alice.SendText(ctx, room, text); err != nil {
			t.Fatalf("send %q: %v", text, err)
		}
	}
	waitClosed := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(bridgetest.ReplyTimeout):
			t.Fatalf("the homeserver never pushed %s", what)
		}
	}

	// 1. Dropped, then more traffic in the room: bridged at the next sweep, without waiting for
	// the grace period.
	dropped := fault.swallowNext("dropped then followed")
	start := time.Now()
	send("dropped then followed")
	waitClosed(dropped, "the first message")
	send("the next message")
	waitBob("the next message", bridgetest.ReplyTimeout)
	waitBob("dropped then followed", bridgetest.ReplyTimeout)
	if took := time.Since(start); took >= grace {
		t.Errorf("the dropped message took %s to arrive although later traffic showed it was dropped (grace %s)", took, grace)
	}

	// 2. Dropped as the last event of a quiet room: bridged once the grace period is over.
	dropped = fault.swallowNext("dropped in a quiet room")
	start = time.Now()
	send("dropped in a quiet room")
	waitClosed(dropped, "the quiet room's message")
	waitBob("dropped in a quiet room", grace+bridgetest.ReplyTimeout)
	if took := time.Since(start); took < grace {
		t.Errorf("the last message of a quiet room was bridged after %s, before the grace period (%s) was over", took, grace)
	}

	// 3. Pushed late, after catch-up bridged it: not handled twice.
	late := fault.holdNext("pushed late", grace+8*time.Second)
	send("pushed late")
	waitBob("pushed late", grace+bridgetest.ReplyTimeout)
	waitClosed(late, "the late message")
	send("after the late one")
	waitBob("after the late one", bridgetest.ReplyTimeout)

	// 4. A room change dropped, then more traffic: the group's new title reaches Telegram once.
	carol, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000033", FirstName: "Carol"})
	if err != nil {
		t.Fatal(err)
	}
	groupChat, err := bob.CreateGroup("Catch-up team", me.ID(), carol.ID())
	if err != nil {
		t.Fatal(err)
	}
	groupPeer := tgtestserver.ChatPeer(groupChat)
	if _, err := carol.SendText(groupPeer, "hi team"); err != nil {
		t.Fatal(err)
	}
	group := tgWaitInvite(t, alice, map[id.RoomID]bool{room: true})
	br.WaitForEvent(t, alice, group, "", func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return m != nil && m.Body == "hi team"
	})
	const newTitle = "Renamed while dropped"
	dropped = fault.swallowNext(newTitle)
	if _, err := alice.SendStateEvent(ctx, group, event.StateRoomName, "", &event.RoomNameEventContent{Name: newTitle}); err != nil {
		t.Fatal(err)
	}
	waitClosed(dropped, "the rename")
	if _, err := alice.SendText(ctx, group, "after the rename"); err != nil {
		t.Fatal(err)
	}
	titles := func(h []tgtestserver.StoredMessage) int {
		n := 0
		for _, m := range h {
			if a, ok := m.Action.(*tg.MessageActionChatEditTitle); ok && a.Title == newTitle && m.From == me.ID() {
				n++
			}
		}
		return n
	}
	waitTelegram(t, srv, carol.ID(), groupPeer, "the dropped rename", func(h []tgtestserver.StoredMessage) bool {
		return titles(h) > 0 && tgLastWithText(h, "after the rename") != nil
	})
	// One more sweep's time: a second hand-over of the rename would show by now.
	time.Sleep(3 * time.Second)
	if n := titles(srv.History(carol.ID(), groupPeer)); n != 1 {
		t.Errorf("Carol sees the rename %d times, want once", n)
	}

	counts := map[string]int{}
	for _, m := range bobView() {
		counts[m.Text]++
	}
	for _, text := range []string{"dropped then followed", "the next message", "dropped in a quiet room", "pushed late", "after the late one"} {
		if counts[text] != 1 {
			t.Errorf("Bob has %d copies of %q, want 1", counts[text], text)
		}
	}
	if t.Failed() {
		t.Logf("Bob sees: %s", fmt.Sprint(bobView()))
	}
}
