package pushmute

import (
	"context"

	"maunium.net/go/mautrix/bridgev2/matrix"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/statecache"
)

// Store is the appservice's state store with registrations reported to the Muter: mautrix
// marks a user registered right after registering it (EnsureRegistered), the one moment every
// new ghost passes through.
type Store struct {
	*statecache.Store
	muter *Muter
}

// MarkRegistered records the registration, then queues the user to be muted.
func (s *Store) MarkRegistered(ctx context.Context, userID id.UserID) error {
	if err := s.Store.MarkRegistered(ctx, userID); err != nil {
		return err
	}
	s.muter.Enqueue(userID)
	return nil
}

// Install puts the Store in front of cache as the appservice's state store (and the bot's), the
// way statecache.Install does, and returns the Muter to Run once the bridge has started. Call it
// after statecache.Install, before the bridge starts.
func Install(mx *matrix.Connector, cache *statecache.Store) *Muter {
	owned := func(userID id.UserID) bool {
		if userID == mx.AS.BotMXID() {
			return true
		}
		_, ghost := mx.ParseGhostMXID(userID)
		return ghost
	}
	m := New(mx.AS, mx.Bridge.DB.Database, owned, mx.Bridge.Log.With().Str("component", "push mute").Logger())
	s := &Store{Store: cache, muter: m}
	mx.AS.StateStore = s
	if mx.Bot != nil {
		mx.Bot.StateStore = s
	}
	return m
}
