// Package delivery makes the bridge's hand-offs with the homeserver survive crashes and outages,
// so that a Matrix message is neither lost nor sent twice when the bridge, the homeserver or the
// database dies mid-way.
//
// mautrix's appservice acknowledges a transaction as soon as its events are queued in memory,
// and bridgev2 answers a database failure with a failure notice and moves on: a bridge killed
// right after the acknowledgement, or a PostgreSQL restart, loses the events of that
// transaction for good. Inbound closes both gaps without changing how bridgev2 handles events:
// the homeserver's PUT /transactions is answered only after every event of it was handled, and
// with an error when an event failed for a transient reason (database unreachable), so the
// homeserver sends the transaction again; the retry carries only the events that failed.
package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/commands"
	"maunium.net/go/mautrix/bridgev2/matrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/mxconn"
)

const transactionPath = "/_matrix/app/v1/transactions/"

// barrierType is an internal event type pushed through the appservice's event queue behind a
// transaction's events: when its handler runs, every event before it has been handled.
var barrierType = event.Type{Type: "fi.passerelle.delivery.barrier", Class: event.MessageEventType}

// MaxHandlingWait bounds how long a transaction's response waits for its events to be handled.
// Past it the transaction is acknowledged anyway (the handlers are still running and will finish;
// answering with an error would make the homeserver send events that are being handled).
var MaxHandlingWait = 10 * time.Minute

// Inbound is the durable front of the appservice transaction endpoint.
type Inbound struct {
	as  *appservice.AppService
	log zerolog.Logger

	// txnMu serialises transactions: the barrier proves completion only for what was queued
	// before it.
	txnMu sync.Mutex

	mu sync.Mutex
	// failed holds the events whose handling failed transiently in the transaction being
	// handled, by event ID, with the reason.
	failed map[id.EventID]error
	// watching is the set of event IDs of the transaction being handled.
	watching map[id.EventID]bool
	// retries remembers, per homeserver transaction ID answered with an error, which events to
	// hand over again and how many attempts were made.
	retries map[string]*retryState
	// completed remembers the last transaction IDs answered with success, with the events
	// handed over under each, so a homeserver that sends one again (its acknowledgement was
	// lost) does not get its events handled twice.
	completed     map[string]map[id.EventID]bool
	completedRing []string
	completedNext int

	// barriers are the pending barrier events, by their ID.
	barriers   map[id.EventID]chan struct{}
	barrierSeq int

	// handled reports whether bridgev2 already has a message or reaction for a Matrix event:
	// the homeserver sends a transaction again when the bridge died before answering it, and
	// bridgev2 would send such an event to the remote network a second time.
	handled func(ctx context.Context, evtType string, evtID id.EventID) (bool, error)
	// ownUser reports the bridge's bot and ghosts, whose events bridgev2 ignores: they need no
	// handled lookup. Each message bridged to Matrix comes back in a transaction as its ghost's
	// event, so skipping it saves a query per bridged message.
	ownUser func(id.UserID) bool
	// started is when this process started (zero: every event is looked up).
	started time.Time
	// seen holds the IDs of events that came in transactions, for catch-up (catchup.go).
	seen *seenSet
	// caughtUp holds the events catch-up handed over, with when: the homeserver may still push
	// one that was only late, and it must not be handled twice (edits and redactions leave no
	// row for the handled lookup).
	caughtUpMu sync.Mutex
	caughtUp   map[id.EventID]time.Time
	// stopping is closed when the bridge shuts down.
	stopping func() <-chan struct{}
}

type retryState struct {
	// failed are the events to hand over again; tried all events handed over so far. The
	// homeserver may add newer events to a transaction it sends again: those were never
	// tried and go through.
	failed  map[id.EventID]bool
	tried   map[id.EventID]bool
	attempt int
}

