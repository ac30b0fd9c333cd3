package secrets

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
)

// RotateStats counts what Rotate did to one scope.
type RotateStats struct {
	Scope string
	// Resealed values were moved from an older key to the current one.
	Resealed int
	// Current values were already sealed with the current key.
	Current int
	// Changed values were rewritten by the running bridge while being rotated and were left
	// as the bridge wrote them; run Rotate again to be sure they use the current key.
	Changed int
	// Failed values could not be opened (unknown key, tampered); see the returned error.
	Failed int
	// KeyIDs are the keys values may still be sealed with after the run. When it holds only
	// the current key, older keys can be removed from the configuration.
	KeyIDs []string
}

// maxReportedFailures bounds how many failing cells the error of Rotate lists.
const maxReportedFailures = 10

// Rotate re-seals every value of the scope's columns that is not yet sealed with the current
// key of ring. It first activates the scope (so an unencrypted store is encrypted instead).
// Each page of values is committed on its own, and a value is only replaced if it still holds
// what was read, so Rotate can run beside the bridge, be interrupted, and be run again. When
// every value ended under the current key, the scope records that older keys are no longer
// needed (Activate then accepts a keyring without them).
func Rotate(ctx context.Context, db *dbutil.Database, scope string, ring *Keyring, columns []Column, log zerolog.Logger) (RotateStats, error) {
	stats := RotateStats{Scope: scope}
	if ring == nil {
		return stats, fmt.Errorf("rotate %s secrets: %w: set %s or %s to the new key and %s to the old ones",
			scope, ErrNoKey, EnvKey, EnvKeyFile, EnvOldKeys)
	}
	if _, err := Activate(ctx, db, scope, ring, columns, log); err != nil {
		return stats, fmt.Errorf("rotate %s secrets: %w", scope, err)
	}
	sdb := stateDB(db, log)
	var failures []error
	for _, c := range columns {
		var after []any
		for {
			cells, err := c.page(ctx, sdb, after, pageSize)
			if err != nil {
				return stats, fmt.Errorf("rotate %s secrets: %w", scope, err)
			}
			type change struct {
				cl   cell
				next []byte
			}
			var changes []change
			for _, cl := range cells {
				if !ring.needsReseal(cl.value) {
					stats.Current++
					continue
				}
				plain, err := ring.Open(cl.ref, cl.value)
				if err != nil {
					stats.Failed++
					if len(failures) < maxReportedFailures {
						failures = append(failures, err)
					}
					continue
				}
				next, err := ring.Seal(cl.ref, plain)
				clear(plain)
				if err != nil {
					return stats, fmt.Errorf("rotate %s secrets: %w", scope, err)
				}
				changes = append(changes, change{cl, next})
			}
			if len(changes) > 0 {
				resealed, changed := 0, 0
				err = sdb.DoTxn(ctx, nil, func(ctx context.Context) error {
					resealed, changed = 0, 0
					for _, ch := range changes {
						ok, err := c.replace(ctx, sdb, ch.cl, ch.next)
						if err != nil {
							return err
						} else if ok {
							resealed++
						} else {
							changed++
						}
					}
					return nil
				})
				if err != nil {
					return stats, fmt.Errorf("rotate %s secrets: %w", scope, err)
				}
				stats.Resealed += resealed
				stats.Changed += changed
			}
			if len(cells) < pageSize {
				break
			}
			after = cells[len(cells)-1].key
		}
		log.Debug().Str("column", c.String()).Int("resealed", stats.Resealed).Msg("Rotated sealed column")
	}
	err := sdb.DoTxn(ctx, nil, func(ctx context.Context) error {
		st, _, err := lockState(ctx, sdb, scope)
		if err != nil {
			return err
		}
		if stats.Failed == 0 && stats.Changed == 0 {
			st.keyIDs = []string{ring.CurrentID()}
			if err = putState(ctx, sdb, scope, st); err != nil {
				return err
			}
		}
		stats.KeyIDs = st.keyIDs
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("rotate %s secrets: %w", scope, err)
	}
	log.Info().Int("resealed", stats.Resealed).Int("current", stats.Current).Int("changed", stats.Changed).
		Int("failed", stats.Failed).Strs("key_ids", stats.KeyIDs).Msg("Rotated secrets")
	if stats.Failed > 0 {
		return stats, fmt.Errorf("rotate %s secrets: %d value(s) could not be opened, the first ones: %w",
			scope, stats.Failed, errors.Join(failures...))
	}
	return stats, nil
}
