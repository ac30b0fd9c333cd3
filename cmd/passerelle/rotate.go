package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	_ "github.com/lib/pq"
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	_ "go.mau.fi/util/dbutil/litestream"
	"gopkg.in/yaml.v3"

	"github.com/passerelle-bridge/passerelle/secrets"
	"github.com/passerelle-bridge/passerelle/telegram/tgstore"
	"github.com/passerelle-bridge/passerelle/whatsapp/devicestore"
)

// rotationTarget is one store whose sealed columns rotate-secrets re-seals.
type rotationTarget struct {
	name    string
	scope   string
	columns []secrets.Column
	// present tells whether the store exists in the database; absent stores are skipped,
	// so pointing the command at the wrong database creates nothing.
	present func(ctx context.Context, db *dbutil.Database) (bool, error)
	// prepare brings the store's schema up to date before rotating (sealed columns may only
	// exist in its latest schema); nil when nothing is needed.
	prepare func(ctx context.Context, db *dbutil.Database, ring *secrets.Keyring, log zerolog.Logger) error
}

// rotationTargets lists every store with sealed columns.
var rotationTargets = []rotationTarget{{
	name:    "WhatsApp device store",
	scope:   devicestore.SecretScope,
	columns: devicestore.SealedColumns(),
	present: func(ctx context.Context, db *dbutil.Database) (bool, error) {
		return db.TableExists(ctx, devicestore.VersionTable)
	},
	prepare: func(ctx context.Context, db *dbutil.Database, ring *secrets.Keyring, log zerolog.Logger) error {
		return devicestore.New(db, log, devicestore.WithKeyring(ring)).Upgrade(ctx)
	},
}, {
	name:    "Telegram session store",
	scope:   tgstore.SecretScope,
	columns: tgstore.SealedColumns(),
	present: func(ctx context.Context, db *dbutil.Database) (bool, error) {
		return db.TableExists(ctx, tgstore.VersionTable)
	},
	prepare: func(ctx context.Context, db *dbutil.Database, ring *secrets.Keyring, log zerolog.Logger) error {
		return tgstore.New(db, log, tgstore.WithKeyring(ring)).Upgrade(ctx)
	},
}}

const rotateUsage = `Usage: passerelle rotate-secrets [-c config.yaml]
       passerelle rotate-secrets --generate-key

Re-seals every session secret in the bridge database with the current key, so old keys can be
removed. It reads the database from the bridge config and the keys from the environment:
  %s  the new (current) key, or %s a key file
  %s  the old key(s) still needed to read values sealed before
Restart the bridge with the new key (and the old one as %s) first: rotate-secrets then
runs beside it, and can be interrupted and run again. With the bridge stopped, pass
--bridge-stopped instead (this also encrypts a store that is not encrypted yet). When it
reports that only the current key is in use, remove the old keys from the configuration.

`

// runRotateSecrets is `passerelle rotate-secrets`. It returns the process exit code.
func runRotateSecrets(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rotate-secrets", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, rotateUsage, secrets.EnvKey, secrets.EnvKeyFile, secrets.EnvOldKeys, secrets.EnvOldKeys)
		fs.PrintDefaults()
	}
	var configPath string
	var generate, bridgeStopped bool
	fs.StringVar(&configPath, "c", "config.yaml", "bridge config file (for the database)")
	fs.StringVar(&configPath, "config", "config.yaml", "same as -c")
	fs.BoolVar(&generate, "generate-key", false, "print a new random key and exit")
	fs.BoolVar(&bridgeStopped, "bridge-stopped", false, "the bridge is not running: allow a key the bridge has not started with yet, and encrypting an unencrypted store")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rotate-secrets: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if generate {
		key, err := secrets.GenerateKey()
		if err != nil {
			fmt.Fprintln(stderr, "rotate-secrets:", err)
			return 1
		}
		fmt.Fprintln(stdout, key)
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr, NoColor: true}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	if err := rotateSecrets(ctx, configPath, bridgeStopped, stdout, log); err != nil {
		fmt.Fprintln(stderr, "rotate-secrets:", err)
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "Interrupted: what was done is kept; run the command again to finish.")
		}
		return 1
	}
	return 0
}

