package importer

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/id"
)

//go:embed schema/*.sql
var schemaFS embed.FS

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(schemaFS, "schema").Finish()

// RoomKind says how an import room relates to the chat's portal.
type RoomKind string

const (
	// KindPortal: the chat had no portal, the import created it, live messages follow the history.
	KindPortal RoomKind = "portal"
	// KindArchive: the chat already had a portal; the history went to a room linked from it.
	KindArchive RoomKind = "archive"
	// KindStandalone: the chat could not be tied to a portal (no login on that network, or a
	// WhatsApp export without --chat), so the history has a room of its own.
	KindStandalone RoomKind = "standalone"
)

// Store is the import state in the bridge database: which room each imported chat went to and
// which event each imported message became. It is what makes imports idempotent and resumable.
type Store struct {
	db       *dbutil.Database
	bridgeID networkid.BridgeID
}

// NewStore opens the import tables on the bridge database; call Upgrade before use.
func NewStore(db *dbutil.Database, bridgeID networkid.BridgeID, log zerolog.Logger) *Store {
	return &Store{
		db:       db.Child("passerelle_import_version", upgradeTable, dbutil.ZeroLogger(log)),
		bridgeID: bridgeID,
	}
}

// Upgrade creates or migrates the import tables.
func (s *Store) Upgrade(ctx context.Context) error {
	if err := s.db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade import tables: %w", err)
	}
	return nil
}

// ImportRoom is where one chat of one importer goes.
type ImportRoom struct {
	Scope  string
	RoomID id.RoomID
	Kind   RoomKind
	User   id.UserID
}

// GetRoom returns the room of a scope, or nil if the chat was never imported.
func (s *Store) GetRoom(ctx context.Context, scope string) (*ImportRoom, error) {
	r := &ImportRoom{Scope: scope}
	err := s.db.QueryRow(ctx,
		`SELECT room_id, kind, user_mxid FROM passerelle_import_room WHERE bridge_id=$1 AND scope=$2`,
		s.bridgeID, scope).Scan(&r.RoomID, &r.Kind, &r.User)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get import room of %s: %w", scope, err)
	}
	return r, nil
}

// PutRoom records the room of a scope.
func (s *Store) PutRoom(ctx context.Context, r *ImportRoom) error {
	_, err := s.db.Exec(ctx,
		`INSERT INTO passerelle_import_room (bridge_id, scope, room_id, kind, user_mxid, created_at)
		 VALUES ($1, $2, $3, $4, $5, $6)
		 ON CONFLICT (bridge_id, scope) DO UPDATE SET room_id=excluded.room_id, kind=excluded.kind`,
		s.bridgeID, r.Scope, r.RoomID, r.Kind, r.User, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("save import room of %s: %w", r.Scope, err)
	}
	return nil
}

// Imported returns every message key of a scope already imported, with its event.
func (s *Store) Imported(ctx context.Context, scope string) (map[string]id.EventID, error) {
	rows, err := s.db.Query(ctx,
		`SELECT msg_key, event_id FROM passerelle_import_message WHERE bridge_id=$1 AND scope=$2`,
		s.bridgeID, scope)
	if err != nil {
		return nil, fmt.Errorf("list imported messages of %s: %w", scope, err)
	}
	out := map[string]id.EventID{}
	for rows.Next() {
		var key string
		var evt id.EventID
		if err = rows.Scan(&key, &evt); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("list imported messages of %s: %w", scope, err)
		}
		out[key] = evt
	}
	if err = errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("list imported messages of %s: %w", scope, err)
	}
	return out, nil
}

// ImportedRow is one imported message as MarkImportedBatch records it.
type ImportedRow struct {
	Scope, Key string
	Event      id.EventID
	Time       time.Time
}

// maxBatchRows keeps a batch's parameters (5 per row) under SQLite's oldest limit of 999.
const maxBatchRows = 150

// MarkImportedBatch records many imported messages in one statement per maxBatchRows, so a
// fast import does not pay one database round trip per message. A key repeated in rows keeps
// its last event.
func (s *Store) MarkImportedBatch(ctx context.Context, rows []ImportedRow) error {
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), maxBatchRows)]
		rows = rows[len(chunk):]
		// One statement cannot touch a row twice (PostgreSQL refuses ON CONFLICT on a key
		// inserted earlier in the same statement): keep the last of each key.
		last := make(map[[2]string]int, len(chunk))
		for i, r := range chunk {
			last[[2]string{r.Scope, r.Key}] = i
		}
		var q strings.Builder
		q.WriteString(`INSERT INTO passerelle_import_message (bridge_id, scope, msg_key, event_id, ts) VALUES `)
		args := make([]any, 0, 5*len(chunk))
		for i, r := range chunk {
			if last[[2]string{r.Scope, r.Key}] != i {
				continue
			}
			if len(args) > 0 {
				q.WriteByte(',')
			}
			n := len(args)
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5)
			args = append(args, s.bridgeID, r.Scope, r.Key, r.Event, r.Time.UnixMilli())
		}
		q.WriteString(` ON CONFLICT (bridge_id, scope, msg_key) DO UPDATE SET event_id=excluded.event_id`)
		if _, err := s.db.Exec(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("record %d imported messages (first %s): %w", len(chunk), chunk[0].Key, err)
		}
	}
	return nil
}
