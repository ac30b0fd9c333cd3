package outbox

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

//go:embed schema/*.sql
var schemaFS embed.FS

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(schemaFS, "schema").Finish()

// Entry is one queued Matrix event.
type Entry struct {
	ID       int64
	LoginID  networkid.UserLoginID
	Portal   networkid.PortalKey
	RoomID   id.RoomID
	EventID  id.EventID
	Event    *event.Event
	QueuedAt time.Time
	Attempts int
	LastErr  string
	// Uncertain: a send of the event was cut off after it left, so the network may have it.
	Uncertain bool
}

// Store is the passerelle_outbox table.
type Store struct {
	db *dbutil.Database
}

// NewStore opens the table on the bridge database; call Upgrade before use.
func NewStore(db *dbutil.Database) *Store {
	return &Store{db: db.Child("passerelle_outbox_version", upgradeTable, dbutil.NoopLogger)}
}

// Upgrade creates or migrates the table.
func (s *Store) Upgrade(ctx context.Context) error {
	if err := s.db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade outbox table: %w", err)
	}
	return nil
}

// storedEvent is how an event is kept: its JSON with the content exactly as received (VeryRaw),
// because bridgev2 edits the parsed content in place (reply fallbacks, sticker msgtype).
func encodeEvent(evt *event.Event) ([]byte, error) {
	cp := *evt
	if evt.Content.VeryRaw != nil {
		cp.Content = event.Content{VeryRaw: evt.Content.VeryRaw}
	}
	data, err := json.Marshal(&cp)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", evt.ID, err)
	}
	return data, nil
}

// decodeEvent rebuilds the event as the Matrix connector hands it to bridgev2: type class set
// and content parsed.
func decodeEvent(data []byte) (*event.Event, error) {
	var evt event.Event
	if err := json.Unmarshal(data, &evt); err != nil {
		return nil, fmt.Errorf("decode queued event: %w", err)
	}
	if evt.StateKey != nil {
		evt.Type.Class = event.StateEventType
	} else {
		evt.Type.Class = event.MessageEventType
	}
	if err := evt.Content.ParseRaw(evt.Type); err != nil && !errors.Is(err, event.ErrContentAlreadyParsed) {
		return nil, fmt.Errorf("parse queued %s event %s: %w", evt.Type.Type, evt.ID, err)
	}
	return &evt, nil
}

// Add queues evt; it reports false when the event was already queued (nothing changed).
func (s *Store) Add(ctx context.Context, login networkid.UserLoginID, portal networkid.PortalKey, evt *event.Event, now time.Time) (bool, error) {
	data, err := encodeEvent(evt)
	if err != nil {
		return false, err
	}
	res, err := s.db.Exec(ctx, `INSERT INTO passerelle_outbox (login_id, portal_id, portal_receiver, room_id, event_id, event, queued_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING`,
		login, portal.ID, portal.Receiver, evt.RoomID, evt.ID, string(data), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("queue event %s: %w", evt.ID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Failed records another failed attempt of a queued event.
func (s *Store) Failed(ctx context.Context, eventID id.EventID, reason string) error {
	_, err := s.db.Exec(ctx, `UPDATE passerelle_outbox SET attempts=attempts+1, last_error=$2 WHERE event_id=$1`, eventID, reason)
	if err != nil {
		return fmt.Errorf("record failed attempt of %s: %w", eventID, err)
	}
	return nil
}

// MarkUncertain records that a send of a queued event was cut off after it left.
func (s *Store) MarkUncertain(ctx context.Context, eventID id.EventID) error {
	if _, err := s.db.Exec(ctx, `UPDATE passerelle_outbox SET uncertain=true WHERE event_id=$1`, eventID); err != nil {
		return fmt.Errorf("mark queued %s uncertain: %w", eventID, err)
	}
	return nil
}

// Delete removes a handled event; it reports whether the row was still there (the replay and
// Adopt may both finish with one event, and the queue depth must drop once).
func (s *Store) Delete(ctx context.Context, eventID id.EventID) (bool, error) {
	res, err := s.db.Exec(ctx, `DELETE FROM passerelle_outbox WHERE event_id=$1`, eventID)
	if err != nil {
		return false, fmt.Errorf("remove %s from the outbox: %w", eventID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

const entryColumns = `id, login_id, portal_id, portal_receiver, room_id, event_id, event, queued_at, attempts, last_error, uncertain`

func scanEntry(row dbutil.Scannable) (*Entry, error) {
	var e Entry
	var data string
	var queued int64
	err := row.Scan(&e.ID, &e.LoginID, &e.Portal.ID, &e.Portal.Receiver, &e.RoomID, &e.EventID, &data, &queued, &e.Attempts, &e.LastErr, &e.Uncertain)
	if err != nil {
		return nil, err
	}
	e.QueuedAt = time.UnixMilli(queued)
	if e.Event, err = decodeEvent([]byte(data)); err != nil {
		return nil, err
	}
	return &e, nil
}

// Next returns the oldest queued event of a login, or nil.
func (s *Store) Next(ctx context.Context, login networkid.UserLoginID) (*Entry, error) {
	e, err := scanEntry(s.db.QueryRow(ctx, `SELECT `+entryColumns+` FROM passerelle_outbox WHERE login_id=$1 ORDER BY id LIMIT 1`, login))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read the outbox of %s: %w", login, err)
	}
	return e, nil
}

// List returns a login's queued events in order.
func (s *Store) List(ctx context.Context, login networkid.UserLoginID) ([]*Entry, error) {
	rows, err := s.db.Query(ctx, `SELECT `+entryColumns+` FROM passerelle_outbox WHERE login_id=$1 ORDER BY id`, login)
	if err != nil {
		return nil, fmt.Errorf("list the outbox of %s: %w", login, err)
	}
	defer rows.Close()
	var out []*Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("read the outbox of %s: %w", login, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Counts returns the number of queued events per login.
func (s *Store) Counts(ctx context.Context) (map[networkid.UserLoginID]int, error) {
	rows, err := s.db.Query(ctx, `SELECT login_id, COUNT(*) FROM passerelle_outbox GROUP BY login_id`)
	if err != nil {
		return nil, fmt.Errorf("count queued events: %w", err)
	}
	defer rows.Close()
	out := map[networkid.UserLoginID]int{}
	for rows.Next() {
		var login networkid.UserLoginID
		var n int
		if err = rows.Scan(&login, &n); err != nil {
			return nil, fmt.Errorf("count queued events: %w", err)
		}
		out[login] = n
	}
	return out, rows.Err()
}
