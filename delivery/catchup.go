package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/metrics"
)

// Catch-up bridges events that the homeserver stored but never pushed to the appservice.
//
// Dendrite v0.13.8 decides per event whether an appservice is interested by asking its
// roomserver who is joined; when that lookup fails, which happens while it shuts down, the event
// counts as uninteresting and is acknowledged in its queue without being sent: the sender's
// client shows the message as sent and the bridge never hears of it (seen in e2e's TestSoak,
// one message of a thousand lost across three homeserver restarts). Nothing in the appservice
// API lets a bridge ask for what it missed, so the bridge reads its rooms itself: the bot
// /syncs from a position taken when the bridge started, and every message-like event from
// someone else that never came in a transaction is handed over as if it had.
//
// An event is handed over when the homeserver has since pushed a later event of the same room
// (so its queue is past it: it was dropped, not delayed), or when it is older than the grace
// period (a homeserver backing off from a bridge that was down holds events for up to 64 s).

// CatchupIntervalEnv and CatchupGraceEnv override how often the rooms are read and how long an
// event may wait for its transaction (Go durations such as 30s or 2m); CatchupIntervalEnv=off
// turns catch-up off.
const (
	CatchupIntervalEnv = "PASSERELLE_CATCHUP_INTERVAL"
	CatchupGraceEnv    = "PASSERELLE_CATCHUP_GRACE"
)

// Defaults for catch-up: a dropped event followed by traffic in its room is bridged within
// about DefaultCatchupInterval; the last event of a quiet room within DefaultCatchupGrace plus
// the interval.
const (
	DefaultCatchupInterval = 30 * time.Second
	DefaultCatchupGrace    = 2 * time.Minute
)

// catchupTypes are the events bridgev2 carries to the remote network: messages and what acts on
// them, and the room changes it bridges (name, topic, avatar, members, power levels, the
// disappearing timer, an upgrade). A dropped rename or kick is as lost as a dropped message:
// bridgev2 reads a room's state when it needs it, but it never tells the network of a change it
// was not pushed.
var catchupTypes = []string{
	event.EventMessage.Type, event.EventSticker.Type, event.EventReaction.Type,
	event.EventRedaction.Type, event.EventEncrypted.Type,
	event.EventUnstablePollStart.Type, event.EventUnstablePollResponse.Type,
	"m.poll.start", "m.poll.response", "m.poll.end", "org.matrix.msc3381.poll.end",
	event.StateRoomName.Type, event.StateTopic.Type, event.StateRoomAvatar.Type,
	event.StateMember.Type, event.StatePowerLevels.Type, event.StateBeeperDisappearingTimer.Type,
	event.StateTombstone.Type,
}

// catchupPageLimit bounds the events read per room and sweep (after a long outage the oldest are
// left to the homeserver's own retries, and a warning says so).
const catchupPageLimit = 1000

// catchupTxnPrefix marks the transactions catch-up makes up: their events count as seen only
// once handled.
const catchupTxnPrefix = "passerelle-catchup-"

// CatchupSettings reads the catch-up settings from the environment; a bad value is an error
// naming the variable.
func CatchupSettings() (interval, grace time.Duration, err error) {
	interval, grace = DefaultCatchupInterval, DefaultCatchupGrace
	if v := os.Getenv(CatchupIntervalEnv); v == "off" {
		interval = 0
	} else if v != "" {
		if interval, err = time.ParseDuration(v); err != nil || interval < time.Second {
			return 0, 0, fmt.Errorf("%s=%q: want a duration of at least 1s (e.g. 30s) or off", CatchupIntervalEnv, v)
		}
	}
	if v := os.Getenv(CatchupGraceEnv); v != "" {
		if grace, err = time.ParseDuration(v); err != nil || grace < 0 {
			return 0, 0, fmt.Errorf("%s=%q: want a duration such as 2m", CatchupGraceEnv, v)
		}
	}
	return interval, grace, nil
}

