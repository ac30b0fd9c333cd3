package delivery

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// stableTxnTransport gives every bridged message that names its remote message
// (portal.RemoteIDKey) a transaction ID derived from that message, its room and its sender.
//
// bridgev2 sends remote messages under random transaction IDs and writes the message mapping
// only after the homeserver accepted the event. When that write fails (database down) or the
// bridge dies in between, the remote network delivers the message again and it would appear
// twice in the room; with a stable transaction ID the homeserver recognises the resend (within
// its transaction memory: Dendrite and Synapse keep it for the session, at least 30 minutes)
// and returns the event it already has. An encrypted event names its message by a keyed hash
// outside the ciphertext instead (RemoteRefKey), which serves the same purpose.
//
// A stable ID is not enough when the homeserver dies while handling the send: the event may be
// stored while the answer is lost, and a homeserver that keeps transaction IDs only in memory
// (Dendrite) no longer recognises the retry. Worse, Dendrite queues every event it is sent in a
// persistent input stream before storing it, so a send cut off by a shutdown may be stored only
// after the restart, at a time no fixed wait can bound (seen in CI: the copy appeared after the
// lookups had found nothing, and the retry made a second one). So after a send ended without an
// answer, the next attempt first sends a barrier into the room (an event of type BarrierType, as
// the same sender) and reads the room until the barrier shows: a homeserver handles a room's
// events in order (Dendrite: one input worker per room, one ordered output stream), so once the
// barrier is readable the earlier attempt is either readable too or was never stored. The retry
// answers with the earlier event when it is there. The same holds across a restart: a bridge
// killed while a send was in flight (the homeserver stored the event, the message mapping was
// never written) gets the message again from the network and its new process knows nothing of
// that attempt; so a message older than the process (the send's ts) is looked up too before it
// is sent, behind a barrier as well: the homeserver went on with the killed process's send on its
// own (the request's cancellation does not take back an event already queued) and, busy, may
// store it seconds later, after a plain read of the room found nothing. A lookup that cannot read
// the room holds the send back (the client gets 503 and tries again later) rather than risk a
// second copy; see findSent for how far it reads.
type stableTxnTransport struct {
	base http.RoundTripper
	// since is when this process started; zero turns the lookup of older messages off.
	since time.Time

	mu sync.Mutex
	// unanswered holds the stable transaction IDs whose last attempt got no answer.
	unanswered map[string]bool
	// barriers holds, per stable transaction ID being looked up (unanswered or pre-start), the
	// barrier event sent for it, so a retry whose lookup failed reuses it instead of sending
	// another; a finished lookup drops it (lookedUp).
	barriers map[string]string
	// unreadable holds, per stable transaction ID, when a lookup of its room first failed.
	unreadable map[string]time.Time
	// settled holds, per room, the remote message whose pre-start lookup this process finished
	// first. bridgev2 handles a room's events one at a time, so a process that died had at most
	// one message of the room in flight: the first one this process sees without a message row.
	// Once that one is looked up, later messages of the room (other remote messages) cannot have
	// been sent already and go straight out, instead of each costing a room read for the first
	// seconds after a start.
	settled map[string]string
}

// UnreadableRoomWait bounds how long a message that must be looked up is held back while its
// room cannot be read; past it the message is sent unchecked, so a room the homeserver keeps
// refusing to show (a bug, a permission change) cannot hold the message back for good.
var UnreadableRoomWait = 5 * time.Minute

// lookBackPage is how many of the room's events one lookup request reads, and lookBackMax how
// many a lookup reads at most, going back until the events are older than the message.
const (
	lookBackPage = 100
	lookBackMax  = 1000
)

// BarrierType is the event type of the barrier a retry sends before looking for the event of an
// unanswered send (see stableTxnTransport). Clients do not render unknown event types; the
// content names the remote message it was sent for, for whoever reads the room's raw events.
const BarrierType = "fi.passerelle.delivery_barrier"

// BarrierWait bounds how long a retry reads the room for its barrier; past it the lookup counts
// as failed (the send is held back, see UnreadableRoomWait).
var BarrierWait = 2 * time.Minute

// barrierPolls are the pauses between reads of the room while the barrier does not show yet,
// the last one repeated: Dendrite's room reads lag its event store, most when it has just
// restarted and works through its queue.
var barrierPolls = []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second}