// Install puts Inbound in front of the Matrix connector's transaction endpoint, routes
// bridgev2's message statuses through it and gives bridged messages stable transaction IDs. Call it after mxmain's Init and before Start.
func Install(mx *matrix.Connector, br *bridgev2.Bridge) *Inbound {
	in := newInbound(mx.AS, mx.EventProcessor, br.Log.With().Str("component", "delivery").Logger())
	in.stopping = func() <-chan struct{} {
		// Created when the bridge starts, after Install.
		if ctx := br.BackgroundCtx; ctx != nil {
			return ctx.Done()
		}
		return nil
	}
	in.handled = func(ctx context.Context, evtType string, evtID id.EventID) (bool, error) {
		switch evtType {
		case event.EventMessage.Type, event.EventSticker.Type, event.EventUnstablePollStart.Type:
			msg, err := br.DB.Message.GetPartByMXID(ctx, evtID)
			return msg != nil, err
		case event.EventReaction.Type:
			r, err := br.DB.Reaction.GetByMXID(ctx, evtID)
			return r != nil, err
		}
		return false, nil
	}
	in.ownUser = func(u id.UserID) bool { return u == br.Bot.GetMXID() || br.IsGhostMXID(u) }
	in.started = time.Now()
	base := mx.AS.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	mx.AS.HTTPClient.Transport = &stableTxnTransport{base: base, since: time.Now()}
	installCrypto(mx, in)
	br.Matrix = &statusTap{Connector: mx, in: in}
	// mautrix's discard-megolm-session expects the bare connector behind Bridge.Matrix.
	if proc, ok := br.Commands.(*commands.Processor); ok {
		proc.AddHandler(discardMegolmSession)
	}
	return in
}

// newInbound hooks the transaction endpoint of as, whose events ep handles synchronously.
func newInbound(as *appservice.AppService, ep *appservice.EventProcessor, log zerolog.Logger) *Inbound {
	in := &Inbound{
		as:       as,
		log:      log,
		failed:   map[id.EventID]error{},
		watching: map[id.EventID]bool{},
		retries:  map[string]*retryState{},
		barriers: map[id.EventID]chan struct{}{},
		seen:     newSeenSet(1 << 18),
		stopping: func() <-chan struct{} { return nil },

		completed:     map[string]map[id.EventID]bool{},
		completedRing: make([]string, 4096),
	}
	ep.On(barrierType, func(ctx context.Context, evt *event.Event) {
		in.mu.Lock()
		done := in.barriers[evt.ID]
		delete(in.barriers, evt.ID)
		in.mu.Unlock()
		if done != nil {
			close(done)
		}
	})
	as.Middleware = append(as.Middleware, in.Middleware)
	return in
}

// Middleware intercepts PUT /_matrix/app/v1/transactions/{txnID}; everything else passes.
func (in *Inbound) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, transactionPath) {
			next.ServeHTTP(w, r)
			return
		}
		in.serveTransaction(w, r, next)
	})
}

