package tgstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotd/td/telegram/updates"
)

// Gate wraps the update state of one client so that no position is saved past an update that
// was not handed to the bridge. gotd's updates manager saves pts after calling the handler even
// when the handler failed; once Hold is called (by the handler, on a failed hand-off), every
// later write of the common or channel sequences is dropped, so the stored state stays at or
// before the failed update. The client then restarts its updates manager, which fetches
// everything from the stored state again through getDifference; Release re-opens the gate.
// Already bridged updates that come again are deduplicated by message ID.
//
// The gate also writes positions behind: gotd saves pts once per update, in the goroutine that
// hands the next update over, so a synchronous write (a database round trip and a commit) would
// sit on every incoming message's path. Positions are kept in memory and written by a
// background flush, coalesced (a burst of updates costs a write per flush, not per update), and
// read back through the gate (every read flushes first). A bridge that dies with positions not
// yet written restarts from the last written ones and gets the updates in between again, which
// the bridge deduplicates like any other repeat; positions are only ever behind what was handed
// over, never ahead. Flush writes what is pending; the client calls it when it stops.
type Gate struct {
	StateStorage
	held atomic.Bool

	mu       sync.Mutex
	pending  map[int64]*pendingState // per account
	flushing bool
	idle     *sync.Cond // signalled when a flush ends
	// flushFailures counts failed background writes, for the log.
	flushFailures int
}

// pendingState is the positions of one account not written yet; nil fields are unchanged.
type pendingState struct {
	pts, qts, date, seq *int
	channels            map[int64]int
}

var (
	_ updates.StateStorage        = (*Gate)(nil)
	_ updates.ChannelAccessHasher = (*Gate)(nil)
	_ updates.UserAccessHasher    = (*Gate)(nil)
)

// flushRetry is the pause after a failed background write (the database is down) before the
// next attempt; the positions stay pending until one succeeds.
var flushRetry = time.Second

// Gate returns a fresh, open gate over the store's update state.
func (s *Store) Gate() *Gate {
	g := &Gate{StateStorage: s.State()}
	g.idle = sync.NewCond(&g.mu)
	return g
}

// Hold stops saving update positions until Release. Positions handed to the gate before Hold
// (updates that were handed over) are still written.
func (g *Gate) Hold() { g.held.Store(true) }

// Release saves update positions again; call it when the updates manager restarts.
func (g *Gate) Release() { g.held.Store(false) }

// Held reports whether positions are being dropped.
func (g *Gate) Held() bool { return g.held.Load() }

// deferWrite records a position change of userID for the background flush and starts one if none
// runs.
func (g *Gate) deferWrite(userID int64, change func(p *pendingState)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending == nil {
		g.pending = map[int64]*pendingState{}
	}
	p := g.pending[userID]
	if p == nil {
		p = &pendingState{}
		g.pending[userID] = p
	}
	change(p)
	if !g.flushing {
		g.flushing = true
		go g.flushLoop()
	}
}

// flushLoop writes pending positions until none are left.
func (g *Gate) flushLoop() {
	for {
		g.mu.Lock()
		batch := g.pending
		g.pending = nil
		if len(batch) == 0 {
			g.flushing = false
			g.idle.Broadcast()
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := g.write(ctx, batch)
		cancel()
		if err == nil {
			continue
		}
		g.mu.Lock()
		g.flushFailures++
		failures := g.flushFailures
		// Newer positions recorded meanwhile win over the failed batch's.
		for userID, old := range batch {
			cur := g.pending[userID]
			if cur == nil {
				if g.pending == nil {
					g.pending = map[int64]*pendingState{}
				}
				g.pending[userID] = old
				continue
			}
			cur.fillFrom(old)
		}
		g.mu.Unlock()
		if failures == 1 || failures%60 == 0 {
			g.store.log.Warn().Err(err).Int("failures", failures).
				Msg("Cannot save the Telegram update positions yet; they stay in memory and are written when the database answers")
		}
		time.Sleep(flushRetry)
	}
}

// fillFrom takes old's values for the fields p does not have.
func (p *pendingState) fillFrom(old *pendingState) {
	if p.pts == nil {
		p.pts = old.pts
	}
	if p.qts == nil {
		p.qts = old.qts
	}
	if p.date == nil {
		p.date = old.date
	}
	if p.seq == nil {
		p.seq = old.seq
	}
	for ch, pts := range old.channels {
		if _, ok := p.channels[ch]; !ok {
			if p.channels == nil {
				p.channels = map[int64]int{}
			}
			p.channels[ch] = pts
		}
	}
}

// write saves a batch of positions in one transaction (one commit for the whole burst).
func (g *Gate) write(ctx context.Context, batch map[int64]*pendingState) error {
	err := g.store.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for userID, p := range batch {
			if p.pts != nil || p.qts != nil || p.date != nil || p.seq != nil {
				_, err := g.store.db.Exec(ctx, `UPDATE telegram_update_state SET
					pts=COALESCE($2, pts), qts=COALESCE($3, qts), date=COALESCE($4, date), seq=COALESCE($5, seq)
					WHERE user_id=$1`, userID, nullInt(p.pts), nullInt(p.qts), nullInt(p.date), nullInt(p.seq))
				if err != nil {
					return fmt.Errorf("set update state of %d: %w", userID, err)
				}
			}
			for ch, pts := range p.channels {
				if err := g.StateStorage.SetChannelPts(ctx, userID, ch, pts); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write update positions: %w", err)
	}
	return nil
}

func nullInt(v *int) sql.NullInt64 {
	if v == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*v), Valid: true}
}

