package secrets

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
)

// VersionTable records the schema version of the passerelle_secrets table.
const VersionTable = "passerelle_secrets_version"

//go:embed schema/*.sql
var schemaFS embed.FS

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(schemaFS, "schema").Finish()

// pageSize bounds how many values are held in memory at once while encrypting or rotating.
var pageSize = 500

// state is one scope's row of passerelle_secrets.
type state struct {
	encrypted bool
	keyIDs    []string
}

const (
	insertStateQuery = `INSERT INTO passerelle_secrets (scope, encrypted, key_ids, updated_at) VALUES ($1, false, '', $2) ON CONFLICT (scope) DO NOTHING`
	getStateQuery    = `SELECT encrypted, key_ids FROM passerelle_secrets WHERE scope=$1`
	lockStateSuffix  = ` FOR UPDATE`
	putStateQuery    = `UPDATE passerelle_secrets SET encrypted=$2, key_ids=$3, updated_at=$4 WHERE scope=$1`
)

func stateDB(db *dbutil.Database, log zerolog.Logger) *dbutil.Database {
	return db.Child(VersionTable, upgradeTable, dbutil.ZeroLogger(log))
}

// lockState returns the scope's state inside the caller's transaction, creating it (as
// unencrypted) when the scope was never activated; isNew says so. On PostgreSQL the row stays
// locked until the transaction ends; SQLite write transactions exclude each other anyway.
func lockState(ctx context.Context, db *dbutil.Database, scope string) (st state, isNew bool, err error) {
	res, err := db.Exec(ctx, insertStateQuery, scope, time.Now().UnixMilli())
	if err != nil {
		return st, false, fmt.Errorf("create secret state of %s: %w", scope, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return st, false, fmt.Errorf("create secret state of %s: %w", scope, err)
	}
	query := getStateQuery
	if db.Dialect == dbutil.Postgres {
		query += lockStateSuffix
	}
	var ids string
	if err = db.QueryRow(ctx, query, scope).Scan(&st.encrypted, &ids); err != nil {
		return st, false, fmt.Errorf("read secret state of %s: %w", scope, err)
	}
	if ids != "" {
		st.keyIDs = strings.Split(ids, ",")
	}
	return st, n == 1, nil
}

func putState(ctx context.Context, db *dbutil.Database, scope string, st state) error {
	if _, err := db.Exec(ctx, putStateQuery, scope, st.encrypted, strings.Join(st.keyIDs, ","), time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("save secret state of %s: %w", scope, err)
	}
	return nil
}

// Activate prepares a store's secret columns for use and returns the Sealer the store must
// read and write them with. scope names the store (e.g. "whatsmeow", "telegram"); columns
// lists every column it seals. ring is the configured keyring, nil when none is configured.
//
// What happens, in one transaction:
//   - the store is encrypted and ring is nil: ErrNoKey, saying which keys are needed;
//   - the store is encrypted but values may be sealed with a key missing from ring:
//     ErrUnknownKey, naming the key IDs (keep old keys until rotate-secrets has run);
//   - the store is unencrypted and ring is nil: an unencrypted Sealer, and a warning that
//     anyone with the database can take over the accounts;
//   - the store is unencrypted and ring is set: every stored value is encrypted now (once),
//     and the store is encrypted from then on.
//
// A store seen for the first time that already holds sealed-looking values (its state row
// was lost) is not taken for plaintext: without a key it is refused, with one such values
// must open under the ring.
func Activate(ctx context.Context, db *dbutil.Database, scope string, ring *Keyring, columns []Column, log zerolog.Logger) (*Sealer, error) {
	for _, c := range columns {
		if err := c.validate(); err != nil {
			return nil, err
		}
	}
	log = log.With().Str("secret_scope", scope).Logger()
	sdb := stateDB(db, log)
	if err := sdb.Upgrade(ctx); err != nil {
		return nil, fmt.Errorf("upgrade secret state table: %w", err)
	}
	var sealer *Sealer
	err := sdb.DoTxn(ctx, nil, func(ctx context.Context) error {
		st, isNew, err := lockState(ctx, sdb, scope)
		if err != nil {
			return err
		}
		switch {
		case st.encrypted && ring == nil:
			return fmt.Errorf("%w: the %s secrets in the database are encrypted (key IDs %s); set %s or %s to the key and %s to any older one, or restore the key file",
				ErrNoKey, scope, strings.Join(st.keyIDs, ", "), EnvKey, EnvKeyFile, EnvOldKeys)
		case st.encrypted:
			var missing []string
			for _, id := range st.keyIDs {
				if !ring.Has(id) {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("%w: %s secrets may still be sealed with key IDs %s, which the configured keys (%s) do not include; add the old key(s) to %s or the key file, and drop them only after `passerelle rotate-secrets` has finished",
					ErrUnknownKey, scope, strings.Join(missing, ", "), strings.Join(ring.IDs(), ", "), EnvOldKeys)
			}
			if !slices.Contains(st.keyIDs, ring.CurrentID()) {
				st.keyIDs = append(st.keyIDs, ring.CurrentID())
				if err = putState(ctx, sdb, scope, st); err != nil {
					return err
				}
				log.Info().Str("key_id", ring.CurrentID()).Strs("older_key_ids", st.keyIDs[:len(st.keyIDs)-1]).
					Msg("New secret key in use; run `passerelle rotate-secrets` to re-seal older values before dropping old keys")
			}
			var unused []string
			for _, id := range ring.IDs() {
				if !slices.Contains(st.keyIDs, id) {
					unused = append(unused, id)
				}
			}
			if len(unused) > 0 {
				log.Info().Strs("unused_key_ids", unused).
					Msg("Some configured old keys are not needed by this store; remove them once no other store needs them")
			}
			sealer = &Sealer{scope: scope, ring: ring}
			return nil
		case ring == nil:
			if isNew {
				for _, c := range columns {
					if found, err := c.hasSealedLooking(ctx, sdb); err != nil {
						return err
					} else if found {
						return fmt.Errorf("%w: %s holds encrypted values but the database does not record %s as encrypted; configure the key (%s or %s) it was sealed with",
							ErrNoKey, c, scope, EnvKey, EnvKeyFile)
					}
				}
			}
			log.Warn().Msg("SESSION SECRETS ARE STORED UNENCRYPTED: anyone with a copy of the database can take over the bridged " + scope +
				" accounts. Set " + EnvKey + " (base64 of 32 random bytes) or " + EnvKeyFile + " and restart; existing values are then encrypted automatically.")
			sealer = &Sealer{scope: scope}
			return nil
		default:
			total, err := encryptAll(ctx, sdb, ring, columns, isNew)
			if err != nil {
				return fmt.Errorf("encrypt existing %s secrets: %w", scope, err)
			}
			st = state{encrypted: true, keyIDs: []string{ring.CurrentID()}}
			if err = putState(ctx, sdb, scope, st); err != nil {
				return err
			}
			log.Info().Int("values", total).Str("key_id", ring.CurrentID()).
				Msg("Secret encryption turned on: existing values encrypted")
			sealer = &Sealer{scope: scope, ring: ring}
			return nil
		}
	})
	if err != nil {
		return nil, fmt.Errorf("activate secret encryption of %s: %w", scope, err)
	}
	return sealer, nil
}

// encryptAll seals every value of the columns in the caller's transaction. When the scope is
// new, values that already open under the ring are left alone.
func encryptAll(ctx context.Context, db *dbutil.Database, ring *Keyring, columns []Column, isNew bool) (int, error) {
	total := 0
	for _, c := range columns {
		var after []any
		for {
			cells, err := c.page(ctx, db, after, pageSize)
			if err != nil {
				return total, err
			}
			for _, cl := range cells {
				if isNew && IsSealed(cl.value) {
					if _, err = ring.Open(cl.ref, cl.value); err == nil {
						continue
					} else if !errors.Is(err, ErrTampered) {
						return total, err
					}
				}
				sealed, err := ring.Seal(cl.ref, cl.value)
				if err != nil {
					return total, err
				}
				if ok, err := c.replace(ctx, db, cl, sealed); err != nil {
					return total, err
				} else if !ok {
					return total, fmt.Errorf("%s changed while it was being encrypted", cl.ref)
				}
				total++
			}
			if len(cells) < pageSize {
				break
			}
			after = cells[len(cells)-1].key
		}
	}
	return total, nil
}

// State is what the database records about one store's encryption.
type State struct {
	// Activated: the store was activated at least once (else the other fields are zero).
	Activated bool
	Encrypted bool
	// KeyIDs are the keys values may be sealed with; a key is added when a bridge starts
	// with it as the current key, and rotation shrinks the list to the current key.
	KeyIDs []string
}

// ReadState returns the recorded state of a store without changing anything (for tools and
// health checks).
func ReadState(ctx context.Context, db *dbutil.Database, scope string) (State, error) {
	exists, err := db.TableExists(ctx, "passerelle_secrets")
	if err != nil || !exists {
		return State{}, err
	}
	var ids string
	st := State{Activated: true}
	err = db.QueryRow(ctx, getStateQuery, scope).Scan(&st.Encrypted, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		return State{}, nil
	} else if err != nil {
		return State{}, fmt.Errorf("read secret state of %s: %w", scope, err)
	}
	if ids != "" {
		st.KeyIDs = strings.Split(ids, ",")
	}
	return st, nil
}

// IsActivated tells whether the scope was ever activated in db and whether it is encrypted.
func IsActivated(ctx context.Context, db *dbutil.Database, scope string) (activated, encrypted bool, err error) {
	st, err := ReadState(ctx, db, scope)
	return st.Activated, st.Encrypted, err
}

// Scopes lists the stores recorded in db's passerelle_secrets table (none when it does not
// exist), so a tool can tell which stores it has not handled.
func Scopes(ctx context.Context, db *dbutil.Database) ([]string, error) {
	exists, err := db.TableExists(ctx, "passerelle_secrets")
	if err != nil || !exists {
		return nil, err
	}
	rows, err := db.Query(ctx, `SELECT scope FROM passerelle_secrets ORDER BY scope`)
	if err != nil {
		return nil, fmt.Errorf("list secret scopes: %w", err)
	}
	defer rows.Close()
	var scopes []string
	for rows.Next() {
		var s string
		if err = rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("list secret scopes: %w", err)
		}
		scopes = append(scopes, s)
	}
	return scopes, rows.Err()
}