func (in *Inbound) serveTransaction(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if !in.as.CheckServerToken(w, r) {
		return
	}
	txnID := strings.TrimPrefix(r.URL.Path, transactionPath)
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		mautrix.MNotJSON.WithMessage("Failed to read the transaction body").Write(w)
		return
	}
	var txn struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(body, &txn); err != nil {
		// mautrix gives the precise error; nothing of ours to track.
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
		return
	}

	in.txnMu.Lock()
	defer in.txnMu.Unlock()
	// Events this process never received before and created after it started cannot have been
	// handled by any process: they need no handled lookup.
	fresh := map[id.EventID]bool{}
	for _, evtID := range eventIDs(txn.Events) {
		if evtID != "" && !in.seen.has(evtID) {
			fresh[evtID] = true
		}
	}
	if !strings.HasPrefix(txnID, catchupTxnPrefix) {
		in.seen.add(eventIDs(txn.Events))
	}
	if e := in.log.Debug(); e.Enabled() {
		e.Str("txn_id", txnID).Array("event_ids", eventIDList(eventIDs(txn.Events))).Msg("Transaction received")
	}

	forward, ids := body, eventIDs(txn.Events)
	if in.handled != nil || in.anyCaughtUp() {
		kept, dropped, err := in.dropHandled(r.Context(), txn.Events, ids, fresh)
		if err != nil {
			in.log.Warn().Err(err).Str("txn_id", txnID).Msg("Cannot check the transaction for events handled before; asking the homeserver to send it again")
			mautrix.RespError{
				ErrCode: "M_UNKNOWN", Err: "the bridge database is unavailable; send the transaction again",
				StatusCode: http.StatusServiceUnavailable,
			}.Write(w)
			return
		}
		if dropped > 0 {
			in.log.Info().Str("txn_id", txnID).Int("already_handled", dropped).
				Msg("Skipping events this bridge handled before the homeserver sent them again")
			txn.Events = kept
			ids = eventIDs(kept)
			var top map[string]json.RawMessage
			_ = json.Unmarshal(body, &top)
			top["events"], _ = json.Marshal(kept)
			forward, _ = json.Marshal(top)
		}
	}
	innerID := txnID
	in.mu.Lock()
	retry, done := in.retries[txnID], in.completed[txnID]
	in.mu.Unlock()
	if done != nil {
		// A completed transaction sent again carries only events handled already, unless the
		// homeserver lost its own record of it (Dendrite killed, its queue rewound) and reused
		// the ID for a longer one: those new events are handed over, under a fresh ID.
		kept := make([]json.RawMessage, 0, len(ids))
		var keptIDs []id.EventID
		for i, evtID := range ids {
			if !done[evtID] {
				kept, keptIDs = append(kept, txn.Events[i]), append(keptIDs, evtID)
			}
		}
		if len(kept) == 0 {
			in.log.Debug().Str("txn_id", txnID).Msg("Ignoring a transaction that was already handled")
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{}"))
			return
		}
		in.log.Info().Str("txn_id", txnID).Int("events", len(kept)).
			Msg("A transaction handled before came again with new events; handling those")
		forward, _ = json.Marshal(map[string]any{"events": kept})
		ids = keptIDs
		innerID = txnID + ".more" + strconv.Itoa(len(done))
	} else if retry != nil {
		// The homeserver sends the same transaction again after our error: hand over the events
		// that failed and any it added, not those handled already, under a fresh ID (mautrix
		// remembers the first one as processed).
		kept := make([]json.RawMessage, 0, len(txn.Events))
		for i, raw := range txn.Events {
			if retry.failed[ids[i]] || !retry.tried[ids[i]] {
				kept = append(kept, raw)
			}
		}
		forward, _ = json.Marshal(map[string]any{"events": kept})
		ids = eventIDs(kept)
		retry.attempt++
		innerID = txnID + ".retry" + strconv.Itoa(retry.attempt)
		in.log.Info().Str("txn_id", txnID).Int("attempt", retry.attempt).Int("events", len(kept)).
			Msg("Handling events of a transaction again after a transient failure")
	}

	in.mu.Lock()
	clear(in.failed)
	clear(in.watching)
	for _, evtID := range ids {
		in.watching[evtID] = true
	}
	in.mu.Unlock()

	inner := r.Clone(r.Context())
	inner.URL.Path = transactionPath + innerID
	inner.URL.RawPath = ""
	inner.Body = io.NopCloser(bytes.NewReader(forward))
	inner.ContentLength = int64(len(forward))
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	next.ServeHTTP(rec, inner)
	if rec.status != http.StatusOK {
		rec.copyTo(w)
		return
	}
	switch in.waitHandled(txnID) {
	case waitTimedOut:
		rec.copyTo(w)
		return
	case waitStopping:
		in.log.Info().Str("txn_id", txnID).Msg("Shutting down before the transaction was handled; the homeserver will send it again")
		mautrix.RespError{
			ErrCode: "M_UNKNOWN", Err: "the bridge is shutting down; send the transaction again",
			StatusCode: http.StatusServiceUnavailable,
		}.Write(w)
		return
	}

	in.mu.Lock()
	failed := map[id.EventID]bool{}
	var reasons []string
	for evtID, err := range in.failed {
		failed[evtID] = true
		reasons = append(reasons, fmt.Sprintf("%s: %v", evtID, err))
	}
	clear(in.watching)
	if len(failed) == 0 {
		delete(in.retries, txnID)
		all := ids
		if retry != nil {
			for evtID := range retry.tried {
				all = append(all, evtID)
			}
		}
		in.markCompleted(txnID, all)
	} else {
		next := &retryState{failed: failed, tried: map[id.EventID]bool{}}
		if retry != nil {
			next.attempt, next.tried = retry.attempt, retry.tried
		}
		for _, evtID := range ids {
			next.tried[evtID] = true
		}
		in.retries[txnID] = next
	}
	in.mu.Unlock()

	if len(failed) > 0 {
		in.log.Warn().Str("txn_id", txnID).Strs("failures", reasons).
			Msg("Events could not be handled for a transient reason; asking the homeserver to send them again")
		mautrix.RespError{
			ErrCode:    "M_UNKNOWN",
			Err:        fmt.Sprintf("%d event(s) could not be handled yet (%s); send the transaction again", len(failed), reasons[0]),
			StatusCode: http.StatusServiceUnavailable,
		}.Write(w)
		return
	}
	rec.copyTo(w)
}

