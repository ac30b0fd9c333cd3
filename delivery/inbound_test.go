package delivery

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// testAS runs mautrix's real appservice HTTP server and event processor (synchronous, as
// bridgev2 runs it) with Inbound in front; handle plays bridgev2 and returns the status it
// would report for each event.
func testAS(t *testing.T, handle func(evt *event.Event) *bridgev2.MessageStatus) (url, token string, in *Inbound) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	as := appservice.Create()
	as.Registration = &appservice.Registration{ServerToken: "hs-secret", AppToken: "as-secret"}
	as.Host.Hostname, as.Host.Port = "127.0.0.1", uint16(port)
	as.Log = zerolog.New(zerolog.NewTestWriter(t))
	ep := appservice.NewEventProcessor(as)
	ep.ExecMode = appservice.Sync
	in = newInbound(as, ep, as.Log)
	for _, typ := range []event.Type{event.EventMessage, event.StateRoomName, event.StateMember} {
		ep.On(typ, func(ctx context.Context, evt *event.Event) {
			if ms := handle(evt); ms != nil {
				in.observe(ms, &bridgev2.MessageStatusEventInfo{SourceEventID: evt.ID, EventType: evt.Type})
			}
		})
	}
	ep.Start(context.Background())
	go as.Start()
	t.Cleanup(func() { ep.Stop(); as.Stop() })
	url = fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			_ = c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return url, "hs-secret", in
}

func putTxn(t *testing.T, url, token, txnID string, eventIDs ...string) int {
	t.Helper()
	var evts []string
	for _, e := range eventIDs {
		evts = append(evts, fmt.Sprintf(`{"type":"m.room.message","event_id":%q,"room_id":"!r:x","sender":"@u:x","content":{"msgtype":"m.text","body":%q}}`, e, e))
	}
	return putBody(t, url, token, txnID, `{"events":[`+strings.Join(evts, ",")+`]}`)
}

