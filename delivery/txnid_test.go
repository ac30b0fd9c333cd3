package delivery

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/passerelle-bridge/passerelle/portal"
)

// TestSendOlderThanProcessIsLookedUp: a bridge killed while a send was in flight gets the
// message again from the network after it restarts, and its new process never saw the first
// attempt; a message older than the process is looked up before it is sent, so the event the
// homeserver stored before the kill is answered instead of a second one, while newer messages
// go straight out.
func TestSendOlderThanProcessIsLookedUp(t *testing.T) {
	start := time.Unix(1795760000, 0)
	body := fmt.Sprintf(`{"msgtype":"m.text","body":"hi",%q:"wa.chat/sender/ID1"}`, portal.RemoteIDKey)
	cases := []struct {
		name       string
		since      time.Time
		ts         string // the send's ts query parameter
		wantLookup bool
	}{
		{"sent before the restart", start, fmt.Sprint(start.Add(-10 * time.Second).UnixMilli()), true},
		{"within the clock skew", start, fmt.Sprint(start.Add(clockSkew / 2).UnixMilli()), true},
		{"newer than the process", start, fmt.Sprint(start.Add(2 * clockSkew).UnixMilli()), false},
		{"no timestamp", start, "", false},
		{"lookup off", time.Time{}, fmt.Sprint(start.Add(-10 * time.Second).UnixMilli()), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var puts, lookups int
			srv := fakeHomeserver(&puts, func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/messages") {
					lookups++
					fmt.Fprintf(w, `{"chunk":[{"event_id":"$before_kill","type":"m.room.message","content":%s}]}`, body)
				}
			})
			defer srv.Close()
			tr := &stableTxnTransport{base: http.DefaultTransport, since: tc.since}
			u := srv.URL + "/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/random1?user_id=%40ghost%3Aexample.org"
			if tc.ts != "" {
				u += "&ts=" + tc.ts
			}
			req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader(body))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			want, wantPuts := "$new", 1
			if tc.wantLookup {
				want, wantPuts = "$before_kill", 0
			}
			if !strings.Contains(string(got), want) || puts != wantPuts || (lookups == 1) != tc.wantLookup {
				t.Fatalf("answer %s after %d sends and %d lookups; want %s", got, puts, lookups, want)
			}
		})
	}
}

// TestLookupReadsBackAndSync: the earlier copy of a message may lie further back than one page
// of /messages (the room moved on while the bridge restarted) or be missing from /messages
// altogether (Dendrite after a restart) while /sync shows it; and a room that cannot be read
// means the message is not sent, since it may be there.
func TestLookupReadsBackAndSync(t *testing.T) {
	start := time.Unix(1795760000, 0)
	ts := fmt.Sprint(start.Add(-10 * time.Second).UnixMilli())
	body := fmt.Sprintf(`{"msgtype":"m.text","body":"hi",%q:"wa.chat/sender/ID2"}`, portal.RemoteIDKey)
	filler := fmt.Sprintf(`{"event_id":"$filler","type":"m.room.message","origin_server_ts":%d,"content":{}}`, start.UnixMilli())
	page := func(events ...string) string { return strings.Join(events, ",") }
	cases := []struct {
		name     string
		messages func(from string) (int, string) // status and body of /messages from a token
		sync     string                          // body of /sync, "" for an error
		want     string                          // event ID answered, "$new" for a send, "503" for no send
	}{
		{"on the third page", func(from string) (int, string) {
			switch from {
			case "":
				return 200, `{"chunk":[` + page(filler, filler) + `],"end":"p2"}`
			case "p2":
				return 200, `{"chunk":[` + filler + `],"end":"p3"}`
			default:
				return 200, fmt.Sprintf(`{"chunk":[{"event_id":"$far","type":"m.room.message","origin_server_ts":%d,"content":%s}],"end":"p4"}`, start.UnixMilli(), body)
			}
		}, `{}`, "$far"},
		{"only in sync", func(string) (int, string) { return 200, `{"chunk":[` + filler + `]}` },
			fmt.Sprintf(`{"rooms":{"join":{"!r:example.org":{"timeline":{"events":[{"event_id":"$synced","type":"m.room.message","content":%s}]}}}}}`, body), "$synced"},
		{"absent", func(string) (int, string) { return 200, `{"chunk":[` + filler + `]}` }, `{}`, "$new"},
		{"room unreadable", func(string) (int, string) { return 502, `{}` }, `{}`, "503"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var puts int
			srv := fakeHomeserver(&puts, func(w http.ResponseWriter, r *http.Request) {
				switch {
				case strings.HasSuffix(r.URL.Path, "/messages"):
					status, out := tc.messages(r.URL.Query().Get("from"))
					w.WriteHeader(status)
					fmt.Fprint(w, out)
				case strings.HasSuffix(r.URL.Path, "/sync"):
					if !strings.Contains(r.URL.Query().Get("filter"), "!r:example.org") {
						t.Errorf("sync filter %q does not name the room", r.URL.Query().Get("filter"))
					}
					fmt.Fprint(w, tc.sync)
				}
			})
			defer srv.Close()
			tr := &stableTxnTransport{base: http.DefaultTransport, since: start}
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/random1?user_id=%40ghost%3Aexample.org&ts="+ts, strings.NewReader(body))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if tc.want == "503" {
				if resp.StatusCode != http.StatusServiceUnavailable || puts != 0 {
					t.Fatalf("answer %d %s after %d sends; want 503 and no send", resp.StatusCode, got, puts)
				}
				return
			}
			wantPuts := 0
			if tc.want == "$new" {
				wantPuts = 1
			}
			if !strings.Contains(string(got), tc.want) || puts != wantPuts {
				t.Fatalf("answer %s after %d sends; want %s", got, puts, tc.want)
			}
		})
	}
}

