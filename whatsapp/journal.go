package whatsapp

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/passerelle-bridge/passerelle/delivery"
	"github.com/passerelle-bridge/passerelle/metrics"
)

// Incoming WhatsApp events reach bridgev2 through one ordered queue per login, worked by one
// goroutine. A bridged message is written to the inbound journal (devicestore, sealed) and
// acknowledged to WhatsApp at once; the worker hands it to bridgev2 and deletes the row once
// bridgev2 has handled it. whatsmeow can thus decrypt and save the next message while the
// previous one is being sent to Matrix, instead of after. A message stays in the journal until it
// was handled: a bridge stopped in between hands it over again at its next connect, and bridgev2
// drops what it had already bridged (by message ID).
//
// The other events that must stay in order with messages (receipts, undecryptable messages,
// group changes, calls) go through the same queue, but their whatsmeow handler waits for the
// result, so they are acknowledged only once handled, as before. A message that could not be
// journaled (database unreachable) takes that path too.

// MaxQueuedInbound bounds how many journaled events may wait in memory for bridgev2: beyond it
// whatsmeow's handler waits, so a long backlog stays on WhatsApp's side and in the journal's
// order rather than in memory.
var MaxQueuedInbound = 512

// inboundWaiting counts the events waiting in every login's queue, for
// passerelle_queue_depth{network="whatsapp",queue="inbound"}.
var inboundWaiting atomic.Int64

func countInbound(delta int64) {
	metrics.SetQueueDepth(metricsNetwork, "inbound", int(inboundWaiting.Add(delta)))
}

// inboundItem is one event waiting for the worker.
type inboundItem struct {
	seq   int64 // journal position; 0 when not journaled
	evt   any
	start time.Time
	// stored receives the outcome of the journal write of a message queued before its row was
	// written (the write overlaps the hand-off); nil when the row exists already.
	stored chan error
	// reply receives the outcome of an event whose whatsmeow handler waits for it: one that is
	// not journaled, or a message whose journal write failed.
	reply chan bool
}

// inboundQueue is a login's queue of events for bridgev2 (see above).
type inboundQueue struct {
	mu   sync.Mutex
	cond *sync.Cond
	// running is set while a worker and a deleter serve the queue; stop is closed to end them
	// (a disconnect or logout), so a client that is let go leaves no goroutine behind.
	running bool
	stop    chan struct{}
	// workers counts the running worker and deleter goroutines of every generation.
	workers sync.WaitGroup
	// items wait for the worker; journaled counts those with a journal row.
	items     []*inboundItem
	journaled int
	// inFlight holds the journal positions queued, being handled, or handled but not yet
	// deleted, so a replay of the journal does not queue them twice.
	inFlight map[int64]bool
	// handled are positions whose rows the deleter should remove.
	handled []int64
	wake    chan struct{}
	// replayPending is set while a replay of left-over rows is scheduled.
	replayPending bool
}

// journaledKey marks the context of a journaled event: it is acknowledged already, so a failed
// hand-off is retried from the journal, not by reconnecting to WhatsApp.
type journaledKey struct{}

// startInbound starts the queue's worker and deleter unless they run.
func (c *Client) startInbound() {
	q := &c.inbound
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running {
		return
	}
	if q.cond == nil {
		q.cond = sync.NewCond(&q.mu)
	}
	q.inFlight = make(map[int64]bool)
	q.wake = make(chan struct{}, 1)
	q.stop = make(chan struct{})
	q.running = true
	q.workers.Add(2)
	go func(wake, stop chan struct{}) {
		defer q.workers.Done()
		c.runInbound(wake, stop)
	}(q.wake, q.stop)
	go func(wake, stop chan struct{}) {
		defer q.workers.Done()
		c.runInboundDeleter(wake, stop)
	}(q.wake, q.stop)
}

// stopInbound ends the worker and the deleter once the event in hand is handled. Queued events
// are let go without loss: a journaled one stays in the journal (the next connect replays it),
// and the whatsmeow handler of any other is told it was not handled, so it is not acknowledged
// and WhatsApp sends it again.
func (c *Client) stopInbound() {
	q := &c.inbound
	q.mu.Lock()
	if !q.running {
		q.mu.Unlock()
		return
	}
	q.running = false
	close(q.stop)
	dropped := q.items
	q.items, q.journaled, q.handled = nil, 0, nil
	q.inFlight = make(map[int64]bool)
	q.cond.Broadcast()
	q.mu.Unlock()
	countInbound(-int64(len(dropped)))
	for _, item := range dropped {
		if item.reply != nil {
			item.reply <- false
		}
	}
}