// putBody sends a transaction with the given JSON body and returns the status code.
func putBody(t *testing.T, url, token, txnID, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url+transactionPath+txnID, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// recordingAS is testAS answering success to everything, with the IDs it handled.
func recordingAS(t *testing.T) (url, token string, in *Inbound, seen func() []id.EventID) {
	var mu sync.Mutex
	var ids []id.EventID
	url, token, in = testAS(t, func(evt *event.Event) *bridgev2.MessageStatus {
		mu.Lock()
		ids = append(ids, evt.ID)
		mu.Unlock()
		return &bridgev2.MessageStatus{Status: event.MessageStatusSuccess}
	})
	return url, token, in, func() []id.EventID {
		mu.Lock()
		defer mu.Unlock()
		return append([]id.EventID(nil), ids...)
	}
}

func TestInboundRetriesOnlyTransientFailures(t *testing.T) {
	var mu sync.Mutex
	seen := map[id.EventID]int{}
	dbDown := true
	url, token, _ := testAS(t, func(evt *event.Event) *bridgev2.MessageStatus {
		mu.Lock()
		defer mu.Unlock()
		seen[evt.ID]++
		switch {
		case evt.ID == "$b" && dbDown:
			return &bridgev2.MessageStatus{Status: event.MessageStatusRetriable, InternalError: &pq.Error{Code: "57P03"}}
		case evt.ID == "$c":
			return &bridgev2.MessageStatus{Status: event.MessageStatusFail, InternalError: bridgev2.ErrNoPermissionToInteract}
		}
		return &bridgev2.MessageStatus{Status: event.MessageStatusSuccess}
	})
	if code := putTxn(t, url, token, "t1", "$a", "$b", "$c"); code != http.StatusServiceUnavailable {
		t.Fatalf("transaction with a database failure answered %d, want 503 so the homeserver retries", code)
	}
	if code := putTxn(t, url, token, "t1", "$a", "$b", "$c"); code != http.StatusServiceUnavailable {
		t.Fatalf("retry while the database is still down answered %d, want 503", code)
	}
	mu.Lock()
	dbDown = false
	mu.Unlock()
	if code := putTxn(t, url, token, "t1", "$a", "$b", "$c"); code != http.StatusOK {
		t.Fatalf("retry after recovery answered %d, want 200", code)
	}
	if code := putTxn(t, url, token, "t1", "$a", "$b", "$c"); code != http.StatusOK {
		t.Fatalf("duplicate of a finished transaction answered %d, want 200", code)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[id.EventID]int{"$a": 1, "$b": 3, "$c": 1}
	for e, n := range want {
		if seen[e] != n {
			t.Errorf("%s handled %d times, want %d (all: %v)", e, seen[e], n, seen)
		}
	}
}

func TestInboundAcknowledgesOnlyAfterHandling(t *testing.T) {
	release := make(chan struct{})
	handled := make(chan id.EventID, 4)
	url, token, _ := testAS(t, func(evt *event.Event) *bridgev2.MessageStatus {
		<-release
		handled <- evt.ID
		return &bridgev2.MessageStatus{Status: event.MessageStatusSuccess}
	})
	answered := make(chan int, 1)
	go func() { answered <- putTxn(t, url, token, "slow", "$x", "$y") }()
	select {
	case code := <-answered:
		t.Fatalf("transaction answered (%d) before its events were handled", code)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case code := <-answered:
		if code != http.StatusOK {
			t.Fatalf("answered %d, want 200", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("transaction never answered")
	}
	if len(handled) != 2 {
		t.Fatalf("%d events handled when the transaction was acknowledged, want 2", len(handled))
	}
}

func TestInboundRejectsWrongToken(t *testing.T) {
	url, _, _ := testAS(t, func(evt *event.Event) *bridgev2.MessageStatus {
		t.Errorf("event %s handled despite a wrong hs_token", evt.ID)
		return nil
	})
	if code := putTxn(t, url, "wrong", "t9", "$z"); code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Fatalf("wrong hs_token answered %d", code)
	}
}

// TestInboundSkipsEventsHandledBefore: a bridge killed after handling an event but before
// answering gets the transaction again; what bridgev2 already recorded is not handled twice,
// and when the record cannot be read the transaction is refused, not guessed.
func TestInboundSkipsEventsHandledBefore(t *testing.T) {
	url, token, in, handedOn := recordingAS(t)
	dbDown := true
	in.handled = func(ctx context.Context, evtType string, evtID id.EventID) (bool, error) {
		if dbDown {
			return false, &pq.Error{Code: "57P03"}
		}
		return evtType == "m.room.message" && evtID == "$old", nil
	}
	if code := putTxn(t, url, token, "again", "$old", "$new"); code != http.StatusServiceUnavailable {
		t.Fatalf("with the database down: %d, want 503", code)
	}
	dbDown = false
	if code := putTxn(t, url, token, "again", "$old", "$new"); code != http.StatusOK {
		t.Fatalf("answered %d, want 200", code)
	}
	if seen := handedOn(); len(seen) != 1 || seen[0] != "$new" {
		t.Fatalf("handled %v, want only $new", seen)
	}
}

// TestInboundSkipsLookupForOwnEvents: the bridge's own ghosts' events (every message bridged to
// Matrix comes back this way) are handed on without a database lookup; bridgev2 ignores them.
func TestInboundSkipsLookupForOwnEvents(t *testing.T) {
	url, token, in, handedOn := recordingAS(t)
	lookedUp := recordLookups(in)
	in.ownUser = func(u id.UserID) bool { return strings.HasPrefix(string(u), "@ghost_") }
	body := `{"events":[` +
		`{"type":"m.room.message","event_id":"$ghost","room_id":"!r:x","sender":"@ghost_1:x","content":{"msgtype":"m.text","body":"g"}},` +
		`{"type":"m.room.message","event_id":"$user","room_id":"!r:x","sender":"@u:x","content":{"msgtype":"m.text","body":"u"}}]}`
	if code := putBody(t, url, token, "own", body); code != http.StatusOK {
		t.Fatalf("answered %d, want 200", code)
	}
	if looked := lookedUp(); len(looked) != 1 || looked[0] != "$user" {
		t.Fatalf("looked up %v, want only $user", looked)
	}
	if seen := handedOn(); len(seen) != 2 {
		t.Fatalf("handed on %v, want both events", seen)
	}
}

// TestInboundRetryKeepsAddedEvents: Dendrite may send a refused transaction again with newer
// events added under the same ID; those are new and must be handled.
func TestInboundRetryKeepsAddedEvents(t *testing.T) {
	var mu sync.Mutex
	seen := map[id.EventID]int{}
	first := true
	url, token, _ := testAS(t, func(evt *event.Event) *bridgev2.MessageStatus {
		mu.Lock()
		defer mu.Unlock()
		seen[evt.ID]++
		if evt.ID == "$b" && first {
			first = false
			return &bridgev2.MessageStatus{Status: event.MessageStatusRetriable, InternalError: &pq.Error{Code: "57P03"}}
		}
		return &bridgev2.MessageStatus{Status: event.MessageStatusSuccess}
	})
	if code := putTxn(t, url, token, "grow", "$a", "$b"); code != http.StatusServiceUnavailable {
		t.Fatalf("answered %d, want 503", code)
	}
	if code := putTxn(t, url, token, "grow", "$a", "$b", "$n"); code != http.StatusOK {
		t.Fatalf("answered %d, want 200", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["$a"] != 1 || seen["$b"] != 2 || seen["$n"] != 1 {
		t.Fatalf("handled %v, want $a once, $b twice, $n once", seen)
	}
}

// TestInboundReusedTransactionID: a homeserver killed after the bridge answered a transaction
// can come back with its queue rewound and send the same transaction ID again with more events
// (seen with Dendrite in e2e's TestSoakWhatsApp); the events handled before are skipped and the
// new ones handled, once.
func TestInboundReusedTransactionID(t *testing.T) {
	var mu sync.Mutex
	seen := map[id.EventID]int{}
	url, token, _ := testAS(t, func(evt *event.Event) *bridgev2.MessageStatus {
		mu.Lock()
		defer mu.Unlock()
		seen[evt.ID]++
		return &bridgev2.MessageStatus{Status: event.MessageStatusSuccess}
	})
	for _, txn := range [][]string{{"$a"}, {"$a", "$b", "$c"}, {"$a", "$b", "$c"}} {
		if code := putTxn(t, url, token, "t7", txn...); code != http.StatusOK {
			t.Fatalf("transaction %v answered %d", txn, code)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, e := range []id.EventID{"$a", "$b", "$c"} {
		if seen[e] != 1 {
			t.Errorf("%s handled %d times, want 1 (all: %v)", e, seen[e], seen)
		}
	}
}

// TestInboundLooksUpOnlyWhatAnEarlierProcessCouldHaveHandled: an event created after the
// process started and never received before needs no handled lookup; one dated before the start,
// or one this process received already (sent again under another transaction ID), does.
func TestInboundLooksUpOnlyWhatAnEarlierProcessCouldHaveHandled(t *testing.T) {
	url, token, in, handedOn := recordingAS(t)
	lookedUp := recordLookups(in)
	now := time.Now()
	in.started = now.Add(-time.Minute)
	evt := func(evtID string, ts time.Time) string {
		return fmt.Sprintf(`{"type":"m.room.message","event_id":%q,"room_id":"!r:x","sender":"@u:x","origin_server_ts":%d,"content":{"msgtype":"m.text","body":"x"}}`, evtID, ts.UnixMilli())
	}
	body := `{"events":[` + evt("$before", now.Add(-time.Hour)) + `,` + evt("$skewed", in.started.Add(5*time.Second)) + `,` + evt("$new", now) + `]}`
	if code := putBody(t, url, token, "first", body); code != http.StatusOK {
		t.Fatalf("answered %d, want 200", code)
	}
	// Dendrite may send events again under a new transaction ID after losing its own record.
	if code := putBody(t, url, token, "second", `{"events":[`+evt("$new", now)+`]}`); code != http.StatusOK {
		t.Fatalf("answered %d, want 200", code)
	}
	looked := lookedUp()
	if want := []id.EventID{"$before", "$skewed", "$new"}; !slices.Equal(looked, want) {
		t.Fatalf("looked up %v, want %v (the new event only when it came a second time)", looked, want)
	}
	if got := handedOn(); len(got) != 4 {
		t.Fatalf("handed on %v, want all four (the lookup said none was handled)", got)
	}
}

// recordLookups answers in's handled lookups with "not handled" and returns the IDs looked up.
func recordLookups(in *Inbound) func() []id.EventID {
	var mu sync.Mutex
	var looked []id.EventID
	in.handled = func(ctx context.Context, evtType string, evtID id.EventID) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		looked = append(looked, evtID)
		return false, nil
	}
	return func() []id.EventID {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(looked)
	}
}