// seenSet remembers the IDs of recent events that came in transactions, as 64-bit hashes in a
// ring: the last 262,144 events (about 10 MB at most, allocated as they come), minutes of traffic
// at hundreds of events a second, more than catch-up looks back over.
type seenSet struct {
	mu   sync.Mutex
	seed maphash.Seed
	set  map[uint64]struct{}
	ring []uint64
	next int
	size int
}

func newSeenSet(size int) *seenSet {
	return &seenSet{seed: maphash.MakeSeed(), set: map[uint64]struct{}{}, size: size}
}

func (s *seenSet) add(ids []id.EventID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, evtID := range ids {
		if evtID == "" {
			continue
		}
		h := maphash.String(s.seed, string(evtID))
		if _, ok := s.set[h]; ok {
			continue
		}
		if len(s.ring) < s.size {
			s.ring = append(s.ring, h)
		} else {
			delete(s.set, s.ring[s.next])
			s.ring[s.next] = h
			s.next = (s.next + 1) % s.size
		}
		s.set[h] = struct{}{}
	}
}

func (s *seenSet) has(evtID id.EventID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[maphash.String(s.seed, string(evtID))]
	return ok
}

// Catchup reads the bridge's rooms for events the homeserver never pushed (see the package's
// catch-up notes above).
type Catchup struct {
	in       *Inbound
	cli      *mautrix.Client
	log      zerolog.Logger
	interval time.Duration
	grace    time.Duration
	now      func() time.Time

	token   string
	batches int
	// waiting are events read but not pushed yet, that may still be (see Sweep).
	waiting []waitingEvent
}

// NewCatchup reads through cli, the bot's client, and hands events over to in.
func NewCatchup(in *Inbound, cli *mautrix.Client, interval, grace time.Duration) *Catchup {
	return &Catchup{
		in: in, cli: cli, interval: interval, grace: grace, now: time.Now,
		log: in.log.With().Str("subcomponent", "catchup").Logger(),
	}
}

// Run takes the starting position and sweeps every interval until ctx ends.
func (c *Catchup) Run(ctx context.Context) {
	if c.interval <= 0 {
		c.log.Info().Msg("Catch-up of events the homeserver did not push is off (" + CatchupIntervalEnv + "=off)")
		return
	}
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		if err := c.Sweep(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn().Err(err).Msg("Cannot read the rooms for events the homeserver did not push; trying again later")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

type syncRoom struct {
	Timeline struct {
		Events    []json.RawMessage `json:"events"`
		Limited   bool              `json:"limited"`
		PrevBatch string            `json:"prev_batch"`
	} `json:"timeline"`
}

type syncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[id.RoomID]syncRoom `json:"join"`
	} `json:"rooms"`
}

// eventHead is what catch-up reads of an event.
type eventHead struct {
	ID        id.EventID `json:"event_id"`
	Type      string     `json:"type"`
	Sender    id.UserID  `json:"sender"`
	Timestamp int64      `json:"origin_server_ts"`
	Unsigned  struct {
		RedactedBecause json.RawMessage `json:"redacted_because"`
	} `json:"unsigned"`
}

// noneType stands for "no event": an empty types list means every type to some homeservers.
const noneType = "fi.passerelle.none"

func (c *Catchup) filter(limit int) string {
	none := map[string]any{"types": []string{noneType}}
	f := map[string]any{
		"presence":     none,
		"account_data": none,
		"room": map[string]any{
			"timeline":     map[string]any{"limit": limit, "types": catchupTypes},
			"state":        map[string]any{"types": []string{noneType}, "lazy_load_members": true},
			"ephemeral":    none,
			"account_data": none,
		},
	}
	b, _ := json.Marshal(f)
	return string(b)
}