// Flush waits until every position handed to the gate so far is written, or ctx ends; it
// returns ctx's error then. Reads through the gate call it first.
func (g *Gate) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		g.idle.Broadcast()
		g.mu.Unlock()
	})
	defer stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.flushing {
		if ctx.Err() != nil {
			return fmt.Errorf("flush update positions: %w", ctx.Err())
		}
		g.idle.Wait()
	}
	return nil
}

func (g *Gate) GetState(ctx context.Context, userID int64) (updates.State, bool, error) {
	if err := g.Flush(ctx); err != nil {
		return updates.State{}, false, err
	}
	return g.StateStorage.GetState(ctx, userID)
}

func (g *Gate) GetChannelPts(ctx context.Context, userID, channelID int64) (int, bool, error) {
	if err := g.Flush(ctx); err != nil {
		return 0, false, err
	}
	return g.StateStorage.GetChannelPts(ctx, userID, channelID)
}

func (g *Gate) ForEachChannels(ctx context.Context, userID int64, f func(ctx context.Context, channelID int64, pts int) error) error {
	if err := g.Flush(ctx); err != nil {
		return err
	}
	return g.StateStorage.ForEachChannels(ctx, userID, f)
}

// SetState replaces the whole state (gotd calls it when it starts from the server's state, and
// after a difference too long to replay), so it is written at once, after what is pending.
func (g *Gate) SetState(ctx context.Context, userID int64, s updates.State) error {
	if g.Held() {
		return nil
	}
	if err := g.Flush(ctx); err != nil {
		return err
	}
	return g.StateStorage.SetState(ctx, userID, s)
}

func (g *Gate) SetPts(_ context.Context, userID int64, pts int) error {
	if !g.Held() {
		g.deferWrite(userID, func(p *pendingState) { p.pts = &pts })
	}
	return nil
}

func (g *Gate) SetQts(_ context.Context, userID int64, qts int) error {
	if !g.Held() {
		g.deferWrite(userID, func(p *pendingState) { p.qts = &qts })
	}
	return nil
}

func (g *Gate) SetDate(_ context.Context, userID int64, date int) error {
	if !g.Held() {
		g.deferWrite(userID, func(p *pendingState) { p.date = &date })
	}
	return nil
}

func (g *Gate) SetSeq(_ context.Context, userID int64, seq int) error {
	if !g.Held() {
		g.deferWrite(userID, func(p *pendingState) { p.seq = &seq })
	}
	return nil
}

func (g *Gate) SetDateSeq(_ context.Context, userID int64, date, seq int) error {
	if !g.Held() {
		g.deferWrite(userID, func(p *pendingState) { p.date, p.seq = &date, &seq })
	}
	return nil
}

func (g *Gate) SetChannelPts(_ context.Context, userID, channelID int64, pts int) error {
	if !g.Held() {
		g.deferWrite(userID, func(p *pendingState) {
			if p.channels == nil {
				p.channels = map[int64]int{}
			}
			p.channels[channelID] = pts
		})
	}
	return nil
}