func (t *stableTxnTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPut || req.GetBody == nil {
		return t.base.RoundTrip(req)
	}
	segs := strings.Split(req.URL.Path, "/")
	// /_matrix/client/{version}/rooms/{roomID}/send/{eventType}/{txnID}
	if len(segs) != 9 || segs[1] != "_matrix" || segs[2] != "client" || segs[4] != "rooms" || segs[6] != "send" {
		return t.base.RoundTrip(req)
	}
	body, err := req.GetBody()
	if err != nil {
		return t.base.RoundTrip(req)
	}
	raw, err := io.ReadAll(body)
	_ = body.Close()
	if err != nil {
		return t.base.RoundTrip(req)
	}
	mk, ok := markerOf(raw)
	if !ok {
		return t.base.RoundTrip(req)
	}
	remoteID := mk.value
	sum := sha256.Sum256([]byte(strings.Join([]string{req.URL.Query().Get("user_id"), segs[5], segs[7], remoteID}, "\x00")))
	out := req.Clone(req.Context())
	segs[8] = "passerelle." + base64.RawURLEncoding.EncodeToString(sum[:18])
	out.URL.Path = strings.Join(segs, "/")
	out.URL.RawPath = ""
	out.Body = io.NopCloser(bytes.NewReader(raw))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	txnID := segs[8]
	room := segs[5]
	preStart := t.predates(req) && !t.settledBefore(room, mk.message)
	if unanswered := t.wasUnanswered(txnID); unanswered || preStart {
		var evtID string
		barrier, err := t.barrier(req, segs, txnID, mk)
		if err == nil {
			evtID, err = t.findSent(req, segs, mk, barrier)
		}
		if err != nil && time.Since(t.failedLookup(txnID)) < UnreadableRoomWait {
			// Not knowing whether the event exists, sending could make a second one (seen: a
			// Dendrite about to stop or just started answered /messages with 403 or 500):
			// answer as an unavailable homeserver would, so the client tries again later.
			zerolog.Ctx(req.Context()).Warn().Err(err).Str("remote_id", remoteID).
				Msg("Cannot check whether an earlier attempt stored this message; not sending it yet")
			return unavailable(req, err), nil
		} else if err != nil {
			zerolog.Ctx(req.Context()).Warn().Err(err).Str("remote_id", remoteID).Dur("waited", UnreadableRoomWait).
				Msg("The room stayed unreadable; sending the message without knowing whether an earlier attempt stored it")
		}
		t.lookedUp(txnID)
		if preStart {
			t.settle(room, mk.message)
		}
		if evtID != "" {
			zerolog.Ctx(req.Context()).Info().Str("remote_id", remoteID).Str("event_id", evtID).
				Msg("An earlier attempt stored this message; answering with its event instead of sending it again")
			t.setUnanswered(txnID, false)
			return answer(req, http.StatusOK, map[string]string{"event_id": evtID}), nil
		}
		zerolog.Ctx(req.Context()).Debug().Str("remote_id", remoteID).Bool("unanswered", unanswered).
			Msg("No earlier copy of this message in the room; sending it")
	}
	resp, err := t.base.RoundTrip(out)
	t.setUnanswered(txnID, (err != nil && !neverSent(err)) || (err == nil && resp.StatusCode >= 500))
	return resp, err
}