func (c *Catchup) sync(ctx context.Context, since string, limit int) (*syncResponse, error) {
	q := map[string]string{"timeout": "0", "filter": c.filter(limit)}
	if since != "" {
		q["since"] = since
	}
	var resp syncResponse
	_, err := c.cli.MakeFullRequest(ctx, mautrix.FullRequest{
		Method: http.MethodGet, URL: c.cli.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "sync"}, q),
		ResponseJSON: &resp, MaxAttempts: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("sync as the bridge bot: %w", err)
	}
	if resp.NextBatch == "" {
		return nil, fmt.Errorf("sync as the bridge bot: the homeserver gave no next_batch")
	}
	return &resp, nil
}

// Sweep reads what happened in the bot's rooms since the last position and hands over what was
// never pushed. The first call only takes the position. The position always moves on (so a busy
// room does not make each pass read more); events that may still be pushed wait in memory.
func (c *Catchup) Sweep(ctx context.Context) error {
	if c.token == "" {
		resp, err := c.sync(ctx, "", 0)
		if err != nil {
			return err
		}
		c.token = resp.NextBatch
		c.log.Debug().Msg("Catch-up position taken")
		return nil
	}
	resp, err := c.sync(ctx, c.token, 100)
	if err != nil {
		return err
	}
	windows := map[id.RoomID][]json.RawMessage{}
	for roomID, room := range resp.Rooms.Join {
		events := room.Timeline.Events
		if room.Timeline.Limited && room.Timeline.PrevBatch != "" {
			older, err := c.pageBack(ctx, roomID, room.Timeline.PrevBatch, c.token)
			if err != nil {
				return err
			}
			events = append(older, events...)
		}
		windows[roomID] = events
	}
	now := c.now()
	// Per room, the events that waited from earlier passes come first: they are older.
	waiting := map[id.RoomID][]waitingEvent{}
	known := map[id.EventID]bool{}
	for _, w := range c.waiting {
		if !c.in.seen.has(w.id) {
			waiting[w.room] = append(waiting[w.room], w)
			known[w.id] = true
		}
	}
	roomIDs := make([]id.RoomID, 0, len(windows)+len(waiting))
	for roomID := range windows {
		roomIDs = append(roomIDs, roomID)
	}
	for roomID := range waiting {
		if _, ok := windows[roomID]; !ok {
			roomIDs = append(roomIDs, roomID)
		}
	}
	sort.Slice(roomIDs, func(i, j int) bool { return roomIDs[i] < roomIDs[j] })
	var batch []json.RawMessage
	var batchIDs []id.EventID
	var stillWaiting []waitingEvent
	for _, roomID := range roomIDs {
		fresh, beforePushed := c.candidates(roomID, windows[roomID], known)
		candidates := append(waiting[roomID], fresh...)
		// The homeserver's queue is past the last event it pushed: everything unpushed before
		// that was dropped, not delayed.
		dropped := 0
		if beforePushed >= 0 {
			dropped = len(waiting[roomID]) + beforePushed
		}
		for i, cand := range candidates {
			if i < dropped || now.Sub(cand.ts) >= c.grace {
				batch = append(batch, cand.raw)
				batchIDs = append(batchIDs, cand.id)
			} else {
				stillWaiting = append(stillWaiting, cand)
			}
		}
	}
	if len(batch) > 0 {
		c.log.Warn().Int("events", len(batch)).Array("event_ids", eventIDList(batchIDs)).
			Msg("The homeserver stored events it never sent to the bridge; bridging them now")
		metrics.ObserveCatchup(len(batch))
		if err := c.handOver(ctx, batch, batchIDs); err != nil {
			// Position and waiting list stay: the next pass reads the same events again, and
			// skips those that went through (now seen).
			return err
		}
	}
	c.waiting = stillWaiting
	c.token = resp.NextBatch
	return nil
}

// waitingEvent is an event that was not pushed (yet) when catch-up read it.
type waitingEvent struct {
	room id.RoomID
	id   id.EventID
	raw  json.RawMessage // with room_id, as a transaction carries it
	ts   time.Time
}

