package devicestore

import (
	"context"
	"embed"
	"fmt"

	"go.mau.fi/util/dbutil"
)

// VersionTable is where the schema version of the whatsmeow_ tables is recorded, separate from
// bridgev2's own version table so both can be upgraded independently in one database.
const VersionTable = "whatsmeow_version"

//go:embed schema/*.sql schema/v2/*.sql
var schemaFS embed.FS

// upgradeTable holds the schema migrations: SQL files in schema/, and v2 in Go because SQLite
// needs foreign keys off for it.
var upgradeTable = dbutil.BuildUpgradeTable().
	WithFSPath(schemaFS, "schema").
	WithRaw(1, 2, 2, "Sealed secret columns (no length checks on key columns)", dbutil.TxnModeOff, upgradeSealedSecrets).
	Finish()

// v2 drops the 32-byte length checks of private key columns: they now hold sealed values
// (package secrets). Builds that predate sealing must not read such a database, hence
// "compatible with v2" and up. Both branches can be rerun, since the version is recorded after
// the change, outside its transaction.
func upgradeSealedSecrets(ctx context.Context, db *dbutil.Database) error {
	switch db.Dialect {
	case dbutil.Postgres:
		return db.DoTxn(ctx, nil, func(ctx context.Context) error {
			_, err := db.Exec(ctx, `
				ALTER TABLE whatsmeow_device DROP CONSTRAINT IF EXISTS whatsmeow_device_noise_key_check;
				ALTER TABLE whatsmeow_device DROP CONSTRAINT IF EXISTS whatsmeow_device_identity_key_check;
				ALTER TABLE whatsmeow_device DROP CONSTRAINT IF EXISTS whatsmeow_device_signed_pre_key_check;
				ALTER TABLE whatsmeow_pre_keys DROP CONSTRAINT IF EXISTS whatsmeow_pre_keys_key_check;
			`)
			return err
		})
	case dbutil.SQLite:
		return rebuildSQLiteWithoutFKs(ctx, db, "schema/v2/sqlite-rebuild.sql")
	default:
		return fmt.Errorf("unsupported database dialect %s", db.Dialect)
	}
}

// rebuildSQLiteWithoutFKs runs a table rebuild on one connection with foreign keys off, so that
// dropping a parent table does not cascade to its children, checks the foreign keys before
// committing, and turns them back on before the connection returns to the pool.
// (dbutil's own sqlite-fkey-off mode does the same but never returns the connection.)
func rebuildSQLiteWithoutFKs(ctx context.Context, db *dbutil.Database, file string) (err error) {
	script, err := schemaFS.ReadFile(file)
	if err != nil {
		return err
	}
	conn, err := db.RawDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Close()
	if _, err = conn.ExecContext(ctx, "PRAGMA foreign_keys=OFF"); err != nil {
		return fmt.Errorf("turn foreign keys off: %w", err)
	}
	defer func() {
		if _, onErr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys=ON"); onErr != nil && err == nil {
			err = fmt.Errorf("turn foreign keys back on: %w", onErr)
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err = tx.ExecContext(ctx, string(script)); err != nil {
		return fmt.Errorf("rebuild tables: %w", err)
	}
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("check foreign keys: %w", err)
	}
	violation := rows.Next()
	if err = rows.Close(); err != nil {
		return fmt.Errorf("check foreign keys: %w", err)
	}
	if violation {
		return fmt.Errorf("rebuilt tables break foreign keys; nothing was changed")
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
