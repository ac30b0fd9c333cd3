// Package pgstmt is the PostgreSQL driver the bridge runs on: lib/pq, with every connection
// keeping the parameterised statements it ran prepared.
//
// lib/pq runs a query with parameters as two round trips to the server: it first has the
// statement parsed and described (and waits for the answer), then binds the values and executes
// it. On the bridge's message paths (bridgev2's duplicate check and message row, the encryption
// check, whatsmeow's Signal store, the Telegram update state) each of those waits wakes the
// PostgreSQL backend, the bridge and the scheduler once more, on a machine shared with the
// homeserver. A statement prepared once per connection is then executed in one round trip, with
// the same encoding lib/pq uses for its own unnamed statements (the parameter types come from
// the server's description), so nothing is sent differently: unlike lib/pq's
// binary_parameters mode, JSON held in []byte still goes into jsonb columns as text.
//
// Statements are cached per connection and least recently used ones closed beyond
// statement_cache_size (a parameter of the URI, removed before lib/pq sees it; default
// DefaultCacheSize). statement_cache_size=0 turns the cache off, which a connection pooler in
// transaction mode needs (PgBouncer before 1.21, or without max_prepared_statements), since
// such a pooler hands one client's prepared statements to another's session.
package pgstmt

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/lib/pq"
)

// DriverName is the database/sql driver name. It starts with "postgres" so that mautrix's dbutil
// takes it for its PostgreSQL dialect.
const DriverName = "postgres+prepared"

// DefaultCacheSize is how many statements a connection keeps prepared by default: more than the
// distinct parameterised queries the bridge runs in normal operation (a few hundred across
// bridgev2, the crypto store and both networks' stores, of which a connection sees a part), few
// enough that the server's memory for them stays small (a few kilobytes each per connection).
const DefaultCacheSize = 512

// CacheSizeParam is the URI parameter that sets the cache size per connection.
const CacheSizeParam = "statement_cache_size"

func init() {
	sql.Register(DriverName, Driver{})
}

// Driver opens lib/pq connections that keep their statements prepared.
type Driver struct{}

// Open implements driver.Driver.
func (d Driver) Open(dsn string) (driver.Conn, error) {
	c, err := d.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

// OpenConnector implements driver.DriverContext, so database/sql parses the URI once.
func (Driver) OpenConnector(dsn string) (driver.Connector, error) {
	rest, size, err := SplitCacheSize(dsn)
	if err != nil {
		return nil, err
	}
	pc, err := pq.NewConnector(rest)
	if err != nil {
		return nil, err
	}
	return &connector{pq: pc, size: size}, nil
}

type connector struct {
	pq   *pq.Connector
	size int
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	pc, err := c.pq.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if c.size == 0 {
		return pc, nil
	}
	return newConn(pc, c.size), nil
}

func (c *connector) Driver() driver.Driver { return Driver{} }

var kvCacheSize = regexp.MustCompile(`(^|\s)` + CacheSizeParam + `\s*=\s*(\S*)`)

// SplitCacheSize takes statement_cache_size out of a PostgreSQL URI or key=value connection
// string (lib/pq would pass an unknown key on to the server, which refuses it) and returns the
// rest with the size.
func SplitCacheSize(dsn string) (string, int, error) {
	size, raw, found := DefaultCacheSize, "", false
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// lib/pq reports a malformed URI in its own words.
			return dsn, size, nil
		}
		q := u.Query()
		if q.Has(CacheSizeParam) {
			raw, found = q.Get(CacheSizeParam), true
			q.Del(CacheSizeParam)
			u.RawQuery = q.Encode()
			dsn = u.String()
		}
	} else if m := kvCacheSize.FindStringSubmatchIndex(dsn); m != nil {
		raw, found = dsn[m[4]:m[5]], true
		dsn = strings.TrimSpace(dsn[:m[0]] + dsn[m[1]:])
	}
	if found {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return "", 0, fmt.Errorf("database.uri: %s=%q is not a number of statements; use 0 to turn the statement cache off (for a connection pooler in transaction mode) or leave it out for %d", CacheSizeParam, raw, DefaultCacheSize)
		}
		size = n
	}
	return dsn, size, nil
}
