package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// patientSyncStore is the sync-token store of the bridge bot's to-device sync (end-to-bridge
// encryption) with database outages waited out. mautrix saves the sync token in the bridge
// database before handling each sync response and ends the sync on any error there, and
// bridgev2 then exits the whole bridge (status 51, "Fatal error syncing"): a PostgreSQL restart
// stopped every bridge with encryption on (seen in the encrypted soak). A failure that
// Transient recognises is retried, with backoff, until the database answers or the sync stops.
type patientSyncStore struct {
	mautrix.SyncStore
	log zerolog.Logger
	// pauses between attempts, the last one repeated.
	pauses []time.Duration
}

// outagePauses are the pauses between attempts while the database is unreachable (the last one
// repeated), for the to-device sync position and for decryption.
var outagePauses = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}

func (s *patientSyncStore) SaveNextBatch(ctx context.Context, userID id.UserID, token string) error {
	return s.wait(ctx, "save the to-device sync position", func() error { return s.SyncStore.SaveNextBatch(ctx, userID, token) })
}

func (s *patientSyncStore) LoadNextBatch(ctx context.Context, userID id.UserID) (token string, err error) {
	err = s.wait(ctx, "load the to-device sync position", func() (err error) {
		token, err = s.SyncStore.LoadNextBatch(ctx, userID)
		return err
	})
	return token, err
}

func (s *patientSyncStore) wait(ctx context.Context, what string, fn func() error) error {
	pauses := s.pauses
	if pauses == nil {
		pauses = outagePauses
	}
	return waitOutage(ctx, s.log, what, dbOutage, pauses, 0, fn)
}

// dbOutage is how waitOutage names the outage of the database calls it retries.
const dbOutage = "the database is unreachable"

// waitOutage runs fn until it succeeds, fails for a reason Transient does not recognise, ctx
// ends, or limit (0: none) has passed since the first failure, pausing between attempts (the
// last pause repeated). It logs the outage once ("Cannot <what>: <outage>; waiting for it"),
// and its end.
func waitOutage(ctx context.Context, log zerolog.Logger, what, outage string, pauses []time.Duration, limit time.Duration, fn func() error) error {
	var since time.Time
	for i := 0; ; i++ {
		err := fn()
		if err == nil {
			if !since.IsZero() {
				log.Info().Dur("waited", time.Since(since)).Msgf("Could %s again", what)
			}
			return nil
		}
		if !Transient(err) {
			return err
		}
		if since.IsZero() {
			since = time.Now()
			log.Warn().Err(err).Msgf("Cannot %s: %s; waiting for it", what, outage)
		} else if limit > 0 && time.Since(since) > limit {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %w)", what, ctx.Err(), err)
		case <-time.After(pauses[min(i, len(pauses)-1)]):
		}
	}
}
