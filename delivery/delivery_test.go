package delivery

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
)

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"bridgev2 database error", fmt.Errorf("%w: failed to get portal: x", bridgev2.ErrDatabaseError), true},
		{"postgres starting up", &pq.Error{Code: "57P03"}, true},
		{"postgres admin shutdown", fmt.Errorf("wrapped: %w", &pq.Error{Code: "57P01"}), true},
		{"connection exception", &pq.Error{Code: "08006"}, true},
		{"unique violation", &pq.Error{Code: "23505"}, false},
		{"dial refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"bad conn", driver.ErrBadConn, true},
		{"permission refusal", bridgev2.ErrNoPermissionToInteract, false},
		{"remote refusal", errors.New("MESSAGE_TOO_LONG"), false},
		{"homeserver closed the connection", fmt.Errorf("send: %w", mautrix.HTTPError{WrappedError: &url.Error{Op: "Put", URL: "http://hs", Err: io.EOF}}), true},
		{"homeserver error while stopping", mautrix.HTTPError{Response: &http.Response{StatusCode: 500}, RespError: &mautrix.RespError{ErrCode: "M_UNKNOWN"}}, true},
		{"homeserver refusal", mautrix.HTTPError{Response: &http.Response{StatusCode: 403}, RespError: &mautrix.RespError{ErrCode: "M_FORBIDDEN"}}, false},
	} {
		if got := Transient(c.err); got != c.want {
			t.Errorf("%s: Transient(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// TestStableTransactionIDs sends through a real mautrix client: a message naming its remote
// message gets the same transaction ID every time, distinct per remote message and sender;
// other events keep the client's own IDs.
func TestStableTransactionIDs(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), "body") {
			t.Errorf("body lost on the way: %s", body)
		}
		paths = append(paths, r.URL.Path+"?"+r.URL.Query().Get("user_id"))
		_, _ = w.Write([]byte(`{"event_id":"$x"}`))
	}))
	defer srv.Close()
	send := func(user id.UserID, remoteID string) string {
		cli, err := mautrix.NewClient(srv.URL, user, "token")
		if err != nil {
			t.Fatal(err)
		}
		cli.SetAppServiceUserID = true
		cli.Client = &http.Client{Transport: &stableTxnTransport{base: http.DefaultTransport}}
		content := &event.Content{Raw: map[string]any{"msgtype": "m.text", "body": "hi"}}
		if remoteID != "" {
			content.Raw[portal.RemoteIDKey] = remoteID
		}
		if _, err := cli.SendMessageEvent(context.Background(), "!room:example.org", event.EventMessage, content); err != nil {
			t.Fatal(err)
		}
		p := paths[len(paths)-1]
		return p[strings.LastIndex(p[:strings.Index(p, "?")], "/")+1:]
	}
	a1 := send("@ghost_a:example.org", "tg.u1.5")
	a2 := send("@ghost_a:example.org", "tg.u1.5")
	b := send("@ghost_a:example.org", "tg.u1.6")
	c := send("@ghost_c:example.org", "tg.u1.5")
	plain1, plain2 := send("@ghost_a:example.org", ""), send("@ghost_a:example.org", "")
	if a1 != a2 || !strings.HasPrefix(a1, "passerelle.") {
		t.Errorf("resend of one remote message: %q then %q, want the same stable ID", a1, a2)
	}
	if b == a1 || c == a1 {
		t.Errorf("distinct messages or senders share an ID: %q %q %q", a1, b, c)
	}
	if plain1 == plain2 || strings.HasPrefix(plain1, "passerelle.") {
		t.Errorf("unmarked events must keep random IDs: %q %q", plain1, plain2)
	}
}

// TestUnansweredSendIsLookedUp: the homeserver drops the connection of a send (it dies); after it
// restarts it has forgotten the transaction ID, and, like Dendrite, it may store the send only
// later, from its input queue. The retry sends a barrier and reads the room until the barrier
// shows: the stored event is answered instead of a second one, a send that was never stored is
// sent again, and a room that never shows the barrier holds the send back.
func TestUnansweredSendIsLookedUp(t *testing.T) {
	defer func(d time.Duration) { BarrierWait = d }(BarrierWait)
	BarrierWait = 2 * time.Second
	cases := []struct {
		name string
		// stored: whether the dropped send ends up in the room; lag: how many reads of
		// /messages and /sync show nothing new yet (the homeserver working through its queue).
		stored   bool
		lag      int
		noShow   bool // the barrier never shows
		want     string
		wantPuts int // message sends the homeserver received, barriers apart
	}{
		{"stored before the restart", true, 0, false, "$stored", 1},
		{"stored from the queue after the restart", true, 3, false, "$stored", 1},
		{"never stored", false, 2, false, "$new", 2},
		{"barrier never shows", false, 0, true, "503", 1},
	}
	// An encrypted send carries only the keyed reference outside its ciphertext; the lookup
	// works on it the same way, and the barrier names the reference, not the remote message.
	kinds := []struct {
		name, evtType, body, marker string
	}{
		{"plain", "m.room.message", fmt.Sprintf(`{"msgtype":"m.text","body":"hi",%q:"tg.u1.7"}`, portal.RemoteIDKey), "tg.u1.7"},
		{"encrypted", "m.room.encrypted", fmt.Sprintf(`{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"AwgA","session_id":"s",%q:"%s"}`, RemoteRefKey, remoteRef([]byte("k"), "tg.u1.7")), remoteRef([]byte("k"), "tg.u1.7")},
	}
	for _, kind := range kinds {
		for _, tc := range cases {
			t.Run(kind.name+"/"+tc.name, func(t *testing.T) {
				unansweredSendCase(t, kind.evtType, kind.body, kind.marker, tc.stored, tc.lag, tc.noShow, tc.want, tc.wantPuts)
			})
		}
	}
}