// ordered reports the whatsmeow events that go through the queue: those that bridgev2 must
// handle in the order WhatsApp sent them.
func ordered(evt any) bool {
	switch e := evt.(type) {
	case *events.Message, *events.UndecryptableMessage, *events.Receipt, *events.GroupInfo,
		*events.JoinedGroup, *events.CallOffer:
		return true
	case *events.Picture:
		return e.JID.Server == types.GroupServer
	}
	return false
}

// enqueue hands an ordered event to the worker: a bridged message is journaled and acknowledged
// at once, any other event waits for its outcome.
func (c *Client) enqueue(start time.Time, evt any) bool {
	if !c.stopped.Load() {
		// Not after a disconnect: an event whatsmeow still delivers then is let go (see
		// stopInbound), so a login that is let go does not start the queue again.
		c.startInbound()
	}
	if msg, ok := evt.(*events.Message); ok {
		if dev, ok := c.journalDevice(); ok {
			return c.enqueueMessage(dev, start, msg)
		}
	}
	reply := make(chan bool, 1)
	c.push(&inboundItem{evt: evt, start: start, reply: reply}, false)
	return <-reply
}

// enqueueMessage is enqueue for a message of a client that journals. The message is queued as
// soon as it has a journal position and its row is written while the worker may already hand it
// over; it is acknowledged once the row exists. Without a row it is acknowledged only once
// bridgev2 took it.
func (c *Client) enqueueMessage(dev types.JID, start time.Time, msg *events.Message) bool {
	if !c.bridged(msg.Info.Chat) {
		return true
	}
	payload, err := encodeJournaled(msg)
	var seq int64
	if err == nil {
		seq, err = c.Main.Devices.ReserveInbound(context.Background(), dev)
	}
	reply := make(chan bool, 1)
	if err != nil {
		c.log.Warn().Err(err).Str("message_id", msg.Info.ID).
			Msg("Could not journal the WhatsApp message; handing it over before acknowledging it")
		observeError("journal")
		c.push(&inboundItem{evt: msg, start: start, reply: reply}, false)
		return <-reply
	}
	item := &inboundItem{seq: seq, evt: msg, start: start, stored: make(chan error, 1), reply: reply}
	c.push(item, true)
	err = c.journal(dev, seq, payload, start)
	item.stored <- err
	if err == nil {
		return true
	}
	c.log.Warn().Err(err).Str("message_id", msg.Info.ID).
		Msg("Could not journal the WhatsApp message; acknowledging it only once bridged")
	observeError("journal")
	return <-reply
}

// journalDevice is the device whose journal this client uses; ok is false without a stored
// device (a logout clears it, so it is read once per use).
func (c *Client) journalDevice() (jid types.JID, ok bool) {
	if c.Main == nil || c.Main.Devices == nil || c.Device == nil {
		return types.EmptyJID, false
	}
	if id := c.Device.ID; id != nil {
		return *id, true
	}
	return types.EmptyJID, false
}

func (c *Client) push(item *inboundItem, bounded bool) {
	q := &c.inbound
	q.mu.Lock()
	defer q.mu.Unlock()
	for bounded && q.journaled >= MaxQueuedInbound {
		q.cond.Wait()
	}
	c.pushLocked(item)
}

// pushLocked is push without the bound, with the queue's lock held. With the queue stopped
// the event is let go as stopInbound lets queued ones go.
func (c *Client) pushLocked(item *inboundItem) {
	q := &c.inbound
	if !q.running {
		if item.reply != nil {
			item.reply <- false
		}
		return
	}
	if item.seq != 0 {
		q.inFlight[item.seq] = true
		q.journaled++
	}
	q.items = append(q.items, item)
	q.cond.Broadcast()
	countInbound(1)
}

// runInbound is the worker of one generation of the queue (see startInbound): wake and stop are
// that generation's, so a worker finishing its last event after a restart of the queue touches
// nothing of the next one but the shared state under the lock.
func (c *Client) runInbound(wake, stop chan struct{}) {
	q := &c.inbound
	for {
		q.mu.Lock()
		for len(q.items) == 0 && !closed(stop) {
			q.cond.Wait()
		}
		if closed(stop) {
			q.mu.Unlock()
			return
		}
		item := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		if item.seq != 0 {
			q.journaled--
		}
		q.cond.Broadcast()
		q.mu.Unlock()
		countInbound(-1)

		ok := c.handleQueued(item)
		if item.stored != nil {
			if err := <-item.stored; err != nil {
				// Never journaled: its whatsmeow handler waits for this outcome.
				q.mu.Lock()
				delete(q.inFlight, item.seq)
				q.mu.Unlock()
				if !ok {
					c.redeliverLater()
				}
				item.reply <- ok
				continue
			}
		}
		switch {
		case item.seq == 0:
			item.reply <- ok
		case ok:
			q.mu.Lock()
			q.handled = append(q.handled, item.seq)
			q.mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		default:
			// Still in the journal: offered again after RedeliveryDelay, and at the next connect.
			q.mu.Lock()
			delete(q.inFlight, item.seq)
			q.mu.Unlock()
			c.replayLater()
		}
	}
}

