package pgstmt

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"

	"github.com/lib/pq"
)

// pqConn is what lib/pq's connection implements and database/sql looks for.
type pqConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// conn is one lib/pq connection with its prepared statements. database/sql uses a connection
// from one goroutine at a time, so it needs no lock.
type conn struct {
	pq    pqConn
	size  int
	lru   *list.List // of *entry, most recently used first
	stmts map[string]*list.Element
	// busy is set while rows are open. lib/pq refuses a second query on the connection then,
	// but only on its own query path, which prepared statements bypass: without this check a
	// statement's messages would interleave with the rows still being read.
	busy bool
	inTx bool
}

type entry struct {
	query string
	stmt  driver.Stmt
}

func newConn(pc driver.Conn, size int) driver.Conn {
	c, ok := pc.(pqConn)
	if !ok {
		// A lib/pq without one of these interfaces: run it as it is rather than half-wrapped.
		return pc
	}
	return &conn{pq: c, size: size, lru: list.New(), stmts: make(map[string]*list.Element)}
}

// errBusy is lib/pq's own refusal, with what to do about it.
var errBusy = errors.New("pq: there is already a query being processed on this connection: close the rows of the previous query first")

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if c.busy {
		return nil, errBusy
	}
	return c.pq.PrepareContext(ctx, query)
}

// Close closes the connection; the server drops its prepared statements with the session.
func (c *conn) Close() error {
	c.lru.Init()
	clear(c.stmts)
	return c.pq.Close()
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.pq.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.inTx = true
	return &txn{Tx: tx, c: c}, nil
}

func (c *conn) Ping(ctx context.Context) error              { return c.pq.Ping(ctx) }
func (c *conn) ResetSession(ctx context.Context) error      { return c.pq.ResetSession(ctx) }
func (c *conn) IsValid() bool                               { return c.pq.IsValid() }
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error { return c.pq.CheckNamedValue(nv) }
func (t *txn) Commit() error                                { t.c.inTx = false; return t.Tx.Commit() }
func (t *txn) Rollback() error                              { t.c.inTx = false; return t.Tx.Rollback() }
func (r *rows) ColumnTypeScanType(i int) reflect.Type       { return r.typed().ColumnTypeScanType(i) }
func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	return r.typed().ColumnTypeDatabaseTypeName(i)
}
func (r *rows) ColumnTypeLength(i int) (int64, bool) { return r.typed().ColumnTypeLength(i) }
func (r *rows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	return r.typed().ColumnTypePrecisionScale(i)
}

type txn struct {
	driver.Tx
	c *conn
}

// QueryContext runs a query with parameters as its prepared statement, preparing it on first
// use; one without parameters goes through lib/pq's simple query protocol as before (it may hold
// several statements, which cannot be prepared).
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.busy {
		return nil, errBusy
	}
	var out driver.Rows
	var err error
	if len(args) == 0 {
		out, err = c.pq.QueryContext(ctx, query, args)
	} else {
		err = c.run(ctx, query, func(st driver.Stmt) (err error) {
			out, err = st.(driver.StmtQueryContext).QueryContext(ctx, args)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	c.busy = true
	return &rows{Rows: out, c: c}, nil
}

// ExecContext is QueryContext for statements whose rows are not read.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.busy {
		return nil, errBusy
	}
	if len(args) == 0 {
		return c.pq.ExecContext(ctx, query, args)
	}
	var out driver.Result
	err := c.run(ctx, query, func(st driver.Stmt) (err error) {
		out, err = st.(driver.StmtExecContext).ExecContext(ctx, args)
		return err
	})
	return out, err
}

// run runs query's prepared statement. A statement the server no longer holds as it was
// prepared (a table it reads was altered so its result changed, or a pooler or DISCARD dropped
// it) is forgotten and prepared again; outside a transaction the query is then run once more,
// since the failed run did nothing. Inside one the error stands: the server aborted the
// transaction, and the caller's retry of it prepares afresh.
func (c *conn) run(ctx context.Context, query string, do func(driver.Stmt) error) error {
	for attempt := 0; ; attempt++ {
		st, err := c.stmt(ctx, query)
		if err != nil {
			return err
		}
		err = do(st)
		if err == nil || !stale(err) {
			return err
		}
		c.forget(query)
		if c.inTx || attempt > 0 {
			return err
		}
	}
}

// stale reports whether err says a prepared statement no longer matches the server's state:
// "cached plan must not change result type" after a table changed (0A000, which other
// refusals share, so the server's routine is checked too; the message may be translated),
// or 26000 "prepared statement does not exist".
func stale(err error) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "0A000" && pe.Routine == "RevalidateCachedQuery" || pe.Code == "26000"
}

func (c *conn) stmt(ctx context.Context, query string) (driver.Stmt, error) {
	if el, ok := c.stmts[query]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*entry).stmt, nil
	}
	for c.lru.Len() >= c.size {
		if err := c.evict(c.lru.Back()); err != nil {
			return nil, err
		}
	}
	st, err := c.pq.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = c.lru.PushFront(&entry{query: query, stmt: st})
	return st, nil
}

// evict closes a statement to make room. Only a broken connection fails the query that needed
// the room; any other refusal (say, of a transaction already aborted) leaves the statement on
// the server until the session ends, which costs its memory and nothing else.
func (c *conn) evict(el *list.Element) error {
	e := el.Value.(*entry)
	c.forget(e.query)
	if err := e.stmt.Close(); err != nil && (errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || !c.pq.IsValid()) {
		return driver.ErrBadConn
	}
	return nil
}

// forget drops a stale statement from the cache. It is not closed: a server that lost it has
// nothing to close, and one that holds it stale may be in an aborted transaction.
func (c *conn) forget(query string) {
	if el, ok := c.stmts[query]; ok {
		c.lru.Remove(el)
		delete(c.stmts, query)
	}
}

// rows clears the connection's busy mark when closed, and passes on the column details
// database/sql's ColumnTypes asks lib/pq's rows for.
type rows struct {
	driver.Rows
	c      *conn
	closed bool
}

type typedRows interface {
	driver.RowsColumnTypeScanType
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypePrecisionScale
}

func (r *rows) typed() typedRows { return r.Rows.(typedRows) }

func (r *rows) Close() error {
	err := r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.c.busy = false
	}
	return err
}

func (r *rows) HasNextResultSet() bool {
	n, ok := r.Rows.(driver.RowsNextResultSet)
	return ok && n.HasNextResultSet()
}

func (r *rows) NextResultSet() error {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return n.NextResultSet()
	}
	return io.EOF
}