func rotateSecrets(ctx context.Context, configPath string, bridgeStopped bool, out io.Writer, log zerolog.Logger) error {
	ring, err := secrets.FromEnv()
	if err != nil {
		return err
	} else if ring == nil {
		return fmt.Errorf("%w: set %s (or %s) to the new key and %s to the old one(s)",
			secrets.ErrNoKey, secrets.EnvKey, secrets.EnvKeyFile, secrets.EnvOldKeys)
	}
	cfg, err := readDatabaseConfig(configPath)
	if err != nil {
		return err
	}
	db, err := dbutil.NewFromConfig("", cfg, dbutil.ZeroLogger(log.With().Str("component", "database").Logger()))
	if err != nil {
		return fmt.Errorf("open database (%s in %s): %w", cfg.Type, configPath, err)
	}
	defer db.Close()
	if err = db.RawDB.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to database (%s in %s): %w", cfg.Type, configPath, err)
	}

	fmt.Fprintf(out, "Current key: %s; keys configured: %s\n", ring.CurrentID(), strings.Join(ring.IDs(), ", "))
	handled := map[string]bool{}
	var failed []string
	for _, target := range rotationTargets {
		handled[target.scope] = true
		if ok, err := target.present(ctx, db); err != nil {
			return fmt.Errorf("%s: %w", target.name, err)
		} else if !ok {
			fmt.Fprintf(out, "%s: not in this database, skipped\n", target.name)
			continue
		}
		// A running bridge only reads what its own keyring opens: values re-sealed with a key
		// it has not started with, or sealed under a store it runs unencrypted, would be
		// unreadable to it (or misread) until it restarts.
		if st, err := secrets.ReadState(ctx, db, target.scope); err != nil {
			return fmt.Errorf("%s: %w", target.name, err)
		} else if !bridgeStopped && !st.Encrypted {
			return fmt.Errorf("%s is not encrypted yet: restart the bridge with %s set (it encrypts the store at start), or stop the bridge and pass --bridge-stopped",
				target.name, secrets.EnvKey)
		} else if !bridgeStopped && !slices.Contains(st.KeyIDs, ring.CurrentID()) {
			return fmt.Errorf("the bridge has not started with key %s yet: restart it with that key as %s and the old one(s) in %s, then run this again (or stop the bridge and pass --bridge-stopped)",
				ring.CurrentID(), secrets.EnvKey, secrets.EnvOldKeys)
		}
		if target.prepare != nil {
			if err = target.prepare(ctx, db, ring, log); err != nil {
				return fmt.Errorf("%s: %w", target.name, err)
			}
		}
		stats, err := secrets.Rotate(ctx, db, target.scope, ring, target.columns, log)
		fmt.Fprintf(out, "%s: %d re-sealed, %d already current, %d changed by the running bridge, %d failed\n",
			target.name, stats.Resealed, stats.Current, stats.Changed, stats.Failed)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			failed = append(failed, target.name)
			fmt.Fprintf(out, "  %v\n", err)
			continue
		}
		if slices.Equal(stats.KeyIDs, []string{ring.CurrentID()}) {
			fmt.Fprintf(out, "  every value is sealed with key %s; older keys are no longer needed for it\n", ring.CurrentID())
		} else {
			fmt.Fprintf(out, "  values may still be sealed with keys %s: run the command again\n", strings.Join(stats.KeyIDs, ", "))
		}
	}
	scopes, err := secrets.Scopes(ctx, db)
	if err != nil {
		return err
	}
	for _, scope := range scopes {
		if handled[scope] {
			continue
		}
		if _, encrypted, err := secrets.IsActivated(ctx, db, scope); err != nil {
			return err
		} else if encrypted {
			fmt.Fprintf(out, "Store %q is encrypted but this build does not know its columns: not rotated\n", scope)
			failed = append(failed, scope)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("not every store was rotated (%s); keep the old keys", strings.Join(failed, ", "))
	}
	return nil
}

// readDatabaseConfig reads the database section of the bridge config, resolving a relative
// SQLite path against the config's directory as the bridge does.
func readDatabaseConfig(path string) (dbutil.Config, error) {
	var file struct {
		Database dbutil.Config `yaml:"database"`
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return dbutil.Config{}, fmt.Errorf("read bridge config (give its path with -c): %w", err)
	}
	if err = yaml.Unmarshal(raw, &file); err != nil {
		return dbutil.Config{}, fmt.Errorf("parse bridge config %s: %w", path, err)
	}
	cfg := file.Database
	if cfg.Type == "" || cfg.URI == "" {
		return dbutil.Config{}, fmt.Errorf("bridge config %s: database.type and database.uri must be set", path)
	}
	if err = resolveDatabase(&cfg, filepath.Dir(path)); err != nil {
		return dbutil.Config{}, fmt.Errorf("bridge config %s: %w", path, err)
	}
	return cfg, nil
}