// handleQueued hands one event to bridgev2; a panic counts as a failed hand-off.
func (c *Client) handleQueued(item *inboundItem) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error().Any("panic", r).Type("event_type", item.evt).Stack().Msg("Panic while handling WhatsApp event")
			ok = false
		}
	}()
	ctx := withArrival(c.log.WithContext(context.Background()), item.start)
	if item.seq != 0 {
		ctx = context.WithValue(ctx, journaledKey{}, true)
	}
	return c.handleRemote(ctx, item.evt)
}

// runInboundDeleter removes handled rows from the journal, in batches, off the worker's path. A
// row whose deletion failed stays in flight (not replayed) and is deleted with the next batch; if
// the bridge stops first, bridgev2 drops the replayed duplicate.
func (c *Client) runInboundDeleter(wake chan struct{}, stop chan struct{}) {
	q := &c.inbound
	pause := 100 * time.Millisecond
	for {
		select {
		case <-stop:
			return
		case <-wake:
		}
		q.mu.Lock()
		seqs := q.handled
		q.handled = nil
		q.mu.Unlock()
		dev, ok := c.journalDevice()
		if len(seqs) == 0 || !ok {
			continue
		}
		err := c.Main.Devices.DeleteInbound(context.Background(), dev, seqs)
		q.mu.Lock()
		if err != nil {
			q.handled = append(seqs, q.handled...)
		} else {
			for _, seq := range seqs {
				delete(q.inFlight, seq)
			}
		}
		q.mu.Unlock()
		if err != nil {
			c.log.Warn().Err(err).Int("rows", len(seqs)).Msg("Could not delete handled events from the WhatsApp journal; retrying")
			time.AfterFunc(pause, func() {
				select {
				case wake <- struct{}{}:
				default:
				}
			})
			pause = min(2*pause, 10*time.Second)
		} else {
			pause = 100 * time.Millisecond
		}
	}
}

// replayJournal queues the journal rows of this device that are not in flight, in order: those
// left by a bridge that stopped, and those whose hand-off failed.
func (c *Client) replayJournal(ctx context.Context) error {
	dev, ok := c.journalDevice()
	if !ok {
		return nil
	}
	c.startInbound()
	entries, err := c.Main.Devices.PendingInbound(ctx, dev)
	if err != nil {
		return err
	}
	q := &c.inbound
	queued := 0
	for _, entry := range entries {
		msg, err := decodeJournaled(entry.Payload)
		if err != nil {
			c.log.Error().Err(err).Int64("journal_seq", entry.Seq).
				Msg("Unreadable entry in the WhatsApp inbound journal; left in place")
			continue
		}
		// Checked and queued under one lock: replays may run side by side (connect, timer).
		q.mu.Lock()
		if !q.inFlight[entry.Seq] {
			c.pushLocked(&inboundItem{seq: entry.Seq, evt: msg, start: entry.ReceivedAt})
			queued++
		}
		q.mu.Unlock()
	}
	if queued > 0 {
		c.log.Info().Int("events", queued).Msg("Handing over WhatsApp events journaled but not yet bridged")
	}
	return nil
}

// replayJournalOrLater replays the journal, or schedules it when the journal cannot be read.
func (c *Client) replayJournalOrLater(ctx context.Context) {
	if err := c.replayJournal(ctx); err != nil {
		c.log.Warn().Err(err).Msg("Could not read the WhatsApp inbound journal; trying again later")
		c.replayLater()
	}
}

// replayLater replays the journal after RedeliveryDelay (once for any number of calls meanwhile).
func (c *Client) replayLater() {
	q := &c.inbound
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.replayPending {
		return
	}
	q.replayPending = true
	time.AfterFunc(RedeliveryDelay, func() {
		q.mu.Lock()
		q.replayPending = false
		q.mu.Unlock()
		if c.stopped.Load() {
			return // the next connect replays
		}
		c.replayJournalOrLater(context.Background())
	})
}

// journal writes a message's journal row, waiting out a briefly unreachable database (up to
// HandOffWait, or until the client stops).
func (c *Client) journal(dev types.JID, seq int64, payload []byte, start time.Time) error {
	return delivery.RetryWrite(c.untilStopped(), c.log, "write a WhatsApp message's journal row", HandOffWait, func() error {
		return c.Main.Devices.PutInbound(context.Background(), dev, seq, payload, start)
	})
}

// closed reports whether ch is closed.
func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