// fakeHomeserver answers every PUT of a message (a send) with the event "$new", counting them in
// puts, and passes other requests to read. A barrier (BarrierType) is answered as "$barrier" and
// shows at the top of every /messages page read gives afterwards, as a homeserver that has
// caught up shows it.
func fakeHomeserver(puts *int, read http.HandlerFunc) *httptest.Server {
	barrierSent := false
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/"+BarrierType+"/"):
			barrierSent = true
			fmt.Fprint(w, `{"event_id":"$barrier"}`)
		case r.Method == http.MethodPut:
			*puts++
			fmt.Fprint(w, `{"event_id":"$new"}`)
		case barrierSent && strings.HasSuffix(r.URL.Path, "/messages"):
			rec := httptest.NewRecorder()
			read(rec, r)
			var page map[string]json.RawMessage
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &page) != nil {
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
			chunk := strings.TrimPrefix(strings.TrimSpace(string(page["chunk"])), "[")
			sep := ","
			if strings.HasPrefix(strings.TrimSpace(chunk), "]") || chunk == "" {
				sep, chunk = "", "]"
			}
			page["chunk"] = json.RawMessage(`[{"event_id":"$barrier","type":"` + BarrierType + `","content":{}}` + sep + chunk)
			out, _ := json.Marshal(page)
			_, _ = w.Write(out)
		default:
			read(w, r)
		}
	}))
}

// TestUnreadableRoomGivesUp: a room the homeserver keeps refusing to show holds a message back
// only for UnreadableRoomWait; then it is sent unchecked.
func TestUnreadableRoomGivesUp(t *testing.T) {
	defer func(d time.Duration) { UnreadableRoomWait = d }(UnreadableRoomWait)
	UnreadableRoomWait = 50 * time.Millisecond
	start := time.Unix(1795760000, 0)
	var puts int
	srv := fakeHomeserver(&puts, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) })
	defer srv.Close()
	tr := &stableTxnTransport{base: http.DefaultTransport, since: start}
	send := func() int {
		body := fmt.Sprintf(`{"msgtype":"m.text","body":"hi",%q:"wa.chat/sender/ID3"}`, portal.RemoteIDKey)
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/random1?ts="+fmt.Sprint(start.Add(-time.Second).UnixMilli()), strings.NewReader(body))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := send(); got != http.StatusServiceUnavailable || puts != 0 {
		t.Fatalf("first attempt answered %d after %d sends; want 503, no send", got, puts)
	}
	time.Sleep(2 * UnreadableRoomWait)
	if got := send(); got != http.StatusOK || puts != 1 {
		t.Fatalf("attempt after the wait answered %d after %d sends; want it sent", got, puts)
	}
}

// TestPreStartLookupOncePerRoom: a dead process had at most one message of a room in flight, so
// after the first pre-start message of a room was looked up (all of its parts), later messages of
// that room go straight out; another room still gets its own lookup.
func TestPreStartLookupOncePerRoom(t *testing.T) {
	start := time.Unix(1795760000, 0)
	var puts, lookups int
	srv := fakeHomeserver(&puts, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/messages"):
			lookups++
			fmt.Fprint(w, `{"chunk":[]}`)
		case strings.HasSuffix(r.URL.Path, "/sync"):
			fmt.Fprint(w, `{"rooms":{}}`)
		}
	})
	defer srv.Close()
	tr := &stableTxnTransport{base: http.DefaultTransport, since: start}
	ts := fmt.Sprint(start.Add(-time.Second).UnixMilli())
	steps := []struct {
		room, remoteID string
		wantLookup     bool
	}{
		{"!a:example.org", "wa.1@s.whatsapp.net/2@s.whatsapp.net/ID1", true},
		{"!a:example.org", "wa.1@s.whatsapp.net/2@s.whatsapp.net/ID1/caption", true}, // same message
		{"!a:example.org", "wa.1@s.whatsapp.net/2@s.whatsapp.net/ID2", false},
		{"!a:example.org", "wa.1@s.whatsapp.net/3@s.whatsapp.net/ID3", false},
		{"!b:example.org", "tg.u5.7", true},
		{"!b:example.org", "tg.u5.8", false},
	}
	for i, st := range steps {
		before := lookups
		body := fmt.Sprintf(`{"msgtype":"m.text","body":"hi",%q:%q}`, portal.RemoteIDKey, st.remoteID)
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_matrix/client/v3/rooms/"+st.room+"/send/m.room.message/random?ts="+ts, strings.NewReader(body))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if looked := lookups > before; looked != st.wantLookup {
			t.Errorf("step %d (%s in %s): looked up %v, want %v", i, st.remoteID, st.room, looked, st.wantLookup)
		}
	}
	if puts != len(steps) {
		t.Errorf("%d sends, want %d", puts, len(steps))
	}
}

