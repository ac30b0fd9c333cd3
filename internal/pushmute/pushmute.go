// Package pushmute turns push notifications off for the users the bridge owns: its bot and every
// ghost. Nobody reads a ghost's notifications, yet a homeserver evaluates push rules for every
// local member of a room on every message and, when the default rules say "notify", stores a
// notification and recounts the unread ones. Dendrite does this for appservice users too, so
// every message in a portal costs it a notification write per bridge user in the room, and its
// notification table grows without end: measured on Dendrite v0.13.8, sends into a room with a
// bridge user were 10–14 % slower than into a room without, and as fast once that user's push
// rules were muted. The mute is the spec's master rule (`.m.rule.master`) enabled, which every
// homeserver implements; real users (double puppets) are never touched.
package pushmute

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/metrics"
)

//go:embed schema/*.sql
var schemaFS embed.FS

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(schemaFS, "schema").Finish()

// Backoff bounds for a homeserver or database that is away; muting waits, nothing is lost.
const (
	minBackoff = time.Second
	maxBackoff = 5 * time.Minute
)

// Muter mutes bridge users, each once: those registered before it ran are found in mautrix's
// registration table, those registered later are handed to it by Store.MarkRegistered.
type Muter struct {
	as  *appservice.AppService
	db  *dbutil.Database
	log zerolog.Logger
	// owned tells the bridge's own users (its bot and ghosts) from everyone else.
	owned func(id.UserID) bool

	mu sync.Mutex
	// fresh holds users registered while the bridge runs, backlog those found at start: a new
	// ghost is muted before the rest of a long backlog (an upgraded bridge's 50,000 ghosts).
	fresh, backlog []id.UserID
	queued         map[id.UserID]bool
	wake           chan struct{}
	backoff        time.Duration
}

// New makes a Muter for the appservice's users on the bridge database (the one mautrix's state
// store, and so its registration table, lives in). owned must be true only for the bridge's bot
// and ghosts: never a real person's account. Call Run once the bridge has started.
func New(as *appservice.AppService, db *dbutil.Database, owned func(id.UserID) bool, log zerolog.Logger) *Muter {
	return &Muter{
		as:      as,
		db:      db.Child("passerelle_push_muted_version", upgradeTable, dbutil.ZeroLogger(log)),
		log:     log,
		owned:   owned,
		queued:  map[id.UserID]bool{},
		wake:    make(chan struct{}, 1),
		backoff: minBackoff,
	}
}

// Enqueue asks for userID, just registered, to be muted; users the bridge does not own are
// ignored.
func (m *Muter) Enqueue(userID id.UserID) {
	m.enqueue(userID, false)
}

func (m *Muter) enqueue(userID id.UserID, backlog bool) {
	if !m.owned(userID) {
		return
	}
	m.mu.Lock()
	if !m.queued[userID] {
		m.queued[userID] = true
		if backlog {
			m.backlog = append(m.backlog, userID)
		} else {
			m.fresh = append(m.fresh, userID)
		}
	}
	m.mu.Unlock()
	m.report()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Pending is how many users wait to be muted.
func (m *Muter) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.fresh) + len(m.backlog)
}

// Run creates its table, queues every registered bridge user not muted yet, and mutes the queue
// until ctx ends, one user at a time (a homeserver is not flooded by a bridge with 50,000
// ghosts upgrading), waiting out a homeserver or database that is away.
func (m *Muter) Run(ctx context.Context) {
	for {
		err := m.prepare(ctx)
		if err == nil {
			break
		}
		m.log.Warn().Err(err).Dur("retry_in", m.backoff).Msg("Cannot look up which bridge users still get push notifications; trying again")
		if !m.sleep(ctx) {
			return
		}
	}
	for {
		userID, ok := m.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-m.wake:
				continue
			}
		}
		err := m.mute(ctx, userID)
		switch {
		case err == nil:
			m.done(userID)
			m.backoff = minBackoff
		case ctx.Err() != nil:
			return
		case retryable(err):
			m.log.Warn().Err(err).Stringer("user_id", userID).Dur("retry_in", m.backoff).
				Msg("Cannot mute a bridge user's push notifications yet; trying again")
			if !m.sleep(ctx) {
				return
			}
		default:
			// Refused for a reason waiting will not change (a homeserver without push rules):
			// the user keeps its notifications; the next start tries again.
			m.log.Warn().Err(err).Stringer("user_id", userID).
				Msg("The homeserver refused to mute a bridge user's push notifications; leaving them on")
			m.done(userID)
		}
	}
}