// neverSent reports whether a round trip failed before the request left: the connection could
// not be made (the homeserver is down), so no event can have been stored and a retry needs no
// lookup.
func neverSent(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// barrier returns the barrier event sent for the lookup of txnID, sending it first if none
// was (see stableTxnTransport): as the same sender, into the same room, through the same API
// version.
func (t *stableTxnTransport) barrier(req *http.Request, segs []string, txnID string, mk marker) (string, error) {
	t.mu.Lock()
	evtID := t.barriers[txnID]
	t.mu.Unlock()
	if evtID != "" {
		return evtID, nil
	}
	// The barrier is never encrypted: it names the message the way the message itself does
	// outside its ciphertext (an encrypted message only by its reference).
	body, _ := json.Marshal(map[string]string{mk.barrierField(): mk.value,
		"reason": "an earlier send of this message may have been stored without the bridge knowing (no answer, or a bridge process that stopped); the bridge reads the room up to here before sending it"})
	u := *req.URL
	u.Path = strings.Join(append(segs[:6:6], "send", BarrierType, txnID+".barrier."+strconv.FormatInt(time.Now().UnixNano(), 36)), "/")
	u.RawPath = ""
	q := url.Values{}
	if uid := req.URL.Query().Get("user_id"); uid != "" {
		q.Set("user_id", uid)
	}
	u.RawQuery = q.Encode()
	put, err := http.NewRequestWithContext(req.Context(), http.MethodPut, u.String(), bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("send barrier: %w", err)
	}
	put.Header.Set("Authorization", req.Header.Get("Authorization"))
	put.Header.Set("Content-Type", "application/json")
	resp, err := t.base.RoundTrip(put)
	if err != nil {
		return "", fmt.Errorf("send barrier: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		EventID string `json:"event_id"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("send barrier: HTTP %d", resp.StatusCode)
	} else if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.EventID == "" {
		return "", fmt.Errorf("send barrier: no event ID in the answer (%v)", err)
	}
	t.mu.Lock()
	if t.barriers == nil || len(t.barriers) > 10000 {
		t.barriers = map[string]string{}
	}
	t.barriers[txnID] = out.EventID
	t.mu.Unlock()
	zerolog.Ctx(req.Context()).Debug().Str("remote_id", mk.value).Str("barrier", out.EventID).
		Msg("Sent a barrier before looking for an unanswered send")
	return out.EventID, nil
}

// clockSkew is how far ahead of the bridge's clock a remote network's timestamps may run. Both
// networks stamp messages with their servers' (synchronised) clocks, in whole seconds, so a few
// seconds suffice; a wider margin costs a room lookup for every message of the first moments
// after a start (a minute's worth made the full soak's ~950 messages each wait for one).
const clockSkew = 10 * time.Second

// settledBefore reports whether an earlier remote message than message (marker.message) was
// looked up in room by this process (see stableTxnTransport.settled); parts of that same
// message are not.
func (t *stableTxnTransport) settledBefore(room, message string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	first, ok := t.settled[room]
	return ok && first != message
}

// settle records the first remote message of room whose pre-start lookup finished.
func (t *stableTxnTransport) settle(room, message string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.settled == nil {
		t.settled = map[string]string{}
	}
	if _, ok := t.settled[room]; !ok {
		t.settled[room] = message
	}
}

// predates reports whether the message sent by req (its massaged timestamp) is older than this
// process, so an earlier process may have sent it already.
func (t *stableTxnTransport) predates(req *http.Request) bool {
	if t.since.IsZero() {
		return false
	}
	ts, err := strconv.ParseInt(req.URL.Query().Get("ts"), 10, 64)
	return err == nil && time.UnixMilli(ts).Before(t.since.Add(clockSkew))
}

// failedLookup records a failed lookup for txnID and returns when the first one was.
func (t *stableTxnTransport) failedLookup(txnID string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if first, ok := t.unreadable[txnID]; ok {
		return first
	}
	if t.unreadable == nil || len(t.unreadable) > 10000 {
		t.unreadable = map[string]time.Time{}
	}
	now := time.Now()
	t.unreadable[txnID] = now
	return now
}

// lookedUp forgets the failed lookups of txnID and its barrier: the barrier answered for the
// attempts before it, and an attempt after the lookup that gets no answer again needs a barrier
// sent after that attempt (one sent before proves nothing about it).
func (t *stableTxnTransport) lookedUp(txnID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.unreadable, txnID)
	delete(t.barriers, txnID)
}

func (t *stableTxnTransport) wasUnanswered(txnID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unanswered[txnID]
}

func (t *stableTxnTransport) setUnanswered(txnID string, v bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !v {
		delete(t.unanswered, txnID)
		delete(t.barriers, txnID)
		return
	}
	if t.unanswered == nil || len(t.unanswered) > 10000 {
		t.unanswered = map[string]bool{}
	}
	t.unanswered[txnID] = true
}

// findSent looks for the event carrying remoteID in the room, read as the same sender, and
// returns its ID, or "" when the room has none. It reads the room both with /messages, back to
// events older than the message (at most lookBackMax), and with a /sync of the room's latest
// events: Dendrite's /messages was seen to leave out an event it stored across a restart that
// /sync did show. With a barrier, "none" counts only once the barrier shows in either read; the
// room is read again (barrierPolls) until then, for at most BarrierWait. An error means the room
// could not be read.
func (t *stableTxnTransport) findSent(req *http.Request, segs []string, mk marker, barrier string) (string, error) {
	deadline := time.Now().Add(BarrierWait)
	for i := 0; ; i++ {
		evtID, sawM, err := t.findInMessages(req, segs, mk, barrier)
		sawS := false
		if err == nil && evtID == "" {
			evtID, sawS, err = t.findInSync(req, segs, mk, barrier)
		}
		if err != nil || evtID != "" || barrier == "" || sawM || sawS {
			return evtID, err
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the barrier %s did not show in the room within %s", barrier, BarrierWait)
		}
		pause := barrierPolls[min(i, len(barrierPolls)-1)]
		select {
		case <-req.Context().Done():
			return "", req.Context().Err()
		case <-time.After(pause):
		}
	}
}

// roomEvent is the part of a room event a lookup reads.
type roomEvent struct {
	ID      string                     `json:"event_id"`
	Type    string                     `json:"type"`
	TS      int64                      `json:"origin_server_ts"`
	Content map[string]json.RawMessage `json:"content"`
}

// carries reports whether evt is a send of type evtType bearing mk.
func (evt *roomEvent) carries(evtType string, mk marker) bool {
	var got string
	return evt.Type == evtType && json.Unmarshal(evt.Content[mk.key], &got) == nil && got == mk.value
}

// findInMessages pages back through the room with /messages until it finds the event, reaches
// events older than the message's timestamp (less the clock skew) or has read lookBackMax, and
// reports whether it read the barrier on the way.
func (t *stableTxnTransport) findInMessages(req *http.Request, segs []string, mk marker, barrier string) (evtID string, sawBarrier bool, err error) {
	var oldest time.Time
	if ts, err := strconv.ParseInt(req.URL.Query().Get("ts"), 10, 64); err == nil {
		oldest = time.UnixMilli(ts).Add(-clockSkew)
	}
	from := ""
	for read := 0; read < lookBackMax; {
		q := url.Values{"dir": {"b"}, "limit": {strconv.Itoa(lookBackPage)}}
		if from != "" {
			q.Set("from", from)
		}
		var page struct {
			Chunk []roomEvent `json:"chunk"`
			End   string      `json:"end"`
		}
		if err := t.get(req, append(segs[:5:5], segs[5], "messages"), q, &page); err != nil {
			return "", false, err
		}
		for _, evt := range page.Chunk {
			sawBarrier = sawBarrier || (barrier != "" && evt.ID == barrier)
			if evt.carries(segs[7], mk) {
				return evt.ID, sawBarrier, nil
			}
		}
		read += len(page.Chunk)
		if len(page.Chunk) == 0 || page.End == "" || page.End == from ||
			(!oldest.IsZero() && time.UnixMilli(page.Chunk[len(page.Chunk)-1].TS).Before(oldest)) {
			return "", sawBarrier, nil
		}
		from = page.End
	}
	return "", sawBarrier, nil
}

// findInSync reads the room's latest events with a /sync filtered to the room, and reports
// whether the barrier is among them.
func (t *stableTxnTransport) findInSync(req *http.Request, segs []string, mk marker, barrier string) (evtID string, sawBarrier bool, err error) {
	roomID, err := url.PathUnescape(segs[5])
	if err != nil {
		return "", false, fmt.Errorf("room ID %q: %w", segs[5], err)
	}
	filter, _ := json.Marshal(map[string]any{
		"room": map[string]any{
			"rooms":        []string{roomID},
			"timeline":     map[string]any{"limit": lookBackPage},
			"state":        map[string]any{"types": []string{}},
			"ephemeral":    map[string]any{"types": []string{}},
			"account_data": map[string]any{"types": []string{}},
		},
		"presence":     map[string]any{"types": []string{}},
		"account_data": map[string]any{"types": []string{}},
	})
	var resp struct {
		Rooms struct {
			Join map[string]struct {
				Timeline struct {
					Events []roomEvent `json:"events"`
				} `json:"timeline"`
			} `json:"join"`
		} `json:"rooms"`
	}
	q := url.Values{"filter": {string(filter)}, "timeout": {"0"}}
	if err := t.get(req, append(segs[:3:3], segs[3], "sync"), q, &resp); err != nil {
		return "", false, err
	}
	for _, evt := range resp.Rooms.Join[roomID].Timeline.Events {
		sawBarrier = sawBarrier || (barrier != "" && evt.ID == barrier)
		if evt.carries(segs[7], mk) {
			return evt.ID, sawBarrier, nil
		}
	}
	return "", sawBarrier, nil
}

// get reads path (segments, escaped) with query q, as the sender of req, into out.
func (t *stableTxnTransport) get(req *http.Request, path []string, q url.Values, out any) error {
	u := *req.URL
	u.Path = strings.Join(path, "/")
	u.RawPath = ""
	if uid := req.URL.Query().Get("user_id"); uid != "" {
		q.Set("user_id", uid)
	}
	u.RawQuery = q.Encode()
	get, err := http.NewRequestWithContext(req.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("look up %s: %w", path[len(path)-1], err)
	}
	get.Header.Set("Authorization", req.Header.Get("Authorization"))
	resp, err := t.base.RoundTrip(get)
	if err != nil {
		return fmt.Errorf("look up %s: %w", path[len(path)-1], err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("look up %s: HTTP %d", path[len(path)-1], resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("look up %s: %w", path[len(path)-1], err)
	}
	return nil
}

// answer is a homeserver-like JSON response to req.
func answer(req *http.Request, status int, body any) *http.Response {
	raw, _ := json.Marshal(body)
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(raw)),
		ContentLength: int64(len(raw)),
		Request:       req,
	}
}

// unavailable is a 503 answer, which the mautrix client retries with backoff.
func unavailable(req *http.Request, err error) *http.Response {
	return answer(req, http.StatusServiceUnavailable, map[string]string{
		"errcode": "M_UNKNOWN", "error": "cannot check whether an earlier attempt stored this event: " + err.Error(),
	})
}
