// Package audit keeps the record an operator answers to: who logged in or out of which account,
// who set or removed a relay, which permissions changed and which bot commands of that kind were
// run. Each entry is a row in the bridge database and a log line; `audit-export` hands admins
// the table as JSON lines.
//
// Refusals are audited too: provisioning API requests turned away (wrong or missing shared
// secret, no permission, users of other homeservers) and bot commands refused to users without
// the permission; repeats of one refusal within a minute are folded into a count (RecordRefusal)
// so a client hammering the API cannot fill the table.
//
// Entries never hold secrets: command arguments other than a login flow ID or login ID are not
// recorded, because login steps carry codes, passwords and tokens; provisioning entries have the
// path and remote address, never the Authorization header or the query string; detail keys that
// name a secret (token, secret, password, code, key…) are dropped by Record whatever the caller
// passes, and detail values are cut at MaxDetailLen.
package audit

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
)

//go:embed schema/*.sql
var schemaFS embed.FS

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(schemaFS, "schema").Finish()

// Entry is one audited action.
type Entry struct {
	ID      string            `json:"id"`
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`
	Action  string            `json:"action"`
	Network string            `json:"network,omitempty"`
	Target  string            `json:"target,omitempty"`
	Outcome string            `json:"outcome,omitempty"`
	Details map[string]string `json:"details,omitempty"`
}

// Log writes audit entries.
type Log struct {
	db      *dbutil.Database
	log     zerolog.Logger
	refused refusals
}

// New opens the audit log on the bridge database; call Upgrade before use.
func New(db *dbutil.Database, log zerolog.Logger) *Log {
	return &Log{
		db:      db.Child("passerelle_audit_version", upgradeTable, dbutil.ZeroLogger(log)),
		log:     log.With().Str("component", "audit").Logger(),
		refused: refusals{window: DefaultRefusalWindow, now: time.Now},
	}
}

// Upgrade creates or migrates the audit table.
func (l *Log) Upgrade(ctx context.Context) error {
	if err := l.db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade audit table: %w", err)
	}
	return nil
}

// Record stores an entry and logs it. A failure to store is logged loudly and returned, but
// never blocks the audited action: the log line is still written.
func (l *Log) Record(ctx context.Context, e Entry) error {
	if e.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		e.ID = hex.EncodeToString(b[:])
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Details = cleanDetails(e.Details)
	details, _ := json.Marshal(e.Details)
	if e.Details == nil {
		details = []byte("{}")
	}
	ev := l.log.Info().Str("audit_id", e.ID).Str("actor", e.Actor).Str("action", e.Action).
		Str("network", e.Network).Str("target", e.Target).Str("outcome", e.Outcome)
	if len(e.Details) > 0 {
		ev = ev.RawJSON("details", details)
	}
	ev.Msg("Audit")
	_, err := l.db.Exec(ctx, `INSERT INTO passerelle_audit (id, ts, actor, action, network, target, outcome, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.ID, e.Time.UnixMilli(), e.Actor, e.Action, e.Network, e.Target, e.Outcome, string(details))
	if err != nil {
		l.log.Error().Err(err).Str("audit_id", e.ID).Msg("Failed to store audit entry")
		return fmt.Errorf("store audit entry %s: %w", e.ID, err)
	}
	return nil
}

// List returns entries newest first; since is inclusive, limit ≤ 0 means all.
func (l *Log) List(ctx context.Context, since time.Time, limit int) ([]Entry, error) {
	q := `SELECT id, ts, actor, action, network, target, outcome, details FROM passerelle_audit WHERE ts >= $1 ORDER BY ts DESC, id`
	args := []any{since.UnixMilli()}
	if limit > 0 {
		q += " LIMIT $2"
		args = append(args, limit)
	}
	rows, err := l.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var ts int64
		var details string
		if err = rows.Scan(&e.ID, &ts, &e.Actor, &e.Action, &e.Network, &e.Target, &e.Outcome, &details); err != nil {
			return nil, fmt.Errorf("read audit entry: %w", err)
		}
		e.Time = time.UnixMilli(ts)
		if details != "" && details != "{}" {
			_ = json.Unmarshal([]byte(details), &e.Details)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ExportJSONL renders entries as one JSON object per line.
func ExportJSONL(entries []Entry) []byte {
	var out []byte
	for _, e := range entries {
		line, _ := json.Marshal(e)
		out = append(out, line...)
		out = append(out, '\n')
	}
	return out
}