func (m *Muter) prepare(ctx context.Context) error {
	if err := m.db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade push mute table: %w", err)
	}
	rows, err := m.db.Query(ctx, `
		SELECT r.user_id FROM mx_registrations r
		LEFT JOIN passerelle_push_muted p ON p.user_id = r.user_id
		WHERE p.user_id IS NULL`)
	if err != nil {
		return fmt.Errorf("list bridge users not muted: %w", err)
	}
	users, err := dbutil.NewRowIterWithError(rows, dbutil.ScanSingleColumn[id.UserID], nil).AsList()
	if err != nil {
		return fmt.Errorf("list bridge users not muted: %w", err)
	}
	for _, u := range users {
		m.enqueue(u, true)
	}
	if n := m.Pending(); n > 0 {
		m.log.Info().Int("users", n).Msg("Muting push notifications of bridge users")
	}
	return nil
}

func (m *Muter) next() (id.UserID, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case len(m.fresh) > 0:
		return m.fresh[0], true
	case len(m.backlog) > 0:
		return m.backlog[0], true
	}
	return "", false
}

func (m *Muter) done(userID id.UserID) {
	m.mu.Lock()
	if len(m.fresh) > 0 && m.fresh[0] == userID {
		m.fresh = m.fresh[1:]
	} else if len(m.backlog) > 0 && m.backlog[0] == userID {
		m.backlog = m.backlog[1:]
	}
	delete(m.queued, userID)
	m.mu.Unlock()
	m.report()
}

// report publishes the queue's length (passerelle_queue_depth{network="matrix",queue="push_mute"}):
// an upgraded bridge's backlog going down to 0.
func (m *Muter) report() {
	metrics.SetQueueDepth("matrix", "push_mute", m.Pending())
}

func (m *Muter) sleep(ctx context.Context) bool {
	t := time.NewTimer(m.backoff)
	defer t.Stop()
	m.backoff = min(m.backoff*2, maxBackoff)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// mute enables the user's master push rule, then records it. A crash between the two mutes
// the user again at the next start, which changes nothing.
func (m *Muter) mute(ctx context.Context, userID id.UserID) error {
	intent := m.as.Intent(userID)
	url := intent.BuildClientURL("v3", "pushrules", "global", "override", ".m.rule.master", "enabled")
	if _, err := intent.MakeRequest(ctx, http.MethodPut, url, map[string]bool{"enabled": true}, nil); err != nil {
		return fmt.Errorf("enable the master push rule of %s: %w", userID, err)
	}
	_, err := m.db.Exec(ctx, `
		INSERT INTO passerelle_push_muted (user_id, muted_at) VALUES ($1, $2)
		ON CONFLICT (user_id) DO NOTHING`, userID, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("record %s as muted: %w", userID, err)
	}
	m.log.Debug().Stringer("user_id", userID).Msg("Muted a bridge user's push notifications")
	return nil
}

// retryable: no answer (the homeserver or the database away), a server error or a rate limit,
// not a refusal.
func retryable(err error) bool {
	httpErr, ok := errors.AsType[mautrix.HTTPError](err)
	if !ok || httpErr.Response == nil {
		return true
	}
	code := httpErr.Response.StatusCode
	return code == http.StatusTooManyRequests || code >= http.StatusInternalServerError
}
