// Package outbox keeps the Matrix events a user sends while their WhatsApp or Telegram connection
// is down, and sends them, in order, once it is back.
//
// Each connector's Matrix handlers (messages, edits, reactions, redactions) call Hold first: when
// the login's connection is down, or events of the login are already waiting, the event is stored
// in passerelle_outbox and the handler answers bridgev2 with a PENDING message status, so nothing
// overtakes what is queued. A send that fails because the connection broke is handed to Requeue.
// When the connector reports the login CONNECTED again, Connected replays the queue in order by
// giving each stored event back to bridgev2 (Bridge.QueueMatrixEvent), which maps it in its
// message table and sends the message statuses exactly as for a live event. A row is deleted once
// bridgev2 handled the event, successfully or with a permanent failure (whose status bridgev2
// sends); the replay stops at the first event that meets a disconnect again. Rows live in the
// bridge database, so a queue survives a restart and is replayed when the login connects.
//
// bridgev2 resolves the target of an edit, reaction or redaction in its message table before the
// connector sees it, so a queued message gets a placeholder row there (ID "<net>.outbox.<event
// ID>") until it is replayed; without it, editing a message that waits in the outbox would be
// refused by bridgev2 as "target not found". The placeholder is removed just before the message is
// replayed, so bridgev2 stores the real row under the same event ID.
//
// Duplicates: before replaying a message or reaction whose row was kept by a crash between the
// send and the deletion, the bridge's message (or reaction) table is checked for the event ID;
// a real row there means the event already reached the network. Telegram sends also carry a
// random_id derived from the event ID, so Telegram refuses a second copy itself.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/metrics"
	"github.com/passerelle-bridge/passerelle/portal"
)

// ErrQueued is wrapped by the status returned for an event that waits in the outbox.
var ErrQueued = errors.New("queued in the outbox")

// QueueName is the queue label of the passerelle_queue_depth series.
const QueueName = "outbox"

// Outbox is the bridge-wide outbox; one per bridge, shared by both connectors.
type Outbox struct {
	br    *bridgev2.Bridge
	store *Store
	log   zerolog.Logger
	now   func() time.Time

	mu     sync.Mutex
	logins map[networkid.UserLoginID]*loginState
}

// loginState is what the outbox knows of one login in memory; the rows are the truth.
type loginState struct {
	pending   int
	replaying bool
	again     bool
	// current is the event being replayed: it alone passes Hold while others are queued.
	current id.EventID
	// noticed holds the rooms told about the outage, so a user is told once, not per message.
	noticed map[id.RoomID]bool
	// adopting holds events Adopt is recording as already sent: the replay must not send them.
	adopting map[id.EventID]bool
}

var (
	registryMu sync.Mutex
	registry   = map[*bridgev2.Bridge]*Outbox{}
)

// New makes the outbox of a bridge and registers it, so the connectors find it with For.
// Call Upgrade before the logins connect.
func New(br *bridgev2.Bridge) *Outbox {
	o := &Outbox{
		br:     br,
		store:  NewStore(br.DB.Database),
		log:    br.Log.With().Str("component", "outbox").Logger(),
		now:    time.Now,
		logins: map[networkid.UserLoginID]*loginState{},
	}
	registryMu.Lock()
	registry[br] = o
	registryMu.Unlock()
	return o
}

// For returns the outbox of a bridge, or nil when it has none (a connector used on its own); all
// methods of a nil Outbox do nothing.
func For(br *bridgev2.Bridge) *Outbox {
	registryMu.Lock()
	defer registryMu.Unlock()
	return registry[br]
}

// Store gives access to the rows (tests, operators' tools).
func (o *Outbox) Store() *Store { return o.store }

// Upgrade creates the table and loads the number of queued events per login.
func (o *Outbox) Upgrade(ctx context.Context) error {
	if err := o.store.Upgrade(ctx); err != nil {
		return err
	}
	counts, err := o.store.Counts(ctx)
	if err != nil {
		return err
	}
	o.mu.Lock()
	for login, n := range counts {
		o.stateLocked(login).pending = n
	}
	o.mu.Unlock()
	o.publishDepth()
	if len(counts) > 0 {
		o.log.Info().Any("queued", counts).Msg("Events wait in the outbox; they are sent when their login connects")
	}
	return nil
}

