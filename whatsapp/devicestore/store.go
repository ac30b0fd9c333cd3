package devicestore

import (
	"context"
	"fmt"
	"strings"
	"sync"
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

	// preKeyLock serialises prekey ID allocation, which reads MAX(key_id) then inserts.
	preKeyLock sync.Mutex
	// contactLock makes the read-compare-write of push/business names atomic, so only one of
	// two concurrent updates reports the change.
	contactLock sync.Mutex
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