// candidates returns the room's events that were never pushed and are not already waiting, in
// order, and how many of them come before the last event of the window that was pushed (-1 when
// none was).
func (c *Catchup) candidates(roomID id.RoomID, events []json.RawMessage, known map[id.EventID]bool) (out []waitingEvent, beforePushed int) {
	beforePushed = -1
	for _, raw := range events {
		var h eventHead
		if err := json.Unmarshal(raw, &h); err != nil || h.ID == "" {
			continue
		}
		if c.in.seen.has(h.ID) {
			beforePushed = len(out)
			continue
		}
		if known[h.ID] || len(h.Unsigned.RedactedBecause) > 0 ||
			(c.in.ownUser != nil && c.in.ownUser(h.Sender)) {
			continue
		}
		var full map[string]json.RawMessage
		if err := json.Unmarshal(raw, &full); err != nil {
			continue
		}
		full["room_id"], _ = json.Marshal(roomID)
		withRoom, _ := json.Marshal(full)
		out = append(out, waitingEvent{room: roomID, id: h.ID, raw: withRoom, ts: time.UnixMilli(h.Timestamp)})
	}
	return out, beforePushed
}

// pageBack reads a room backwards from a limited timeline's start down to the catch-up position,
// oldest first.
func (c *Catchup) pageBack(ctx context.Context, roomID id.RoomID, from, to string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	for len(out) < catchupPageLimit {
		q := map[string]string{"dir": "b", "from": from, "to": to, "limit": "100",
			"filter": `{"types":` + mustJSON(catchupTypes) + `}`}
		var resp struct {
			Chunk []json.RawMessage `json:"chunk"`
			End   string            `json:"end"`
		}
		_, err := c.cli.MakeFullRequest(ctx, mautrix.FullRequest{
			Method:       http.MethodGet,
			URL:          c.cli.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "rooms", roomID, "messages"}, q),
			ResponseJSON: &resp, MaxAttempts: 1,
		})
		if err != nil {
			return nil, fmt.Errorf("read room %s back to the catch-up position: %w", roomID, err)
		}
		out = append(out, resp.Chunk...)
		if len(resp.Chunk) == 0 || resp.End == "" || resp.End == from {
			break
		}
		from = resp.End
	}
	if len(out) >= catchupPageLimit {
		c.log.Warn().Stringer("room_id", roomID).Int("limit", catchupPageLimit).
			Msg("More events since the last catch-up than read per pass; older ones are left to the homeserver")
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// handOver passes the events through the transaction endpoint, so they get the same checks
// (handled before, transient failures) and the same wait for handling as pushed ones.
func (c *Catchup) handOver(ctx context.Context, events []json.RawMessage, ids []id.EventID) error {
	c.batches++
	txnID := catchupTxnPrefix + strconv.FormatInt(c.now().UnixNano(), 10) + "-" + strconv.Itoa(c.batches)
	body, _ := json.Marshal(map[string]any{"events": events})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, transactionPath+url.PathEscape(txnID), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.in.as.Registration.ServerToken)
	req.Header.Set("Content-Type", "application/json")
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	c.in.serveTransaction(rec, req, c.in.as.Router)
	if rec.status == http.StatusOK {
		c.in.seen.add(ids)
		c.in.markCaughtUp(ids)
		return nil
	}
	// What failed for a transient reason is read and handed over again by the next sweep (the
	// position did not move); what went through is not.
	c.in.mu.Lock()
	retry := c.in.retries[txnID]
	delete(c.in.retries, txnID)
	c.in.mu.Unlock()
	if retry != nil {
		done := make([]id.EventID, 0, len(ids))
		for _, evtID := range ids {
			if !retry.failed[evtID] {
				done = append(done, evtID)
			}
		}
		c.in.seen.add(done)
		c.in.markCaughtUp(done)
	}
	return fmt.Errorf("hand over %d missed events: status %d: %s", len(events), rec.status, rec.body.String())
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
