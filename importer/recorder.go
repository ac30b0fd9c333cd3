package importer

import (
	"context"
	"sync"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/bridgev2/database"
)

// recorder writes what an import sent to the database in the background, so the next message
// goes to the homeserver while the previous one is being recorded: the import is then bounded
// by the homeserver alone, not by the homeserver plus a database round trip per message. It
// commits in groups: everything that arrived while the previous write ran goes in the next one
// statement, so at homeserver speed each write holds one or two rows (the window of messages
// sent but not yet recorded stays that small), and a faster homeserver gets bigger batches
// instead of a queue. A full queue blocks the sender.
type recorder struct {
	store *Store
	msgs  *database.MessageQuery
	// ctx carries the log; it is not cancelled with the import: what was sent must be recorded,
	// or a re-run would send it again.
	ctx   context.Context
	queue chan record
	done  chan struct{}

	mu  sync.Mutex
	err error
}

// record is one sent message, or a barrier (flushed set) that is closed once everything
// queued before it is written.
type record struct {
	row ImportedRow
	// portalMsg, when set, is also added to bridgev2's message table.
	portalMsg *database.Message
	flushed   chan struct{}
}

// recorderQueue bounds how far sending may run ahead of recording.
const recorderQueue = 1024

func newRecorder(ctx context.Context, store *Store, msgs *database.MessageQuery) *recorder {
	rc := &recorder{
		store: store, msgs: msgs, ctx: context.WithoutCancel(ctx),
		queue: make(chan record, recorderQueue), done: make(chan struct{}),
	}
	go rc.loop()
	return rc
}

// add queues a sent message; it returns the error of an earlier write, after which nothing more
// is recorded and the import must stop.
func (rc *recorder) add(row ImportedRow, portalMsg *database.Message) error {
	if err := rc.Err(); err != nil {
		return err
	}
	rc.queue <- record{row: row, portalMsg: portalMsg}
	return nil
}

// flush waits until everything added so far is written.
func (rc *recorder) flush() error {
	ch := make(chan struct{})
	rc.queue <- record{flushed: ch}
	<-ch
	return rc.Err()
}

// close writes what is queued and stops the writer.
func (rc *recorder) close() error {
	close(rc.queue)
	<-rc.done
	return rc.Err()
}

// Err is the first write error.
func (rc *recorder) Err() error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.err
}

func (rc *recorder) loop() {
	defer close(rc.done)
	var rows []ImportedRow
	var portalMsgs []*database.Message
	var barriers []chan struct{}
	for first := range rc.queue {
		batch := []record{first}
	drain:
		for len(batch) < maxBatchRows {
			select {
			case r, ok := <-rc.queue:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		rows, portalMsgs, barriers = rows[:0], portalMsgs[:0], barriers[:0]
		for _, r := range batch {
			switch {
			case r.flushed != nil:
				barriers = append(barriers, r.flushed)
			default:
				rows = append(rows, r.row)
				if r.portalMsg != nil {
					portalMsgs = append(portalMsgs, r.portalMsg)
				}
			}
		}
		rc.write(rows, portalMsgs)
		for _, ch := range barriers {
			close(ch)
		}
	}
}

func (rc *recorder) write(rows []ImportedRow, portalMsgs []*database.Message) {
	if len(rows) == 0 || rc.Err() != nil {
		return
	}
	if err := rc.store.MarkImportedBatch(rc.ctx, rows); err != nil {
		rc.mu.Lock()
		rc.err = err
		rc.mu.Unlock()
		return
	}
	for _, msg := range portalMsgs {
		if err := rc.msgs.Insert(rc.ctx, msg); err != nil {
			zerolog.Ctx(rc.ctx).Warn().Err(err).Str("message_id", string(msg.ID)).
				Msg("Failed to add imported message to the portal's message table")
		}
	}
}
