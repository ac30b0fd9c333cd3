package devicestore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.mau.fi/whatsmeow/types"
)

// The inbound journal lets the bridge acknowledge a WhatsApp message before bridgev2 has sent it
// to Matrix without losing it: the event is written here first (sealed, it holds message
// content), then acknowledged, then handed to bridgev2 by a worker, and deleted once handled. A
// bridge that stops in between hands the rows over again at its next start. Without it whatsmeow
// must wait for every Matrix send before decrypting the next message, so the database work of
// decryption adds to every send instead of overlapping it.

const (
	maxInboundSeqQuery  = `SELECT COALESCE(MAX(seq), 0) FROM passerelle_wa_inbound WHERE our_jid=$1`
	putInboundQuery     = `INSERT INTO passerelle_wa_inbound (our_jid, seq, payload, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT (our_jid, seq) DO NOTHING`
	pendingInboundQuery = `SELECT seq, payload, received_at FROM passerelle_wa_inbound WHERE our_jid=$1 ORDER BY seq`
)

// InboundEntry is one journaled event.
type InboundEntry struct {
	Seq        int64
	Payload    []byte
	ReceivedAt time.Time
}

// inboundSeqs hands out journal sequence numbers per device; each device starts after the
// highest it has in the table.
type inboundSeqs struct {
	mu   sync.Mutex
	next map[string]int64
}

// AppendInbound journals one event of a device and returns its sequence number: ReserveInbound
// then PutInbound.
func (c *Container) AppendInbound(ctx context.Context, device types.JID, payload []byte, receivedAt time.Time) (int64, error) {
	seq, err := c.ReserveInbound(ctx, device)
	if err != nil {
		return 0, err
	}
	return seq, c.PutInbound(ctx, device, seq, payload, receivedAt)
}

// ReserveInbound hands out the next sequence number of a device's journal. Calls for one device
// must come in the order of its events (whatsmeow delivers a device's events one at a time).
func (c *Container) ReserveInbound(ctx context.Context, device types.JID) (int64, error) {
	return c.nextInboundSeq(ctx, device.String())
}

// PutInbound writes a journal entry under a reserved sequence number. A failed write can be
// retried with the same number.
func (c *Container) PutInbound(ctx context.Context, device types.JID, seq int64, payload []byte, receivedAt time.Time) error {
	jid := device.String()
	sealed, err := c.seal(colInbound.Ref(jid, strconv.FormatInt(seq, 10)), payload)
	if err != nil {
		return fmt.Errorf("journal inbound event %d: %w", seq, err)
	}
	if _, err = c.db.Exec(ctx, putInboundQuery, jid, seq, sealed, receivedAt.UnixMilli()); err != nil {
		return fmt.Errorf("journal inbound event %d: %w", seq, err)
	}
	return nil
}

func (c *Container) nextInboundSeq(ctx context.Context, jid string) (int64, error) {
	c.inbound.mu.Lock()
	defer c.inbound.mu.Unlock()
	if c.inbound.next == nil {
		c.inbound.next = make(map[string]int64)
	}
	next, ok := c.inbound.next[jid]
	if !ok {
		var highest int64
		if err := c.db.QueryRow(ctx, maxInboundSeqQuery, jid).Scan(&highest); err != nil {
			return 0, fmt.Errorf("read inbound journal position of %s: %w", jid, err)
		}
		next = highest + 1
	}
	c.inbound.next[jid] = next + 1
	return next, nil
}

// PendingInbound lists a device's journaled events in order.
func (c *Container) PendingInbound(ctx context.Context, device types.JID) ([]InboundEntry, error) {
	jid := device.String()
	rows, err := c.db.Query(ctx, pendingInboundQuery, jid)
	if err != nil {
		return nil, fmt.Errorf("read inbound journal of %s: %w", jid, err)
	}
	defer rows.Close()
	var entries []InboundEntry
	for rows.Next() {
		var (
			e        InboundEntry
			stored   []byte
			received int64
		)
		if err := rows.Scan(&e.Seq, &stored, &received); err != nil {
			return nil, fmt.Errorf("read inbound journal of %s: %w", jid, err)
		}
		if e.Payload, err = c.open(colInbound.Ref(jid, strconv.FormatInt(e.Seq, 10)), stored); err != nil {
			return nil, fmt.Errorf("open inbound journal entry %d of %s: %w", e.Seq, jid, err)
		}
		e.ReceivedAt = time.UnixMilli(received)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read inbound journal of %s: %w", jid, err)
	}
	return entries, nil
}

// DeleteInbound removes handled events from a device's journal.
func (c *Container) DeleteInbound(ctx context.Context, device types.JID, seqs []int64) error {
	jid := device.String()
	for chunk := range slices.Chunk(seqs, batchSize) {
		args := make([]any, 0, 1+len(chunk))
		args = append(args, jid)
		for _, seq := range chunk {
			args = append(args, seq)
		}
		query := `DELETE FROM passerelle_wa_inbound WHERE our_jid=$1 AND seq IN (` + placeholders(2, len(chunk)) + `)`
		if _, err := c.db.Exec(ctx, query, args...); err != nil {
			return fmt.Errorf("delete %d handled inbound events of %s: %w", len(chunk), jid, err)
		}
	}
	return nil
}