// TestPreStartLookupWaitsForBarrier: a homeserver busy when the bridge was killed may store the
// killed process's send only after the new process first reads the room; the pre-start lookup
// reads behind a barrier, so it finds that copy instead of sending a second one.
func TestPreStartLookupWaitsForBarrier(t *testing.T) {
	start := time.Unix(1795760000, 0)
	body := fmt.Sprintf(`{"msgtype":"m.text","body":"hi",%q:"tg.u1.9"}`, portal.RemoteIDKey)
	var puts, reads int
	barrierSent := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/"+BarrierType+"/"):
			barrierSent = true
			fmt.Fprint(w, `{"event_id":"$barrier"}`)
		case r.Method == http.MethodPut:
			puts++
			fmt.Fprint(w, `{"event_id":"$second"}`)
		case strings.HasSuffix(r.URL.Path, "/messages"):
			reads++
			if !barrierSent || reads < 3 {
				fmt.Fprint(w, `{"chunk":[]}`) // still working through its queue
				return
			}
			fmt.Fprintf(w, `{"chunk":[{"event_id":"$barrier","type":%q,"content":{}},{"event_id":"$late","type":"m.room.message","content":%s}]}`, BarrierType, body)
		default:
			fmt.Fprint(w, `{"rooms":{}}`)
		}
	}))
	defer srv.Close()
	tr := &stableTxnTransport{base: http.DefaultTransport, since: start}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/random?ts="+fmt.Sprint(start.Add(-time.Second).UnixMilli()), strings.NewReader(body))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !barrierSent || !strings.Contains(string(got), "$late") || puts != 0 {
		t.Fatalf("answer %s after %d sends (barrier sent: %v); want the late copy, no send", got, puts, barrierSent)
	}
}

// TestEachUnansweredAttemptGetsItsBarrier: when the send after a lookup goes unanswered too, the
// next lookup needs a barrier sent after that send; the first barrier, older than it, would show
// while that send may still be on its way in.
func TestEachUnansweredAttemptGetsItsBarrier(t *testing.T) {
	body := fmt.Sprintf(`{"msgtype":"m.text","body":"hi",%q:"tg.u1.10"}`, portal.RemoteIDKey)
	var sends int
	var barriers []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/"+BarrierType+"/"):
			barriers = append(barriers, fmt.Sprintf("$barrier%d", len(barriers)+1))
			fmt.Fprintf(w, `{"event_id":%q}`, barriers[len(barriers)-1])
		case r.Method == http.MethodPut:
			sends++
			if sends <= 2 {
				conn, _, _ := w.(http.Hijacker).Hijack()
				_ = conn.Close() // never answered
				return
			}
			fmt.Fprint(w, `{"event_id":"$new"}`)
		case strings.HasSuffix(r.URL.Path, "/messages"):
			var evts []string
			for i := len(barriers) - 1; i >= 0; i-- {
				evts = append(evts, fmt.Sprintf(`{"event_id":%q,"type":%q,"content":{}}`, barriers[i], BarrierType))
			}
			fmt.Fprintf(w, `{"chunk":[%s]}`, strings.Join(evts, ","))
		default:
			fmt.Fprint(w, `{"rooms":{}}`)
		}
	}))
	defer srv.Close()
	tr := &stableTxnTransport{base: http.DefaultTransport}
	for attempt := 1; attempt <= 3; attempt++ {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/random", strings.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
		resp, err := tr.RoundTrip(req)
		if attempt <= 2 {
			if err == nil {
				_ = resp.Body.Close()
				t.Fatalf("attempt %d was answered; the fake drops it", attempt)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	if len(barriers) != 2 || sends != 3 {
		t.Fatalf("%d barrier(s) for %d sends; want one before each retry (2) and 3 sends", len(barriers), sends)
	}
}
