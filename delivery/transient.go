package delivery

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"syscall"

	"github.com/lib/pq"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/bridgev2"
)

// Transient reports whether an event failed because something the bridge depends on was
// briefly unreachable (the database restarting, a dropped connection) rather than because of
// the event itself: such an event is handled again instead of being reported as failed.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, bridgev2.ErrDatabaseError) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	if pqErr, ok := errors.AsType[*pq.Error](err); ok {
		switch pqErr.Code.Class() {
		case "08", // connection exception
			"53", // insufficient resources
			"57", // operator intervention: shutdown, starting up
			"58": // system error
			return true
		}
		return pqErr.Code == "40001" || pqErr.Code == "40P01" // serialization failure, deadlock
	}
	if opErr, ok := errors.AsType[*net.OpError](err); ok && opErr.Op == "dial" {
		return true
	}
	// The homeserver going down mid-request: the connection closed without an answer, or a
	// server error while it shuts down or starts (Dendrite answers 500 for a send its stopping
	// roomserver did not finish).
	if urlErr, ok := errors.AsType[*url.Error](err); ok && (errors.Is(urlErr, io.EOF) || urlErr.Timeout()) {
		return true
	}
	if httpErr, ok := errors.AsType[mautrix.HTTPError](err); ok && httpErr.Response != nil && httpErr.Response.StatusCode >= 500 {
		return true
	}
	return false
}