func (o *Outbox) stateLocked(login networkid.UserLoginID) *loginState {
	st := o.logins[login]
	if st == nil {
		st = &loginState{noticed: map[id.RoomID]bool{}, adopting: map[id.EventID]bool{}}
		o.logins[login] = st
	}
	return st
}

// Pending is the number of events queued for a login.
func (o *Outbox) Pending(login networkid.UserLoginID) int {
	if o == nil {
		return 0
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stateLocked(login).pending
}

// publishDepth sets passerelle_queue_depth{queue="outbox"} per network.
func (o *Outbox) publishDepth() {
	o.mu.Lock()
	depth := map[portal.Network]int{}
	for _, n := range portal.Networks {
		depth[n] = 0
	}
	for login, st := range o.logins {
		if n, err := portal.NetworkOf(string(login)); err == nil {
			depth[n] += st.pending
		}
	}
	o.mu.Unlock()
	for n, d := range depth {
		metrics.SetQueueDepth(string(n), QueueName, d)
	}
}

func networkName(login networkid.UserLoginID) string {
	if n, err := portal.NetworkOf(string(login)); err == nil {
		return n.Name()
	}
	return "the network"
}

// queuedStatus is what bridgev2 sends for a queued event: PENDING (a will-retry checkpoint), never
// a failure notice.
func queuedStatus(login networkid.UserLoginID, cause string) error {
	text := fmt.Sprintf("Not connected to %s: queued, it will be sent when %s reconnects.", networkName(login), networkName(login))
	err := fmt.Errorf("%w (%s)", ErrQueued, cause)
	return bridgev2.WrapErrorInStatus(err).WithStatus(event.MessageStatusPending).WithMessage(text).WithIsCertain(true).WithSendNotice(false)
}

// Hold is called first by a connector's Matrix handler. online says whether the login's
// connection to the network is up right now; self is the login's own user ID on the network (the
// sender of a placeholder row). It returns nil when the handler should send the event now, or the
// PENDING status to return to bridgev2 when the event was queued (or could not be queued).
func (o *Outbox) Hold(ctx context.Context, login *bridgev2.UserLogin, p *bridgev2.Portal, evt *event.Event, online bool, self networkid.UserID) error {
	if o == nil || evt == nil || evt.ID == "" || login == nil || p == nil {
		return nil
	}
	o.mu.Lock()
	st := o.stateLocked(login.ID)
	replayingThis := st.current == evt.ID
	pending := st.pending
	o.mu.Unlock()
	if replayingThis {
		if online {
			return nil
		}
		// The connection dropped again before this event's turn came: it stays queued.
		return o.Requeue(ctx, login, p, evt, self, errors.New("not connected"))
	}
	if online && pending == 0 {
		return nil
	}
	reason := "not connected"
	if online {
		reason = "earlier events of this login are still queued"
	}
	err := o.enqueue(ctx, login, p, evt, self, reason)
	if online {
		// Connected but something is queued (for example an event that arrived while a replay
		// was finishing): make sure a replay runs.
		o.Connected(login)
	}
	return err
}

// Requeue is for a send that failed because the connection broke (not a refusal by the network):
// the event goes to the outbox (or stays there, when it was being replayed) and the PENDING
// status is returned instead of sendErr.
func (o *Outbox) Requeue(ctx context.Context, login *bridgev2.UserLogin, p *bridgev2.Portal, evt *event.Event, self networkid.UserID, sendErr error) error {
	if o == nil || evt == nil || evt.ID == "" || login == nil || p == nil {
		return sendErr
	}
	return o.enqueue(ctx, login, p, evt, self, sendErr.Error())
}

// RequeueUncertain is Requeue for a send that was cut off after it left: the network may have
// the message already. The entry is marked so that the message, when the network shows it as the
// user's own, is adopted (Adopt) instead of being sent again or shown twice.
func (o *Outbox) RequeueUncertain(ctx context.Context, login *bridgev2.UserLogin, p *bridgev2.Portal, evt *event.Event, self networkid.UserID, sendErr error) error {
	status := o.Requeue(ctx, login, p, evt, self, sendErr)
	if errors.Is(status, ErrQueued) {
		if err := o.store.MarkUncertain(ctx, evt.ID); err != nil {
			o.log.Warn().Err(err).Stringer("event_id", evt.ID).Msg("Could not mark a cut-off send as uncertain")
		}
	}
	return status
}

// AdoptResult is what Adopt found for a message the network shows as the user's own.
type AdoptResult int

const (
	// NotQueued: no uncertain queued message matches; the message is the user's own from
	// elsewhere (another app), to be bridged as usual.
	NotQueued AdoptResult = iota
	// Adopted: it was a queued message whose send was cut off; it is now recorded as sent
	// (message row, SUCCESS status), and must not be bridged to Matrix again.
	Adopted
	// InFlight: it matches the queued message being replayed right now; the replay will find
	// it (the network refuses the second copy), so it must not be bridged either.
	InFlight
)

// Adopt looks for an uncertain queued message of the login in portal that match says is msg, a
// message the network shows as the user's own: a send cut off after it left did reach the
// network. The queued event is then recorded as that message (row's ID, timestamp and metadata
// taken from row), leaves the outbox, and its SUCCESS status is sent.
func (o *Outbox) Adopt(ctx context.Context, login *bridgev2.UserLogin, key networkid.PortalKey, match func(*event.Event) bool, row *database.Message) (AdoptResult, error) {
	if o == nil || login == nil {
		return NotQueued, nil
	}
	if o.Pending(login.ID) == 0 {
		return NotQueued, nil
	}
	entries, err := o.store.List(ctx, login.ID)
	if err != nil {
		return NotQueued, err
	}
	for _, e := range entries {
		if !e.Uncertain || e.Portal != key || !isNewMessage(e.Event) || !match(e.Event) {
			continue
		}
		o.mu.Lock()
		st := o.stateLocked(login.ID)
		if st.current == e.EventID {
			o.mu.Unlock()
			return InFlight, nil
		}
		st.adopting[e.EventID] = true
		o.mu.Unlock()
		err = o.adopt(ctx, login, e, row)
		o.mu.Lock()
		delete(st.adopting, e.EventID)
		o.mu.Unlock()
		if err != nil {
			return NotQueued, err
		}
		return Adopted, nil
	}
	return NotQueued, nil
}

func (o *Outbox) adopt(ctx context.Context, login *bridgev2.UserLogin, e *Entry, row *database.Message) error {
	o.dropPlaceholder(ctx, e.EventID)
	adopted := *row
	adopted.MXID, adopted.Room, adopted.SenderMXID = e.EventID, e.Portal, e.Event.Sender
	if err := o.br.DB.Message.Insert(ctx, &adopted); err != nil {
		return fmt.Errorf("record queued %s as sent message %s: %w", e.EventID, row.ID, err)
	}
	removed, err := o.store.Delete(ctx, e.EventID)
	if err != nil {
		return err
	}
	o.mu.Lock()
	if st := o.stateLocked(login.ID); st.pending > 0 && removed {
		st.pending--
	}
	o.mu.Unlock()
	o.publishDepth()
	o.log.Info().Stringer("event_id", e.EventID).Str("message_id", string(row.ID)).Str("login_id", string(login.ID)).
		Msg("A queued message whose send was cut off had reached the network; recorded as sent, not sent again")
	o.br.Matrix.SendMessageStatus(ctx, &bridgev2.MessageStatus{Status: event.MessageStatusSuccess, IsCertain: true}, bridgev2.StatusEventInfoFromEvent(e.Event))
	return nil
}

func (o *Outbox) enqueue(ctx context.Context, login *bridgev2.UserLogin, p *bridgev2.Portal, evt *event.Event, self networkid.UserID, reason string) error {
	log := o.log.With().Stringer("event_id", evt.ID).Str("login_id", string(login.ID)).Logger()
	added, err := o.store.Add(ctx, login.ID, p.PortalKey, evt, o.now())
	if err != nil {
		log.Err(err).Msg("Could not queue the event in the outbox")
		return bridgev2.WrapErrorInStatus(fmt.Errorf("%s is not reachable and the event could not be queued: %w", networkName(login.ID), err)).
			WithIsCertain(true).WithSendNotice(true)
	}
	if !added {
		_ = o.store.Failed(ctx, evt.ID, reason)
	}
	o.ensurePlaceholder(ctx, p, evt, self)
	o.mu.Lock()
	st := o.stateLocked(login.ID)
	if added {
		st.pending++
	}
	notify := !st.noticed[evt.RoomID]
	st.noticed[evt.RoomID] = true
	o.mu.Unlock()
	if added {
		o.publishDepth()
		log.Info().Str("reason", reason).Stringer("event_type", evt.Type).Msg("Queued Matrix event in the outbox")
	}
	if notify {
		go o.notice(login, evt)
	}
	return queuedStatus(login.ID, reason)
}

// notice tells the room once per outage: clients without message-status support (Element) show
// PENDING statuses nowhere, and bridgev2 sends notices only for failures.
func (o *Outbox) notice(login *bridgev2.UserLogin, evt *event.Event) {
	name := networkName(login.ID)
	content := &event.MessageEventContent{
		MsgType: event.MsgNotice,
		Body: fmt.Sprintf("⏳ Not connected to %s right now: your messages are kept and will be sent, in order, when %s reconnects.",
			name, name),
		Mentions: &event.Mentions{UserIDs: []id.UserID{evt.Sender}},
	}
	content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(evt.ID)
	ctx, cancel := context.WithTimeout(o.br.BackgroundCtx, time.Minute)
	defer cancel()
	if _, err := o.br.Bot.SendMessage(ctx, evt.RoomID, event.EventMessage, &event.Content{Parsed: content}, nil); err != nil {
		o.log.Warn().Err(err).Stringer("room_id", evt.RoomID).Msg("Could not send the outbox notice")
	}
}

// placeholderID is the message ID of a queued message's placeholder row.
func placeholderID(p *bridgev2.Portal, evtID id.EventID) networkid.MessageID {
	n, _ := portal.NetworkOf(string(p.ID))
	return networkid.MessageID(string(n) + ".outbox." + string(evtID))
}

// IsPlaceholder reports whether a message row is an outbox placeholder (connectors refuse to
// resolve those to a remote message).
func IsPlaceholder(msgID networkid.MessageID) bool {
	_, rest, ok := strings.Cut(string(msgID), ".")
	return ok && strings.HasPrefix(rest, "outbox.")
}

// isNewMessage is a message that creates a message row (not an edit).
func isNewMessage(evt *event.Event) bool {
	if evt.Type != event.EventMessage && evt.Type != event.EventSticker {
		return false
	}
	msg, ok := evt.Content.Parsed.(*event.MessageEventContent)
	return ok && msg.RelatesTo.GetReplaceID() == ""
}

func (o *Outbox) ensurePlaceholder(ctx context.Context, p *bridgev2.Portal, evt *event.Event, self networkid.UserID) {
	if !isNewMessage(evt) || self == "" {
		return
	}
	existing, err := o.br.DB.Message.GetPartByMXID(ctx, evt.ID)
	if err != nil || existing != nil {
		return
	}
	// The row's sender must be a ghost row (foreign key); bridgev2 does the same before its inserts.
	if _, err = o.br.GetGhostByID(ctx, self); err != nil {
		o.log.Warn().Err(err).Msg("Could not make the login's own ghost for an outbox placeholder")
		return
	}
	ts := time.UnixMilli(evt.Timestamp)
	if evt.Timestamp == 0 {
		ts = o.now()
	}
	err = o.br.DB.Message.Insert(ctx, &database.Message{
		ID: placeholderID(p, evt.ID), MXID: evt.ID, Room: p.PortalKey,
		SenderID: self, SenderMXID: evt.Sender, Timestamp: ts,
	})
	if err != nil {
		o.log.Warn().Err(err).Stringer("event_id", evt.ID).Msg("Could not store the outbox placeholder; edits of the queued message will be refused until it is sent")
	}
}

func (o *Outbox) dropPlaceholder(ctx context.Context, evtID id.EventID) {
	msg, err := o.br.DB.Message.GetPartByMXID(ctx, evtID)
	if err == nil && msg != nil && IsPlaceholder(msg.ID) {
		if err = o.br.DB.Message.Delete(ctx, msg.RowID); err != nil {
			o.log.Warn().Err(err).Stringer("event_id", evtID).Msg("Could not remove the outbox placeholder")
		}
	}
}

// Connected is called by a connector when the login is CONNECTED: the login's queue is replayed
// in the background. Safe to call often; one replay runs per login at a time.
func (o *Outbox) Connected(login *bridgev2.UserLogin) {
	if o == nil || login == nil {
		return
	}
	o.mu.Lock()
	st := o.stateLocked(login.ID)
	if st.pending == 0 && !st.replaying {
		st.noticed = map[id.RoomID]bool{}
		o.mu.Unlock()
		return
	}
	if st.replaying {
		st.again = true
		o.mu.Unlock()
		return
	}
	st.replaying = true
	o.mu.Unlock()
	go o.replay(login)
}

// replay sends a login's queued events in order until the queue is empty or one meets a
// disconnect again.
func (o *Outbox) replay(login *bridgev2.UserLogin) {
	log := o.log.With().Str("login_id", string(login.ID)).Logger()
	ctx := log.WithContext(o.br.BackgroundCtx)
	defer func() {
		o.mu.Lock()
		st := o.stateLocked(login.ID)
		st.replaying, st.current = false, ""
		again := st.again && st.pending > 0
		st.again = false
		o.mu.Unlock()
		if again {
			o.Connected(login)
		}
	}()
	sent := 0
	for ctx.Err() == nil {
		entry, err := o.store.Next(ctx, login.ID)
		if err != nil {
			log.Err(err).Msg("Could not read the outbox; the replay stops until the next connection")
			return
		}
		if entry == nil {
			o.mu.Lock()
			st := o.stateLocked(login.ID)
			st.pending = 0
			st.noticed = map[id.RoomID]bool{}
			o.mu.Unlock()
			o.publishDepth()
			if sent > 0 {
				log.Info().Int("sent", sent).Msg("Outbox replayed")
			}
			return
		}
		elog := log.With().Stringer("event_id", entry.EventID).Int64("outbox_id", entry.ID).Logger()
		// current is set before the check, so Adopt either finishes first (the check then finds
		// its row) or leaves this event to the replay.
		o.mu.Lock()
		st := o.stateLocked(login.ID)
		adopting := st.adopting[entry.EventID]
		if !adopting {
			st.current = entry.EventID
		}
		o.mu.Unlock()
		if adopting {
			// Adopt is recording it as sent and deletes the row; look again shortly.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if o.alreadyBridged(ctx, entry.Event) {
			o.mu.Lock()
			st.current = ""
			o.mu.Unlock()
			elog.Info().Msg("Queued event already reached the network (before a restart, or adopted); not sending it again")
		} else {
			if isNewMessage(entry.Event) {
				o.dropPlaceholder(ctx, entry.EventID)
			}
			res := o.br.QueueMatrixEvent(elog.WithContext(ctx), entry.Event)
			o.mu.Lock()
			o.stateLocked(login.ID).current = ""
			o.mu.Unlock()
			if errors.Is(res.Error, ErrQueued) {
				elog.Info().Msg("The connection dropped again; the outbox waits for the next connection")
				return
			}
			if !res.Success && !res.Ignored {
				elog.Warn().Err(res.Error).Msg("Queued event failed for good; its failure status was sent")
			} else {
				sent++
			}
		}
		removed, err := o.store.Delete(ctx, entry.EventID)
		if err != nil {
			elog.Err(err).Msg("Could not remove a handled event from the outbox; the replay stops")
			return
		}
		o.mu.Lock()
		if st := o.stateLocked(login.ID); st.pending > 0 && removed {
			st.pending--
		}
		o.mu.Unlock()
		o.publishDepth()
	}
}

// alreadyBridged tells whether a message or reaction already has its real row in bridgev2's
// tables (it was sent, then the bridge stopped before the outbox row was deleted).
func (o *Outbox) alreadyBridged(ctx context.Context, evt *event.Event) bool {
	switch {
	case isNewMessage(evt):
		msg, err := o.br.DB.Message.GetPartByMXID(ctx, evt.ID)
		return err == nil && msg != nil && !IsPlaceholder(msg.ID)
	case evt.Type == event.EventReaction:
		r, err := o.br.DB.Reaction.GetByMXID(ctx, evt.ID)
		return err == nil && r != nil
	}
	return false
}