func (in *Inbound) markCompleted(txnID string, ids []id.EventID) {
	if done := in.completed[txnID]; done != nil {
		for _, evtID := range ids {
			done[evtID] = true
		}
		return
	}
	if old := in.completedRing[in.completedNext]; old != "" {
		delete(in.completed, old)
	}
	in.completedRing[in.completedNext] = txnID
	in.completedNext = (in.completedNext + 1) % len(in.completedRing)
	done := make(map[id.EventID]bool, len(ids))
	for _, evtID := range ids {
		done[evtID] = true
	}
	in.completed[txnID] = done
}

// waitResult is how waiting for a transaction's events ended.
type waitResult int

const (
	waitHandled waitResult = iota
	// waitTimedOut: handling goes on; acknowledge so the homeserver does not send it twice.
	waitTimedOut
	// waitStopping: the bridge is shutting down before the events were handled; refuse the
	// transaction so the homeserver hands it to the next bridge process.
	waitStopping
)

// waitHandled queues a barrier behind the transaction's events and waits until the event
// processor reaches it.
func (in *Inbound) waitHandled(txnID string) waitResult {
	done := make(chan struct{})
	in.mu.Lock()
	in.barrierSeq++
	barrierID := id.EventID(fmt.Sprintf("$passerelle-barrier-%d", in.barrierSeq))
	in.barriers[barrierID] = done
	in.mu.Unlock()
	forget := func() {
		in.mu.Lock()
		delete(in.barriers, barrierID)
		in.mu.Unlock()
	}
	timeout := time.NewTimer(MaxHandlingWait)
	defer timeout.Stop()
	select {
	case in.as.Events <- &event.Event{Type: barrierType, ID: barrierID}:
	case <-in.stopping():
		forget()
		return waitStopping
	case <-timeout.C:
		forget()
		in.log.Error().Str("txn_id", txnID).Msg("Event queue did not accept the transaction barrier; acknowledging without proof of handling")
		return waitTimedOut
	}
	select {
	case <-done:
		return waitHandled
	case <-in.stopping():
		return waitStopping
	case <-timeout.C:
		in.log.Error().Str("txn_id", txnID).Dur("waited", MaxHandlingWait).
			Msg("Transaction still being handled; acknowledging it so the homeserver does not send it twice")
		return waitTimedOut
	}
}