// unansweredSendCase runs one case of TestUnansweredSendIsLookedUp for a send of evtType with
// sendBody, whose marker (remote ID or reference) the lookup must find.
func unansweredSendCase(t *testing.T, evtType, sendBody, marker string, stored bool, lag int, noShow bool, want string, wantPuts int) {
	tc := struct {
		stored, noShow bool
		lag, wantPuts  int
		want           string
	}{stored, noShow, lag, wantPuts, want}
	var mu sync.Mutex
	var puts, barriers, reads int
	var queued, barrier string
	visible := []string{`{"event_id":"$other","type":"m.room.message","content":{}}`}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/"+BarrierType+"/"):
			barriers++
			if r.URL.Query().Get("user_id") != "@ghost:example.org" {
				t.Errorf("barrier sent as %q, want the sender", r.URL.Query().Get("user_id"))
			}
			barrier = "$barrier"
			if body, _ := io.ReadAll(r.Body); !strings.Contains(string(body), marker) ||
				(evtType == "m.room.encrypted" && strings.Contains(string(body), "tg.u1.7")) {
				t.Errorf("barrier content %s: want it to name %q and never the remote ID of an encrypted message", body, marker)
			}
			fmt.Fprint(w, `{"event_id":"$barrier"}`)
		case r.Method == http.MethodPut:
			puts++
			body, _ := io.ReadAll(r.Body)
			if puts == 1 {
				queued = string(body)
				conn, _, _ := w.(http.Hijacker).Hijack()
				_ = conn.Close() // never answered
				return
			}
			fmt.Fprint(w, `{"event_id":"$new"}`)
		default:
			if r.URL.Query().Get("user_id") != "@ghost:example.org" {
				t.Errorf("lookup as %q, want the sender", r.URL.Query().Get("user_id"))
			}
			reads++
			if barrier != "" && reads > 2*tc.lag {
				// The queue is worked through in order: the dropped send first.
				if tc.stored && queued != "" {
					visible = append(visible, `{"event_id":"$stored","type":"`+evtType+`","content":`+queued+`}`)
					queued = ""
				}
				if !tc.noShow {
					visible = append(visible, `{"event_id":"$barrier","type":"`+BarrierType+`","content":{}}`)
					barrier = ""
				}
			}
			if strings.HasSuffix(r.URL.Path, "/messages") {
				fmt.Fprintf(w, `{"chunk":[%s]}`, strings.Join(visible, ","))
			} else {
				fmt.Fprintf(w, `{"rooms":{"join":{"!r:example.org":{"timeline":{"events":[%s]}}}}}`, strings.Join(visible, ","))
			}
		}
	}))
	defer srv.Close()
	tr := &stableTxnTransport{base: http.DefaultTransport}
	send := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_matrix/client/v3/rooms/!r:example.org/send/"+evtType+"/random1?user_id=%40ghost%3Aexample.org", strings.NewReader(sendBody))
		return tr.RoundTrip(req)
	}
	if _, err := send(); err == nil {
		t.Fatal("first attempt should fail: the server dropped the connection")
	}
	resp, err := send()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if tc.want == "503" {
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("retry answered %d %s, want 503", resp.StatusCode, got)
		}
	} else if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), tc.want) {
		t.Fatalf("retry answered %d %s, want %s", resp.StatusCode, got, tc.want)
	}
	if puts != tc.wantPuts || barriers != 1 {
		t.Fatalf("the homeserver received %d sends and %d barriers, want %d and 1", puts, barriers, tc.wantPuts)
	}
}

// TestRefusedSendNeedsNoLookup: a send whose connection was refused never reached the
// homeserver, so its retry goes straight out, without a barrier or a lookup.
func TestRefusedSendNeedsNoLookup(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens: connections are refused
	tr := &stableTxnTransport{base: http.DefaultTransport}
	send := func() (*http.Response, error) {
		body := fmt.Sprintf(`{"msgtype":"m.text","body":"hi",%q:"tg.u1.8"}`, portal.RemoteIDKey)
		req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/random1", strings.NewReader(body))
		return tr.RoundTrip(req)
	}
	if _, err := send(); err == nil {
		t.Fatal("a send to a closed port succeeded")
	}
	var puts, other int
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/m.room.message/") {
			puts++
			fmt.Fprint(w, `{"event_id":"$new"}`)
			return
		}
		other++
		w.WriteHeader(http.StatusNotFound)
	})}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken again: %v", addr, err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	resp, err := send()
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || puts != 1 || other != 0 {
		t.Fatalf("retry answered %d after %d sends and %d other requests; want one send and nothing else", resp.StatusCode, puts, other)
	}
}
