package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/util/exsync"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// deviceStore implements every per-device whatsmeow store for one device JID.
type deviceStore struct {
	c   *Container
	db  *dbutil.Database
	jid string

	// migratedPN remembers phone-number signal users whose sessions were already moved to
	// their LID, so sending to them does not rerun the migration every time.
	migratedPN *exsync.Set[string]
}

var _ store.AllSessionSpecificStores = (*deviceStore)(nil)

func newDeviceStore(c *Container, jid types.JID) *deviceStore {
	return &deviceStore{c: c, db: c.db, jid: jid.String(), migratedPN: exsync.NewSet[string]()}
}

// batchSize bounds rows per multi-row statement, well under SQLite's and PostgreSQL's
// parameter limits for any table here.
const batchSize = 200

// lockDeviceQuery takes a row lock on the device that other transactions' lockDevice calls
// wait for until this transaction ends, while plain inserts into the device's tables (which
// only need FOR KEY SHARE for their foreign key) go on. SQLite needs none: a write transaction
// there already excludes all others.
const lockDeviceQuery = `SELECT 1 FROM whatsmeow_device WHERE jid=$1 FOR NO KEY UPDATE`

// lockDevice serialises read-then-write sequences of this device (prekey ID allocation) across
// transactions, including when the caller's outer transaction commits later. A Go mutex could
// not: it would be released before the outer commit, or deadlock against a row lock.
// Call it inside a transaction.
func (s *deviceStore) lockDevice(ctx context.Context) error {
	if s.db.Dialect != dbutil.Postgres {
		return nil
	}
	var one int
	err := s.db.QueryRow(ctx, lockDeviceQuery, s.jid).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("device %s is not stored (logged out?)", s.jid)
	} else if err != nil {
		return fmt.Errorf("lock device %s: %w", s.jid, err)
	}
	return nil
}

// inTxn tells whether ctx already carries a transaction of this database, in which case
// in-memory bookkeeping must wait: the outer transaction may still roll back.
func (s *deviceStore) inTxn(ctx context.Context) bool {
	_, ok := s.db.Execable(ctx).(dbutil.Transaction)
	return ok
}

// placeholders returns "$start, $start+1, ..." for n parameters.
func placeholders(start, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", start+i)
	}
	return b.String()
}

// prefixArgs gives the query arguments that select addresses "phone:<device>" of one user:
// the "phone:" prefix and its length in characters (SQL substr counts characters).
func prefixArgs(phone string) (string, int) {
	prefix := phone + ":"
	return prefix, utf8.RuneCountInString(prefix)
}