// observe records the outcome bridgev2 reported for an event; it returns true when the status
// must not reach the user because the event will be handled again.
func (in *Inbound) observe(ms *bridgev2.MessageStatus, evt *bridgev2.MessageStatusEventInfo) bool {
	if evt == nil || evt.SourceEventID == "" || ms == nil {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.watching[evt.SourceEventID] {
		return false
	}
	if ms.Status == event.MessageStatusSuccess || ms.Status == event.MessageStatusPending {
		delete(in.failed, evt.SourceEventID)
		return false
	}
	if Transient(ms.InternalError) {
		in.failed[evt.SourceEventID] = ms.InternalError
		return true
	}
	delete(in.failed, evt.SourceEventID)
	return false
}

// failTransient records that evtID, an event of the transaction being handled, failed for a
// transient reason outside bridgev2's statuses (its decryption, see bridgeCrypto.Decrypt), so the
// transaction is refused and sent again as for a transient status.
func (in *Inbound) failTransient(evtID id.EventID, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.watching[evtID] {
		in.failed[evtID] = err
	}
}

// dropHandled removes the events bridgev2 already handled (see Inbound.handled).
//
// An event in fresh (never received by this process) dated after the process started (less the
// clock skew) skips the lookup: no earlier process can have handled it, and the query would
// otherwise cost every Matrix message a database round trip.
func (in *Inbound) dropHandled(ctx context.Context, raws []json.RawMessage, ids []id.EventID, fresh map[id.EventID]bool) (kept []json.RawMessage, dropped int, err error) {
	kept = make([]json.RawMessage, 0, len(raws))
	for i, raw := range raws {
		var head struct {
			Type      string    `json:"type"`
			StateKey  *string   `json:"state_key"`
			Sender    id.UserID `json:"sender"`
			Timestamp int64     `json:"origin_server_ts"`
		}
		_ = json.Unmarshal(raw, &head)
		if in.wasCaughtUp(ids[i]) {
			in.log.Debug().Stringer("event_id", ids[i]).Msg("Event bridged by catch-up before the homeserver sent it; not handing it over again")
			dropped++
			continue
		}
		newer := fresh[ids[i]] && !in.started.IsZero() && time.UnixMilli(head.Timestamp).After(in.started.Add(clockSkew))
		if in.handled != nil && !newer && head.StateKey == nil && ids[i] != "" && (in.ownUser == nil || !in.ownUser(head.Sender)) {
			done, err := in.handled(ctx, head.Type, ids[i])
			if err != nil {
				return nil, 0, fmt.Errorf("look up event %s: %w", ids[i], err)
			}
			if done {
				in.log.Debug().Stringer("event_id", ids[i]).Msg("Event already handled; not handing it over again")
				dropped++
				continue
			}
		}
		kept = append(kept, raw)
	}
	return kept, dropped, nil
}

func eventIDs(raws []json.RawMessage) []id.EventID {
	out := make([]id.EventID, len(raws))
	for i, raw := range raws {
		var head struct {
			ID id.EventID `json:"event_id"`
		}
		_ = json.Unmarshal(raw, &head)
		out[i] = head.ID
	}
	return out
}

// statusTap is the Matrix connector with message statuses observed on their way out. It embeds
// the concrete connector so every optional interface bridgev2 looks for stays implemented.
type statusTap struct {
	*matrix.Connector
	in *Inbound
}

// Unwrap gives the mautrix connector to code that needs it (see internal/mxconn).
func (t *statusTap) Unwrap() bridgev2.MatrixConnector { return t.Connector }

// SendMessageStatus withholds failure statuses of events that will be handled again.
func (t *statusTap) SendMessageStatus(ctx context.Context, ms *bridgev2.MessageStatus, evt *bridgev2.MessageStatusEventInfo) {
	if t.in.observe(ms, evt) {
		zerolog.Ctx(ctx).Debug().Err(ms.InternalError).Msg("Not reporting a transient failure: the event will be handled again")
		return
	}
	t.Connector.SendMessageStatus(ctx, ms, evt)
}

var discardMegolmSession = &commands.FullHandler{
	Func: func(ce *commands.Event) {
		mx, ok := mxconn.Of(ce.Bridge.Matrix)
		if !ok || mx.Crypto == nil {
			ce.Reply("This bridge instance doesn't have end-to-bridge encryption enabled")
			return
		}
		mx.Crypto.ResetSession(ce.Ctx, ce.RoomID)
		ce.Reply("Discarded the Megolm session of this room: new keys are shared with the next message bridged from the remote network.")
	},
	Name:          matrix.CommandDiscardMegolmSession.Name,
	Aliases:       matrix.CommandDiscardMegolmSession.Aliases,
	Help:          matrix.CommandDiscardMegolmSession.Help,
	RequiresAdmin: matrix.CommandDiscardMegolmSession.RequiresAdmin,
}

// recorder keeps the inner handler's response until the transaction has been handled.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

func (r *recorder) copyTo(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body.Bytes())
}

type eventIDList []id.EventID

func (l eventIDList) MarshalZerologArray(a *zerolog.Array) {
	for _, e := range l {
		a.Str(string(e))
	}
}

func (in *Inbound) anyCaughtUp() bool {
	in.caughtUpMu.Lock()
	defer in.caughtUpMu.Unlock()
	return len(in.caughtUp) > 0
}

func (in *Inbound) wasCaughtUp(evtID id.EventID) bool {
	in.caughtUpMu.Lock()
	defer in.caughtUpMu.Unlock()
	_, ok := in.caughtUp[evtID]
	return ok
}

// markCaughtUp records events catch-up handed over; entries older than a day are forgotten (no
// homeserver holds an event that long without a bridge restart, which forgets them all anyway).
func (in *Inbound) markCaughtUp(ids []id.EventID) {
	in.caughtUpMu.Lock()
	defer in.caughtUpMu.Unlock()
	now := time.Now()
	if in.caughtUp == nil {
		in.caughtUp = map[id.EventID]time.Time{}
	}
	for evtID, at := range in.caughtUp {
		if now.Sub(at) > 24*time.Hour {
			delete(in.caughtUp, evtID)
		}
	}
	for _, evtID := range ids {
		in.caughtUp[evtID] = now
	}
}
