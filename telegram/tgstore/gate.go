package tgstore

import (
	"context"
	"sync/atomic"

	"github.com/gotd/td/telegram/updates"
)

// Gate wraps the update state of one client so that no position is saved past an update that
// was not handed to the bridge. gotd's updates manager saves pts after calling the handler even
// when the handler failed; once Hold is called (by the handler, on a failed hand-off), every
// later write of the common or channel sequences is dropped, so the stored state stays at or
// before the failed update. The client then restarts its updates manager, which fetches
// everything from the stored state again through getDifference; Release re-opens the gate.
// Already bridged updates that come again are deduplicated by message ID.
type Gate struct {
	StateStorage
	held atomic.Bool
}

var (
	_ updates.StateStorage        = (*Gate)(nil)
	_ updates.ChannelAccessHasher = (*Gate)(nil)
	_ updates.UserAccessHasher    = (*Gate)(nil)
)

// Gate returns a fresh, open gate over the store's update state.
func (s *Store) Gate() *Gate { return &Gate{StateStorage: s.State()} }

// Hold stops saving update positions until Release.
func (g *Gate) Hold() { g.held.Store(true) }

// Release saves update positions again; call it when the updates manager restarts.
func (g *Gate) Release() { g.held.Store(false) }

// Held reports whether positions are being dropped.
func (g *Gate) Held() bool { return g.held.Load() }

func (g *Gate) SetState(ctx context.Context, userID int64, s updates.State) error {
	if g.Held() {
		return nil
	}
	return g.StateStorage.SetState(ctx, userID, s)
}

func (g *Gate) SetPts(ctx context.Context, userID int64, pts int) error {
	if g.Held() {
		return nil
	}
	return g.StateStorage.SetPts(ctx, userID, pts)
}

func (g *Gate) SetQts(ctx context.Context, userID int64, qts int) error {
	if g.Held() {
		return nil
	}
	return g.StateStorage.SetQts(ctx, userID, qts)
}

func (g *Gate) SetDate(ctx context.Context, userID int64, date int) error {
	if g.Held() {
		return nil
	}
	return g.StateStorage.SetDate(ctx, userID, date)
}

func (g *Gate) SetSeq(ctx context.Context, userID int64, seq int) error {
	if g.Held() {
		return nil
	}
	return g.StateStorage.SetSeq(ctx, userID, seq)
}

func (g *Gate) SetDateSeq(ctx context.Context, userID int64, date, seq int) error {
	if g.Held() {
		return nil
	}
	return g.StateStorage.SetDateSeq(ctx, userID, date, seq)
}

func (g *Gate) SetChannelPts(ctx context.Context, userID, channelID int64, pts int) error {
	if g.Held() {
		return nil
	}
	return g.StateStorage.SetChannelPts(ctx, userID, channelID, pts)
}
