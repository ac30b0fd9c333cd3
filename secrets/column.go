package secrets

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.mau.fi/util/dbutil"
)

// Column describes one database column holding sealed values, so that the values can be
// encrypted when a key is first configured and re-sealed by rotation without knowing the
// store that owns them. Every store lists its sealed columns (e.g. devicestore.SealedColumns).
type Column struct {
	Table  string
	Column string
	// Key lists the primary key columns in the order Ref.Row gives their values.
	Key []string
}

// Ref is the cell of this column in the row with the given primary key values (in Key order;
// integers in decimal, binary keys as string(bytes)).
func (c Column) Ref(row ...string) Ref {
	if len(row) != len(c.Key) {
		panic(fmt.Sprintf("secrets: %s.%s: Ref with %d key values, the column has %d key columns", c.Table, c.Column, len(row), len(c.Key)))
	}
	return Ref{Table: c.Table, Column: c.Column, Row: row}
}

func (c Column) String() string { return c.Table + "." + c.Column }

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// validate refuses names that are not plain identifiers: they are put into SQL as is.
func (c Column) validate() error {
	if len(c.Key) == 0 {
		return fmt.Errorf("sealed column %s has no primary key columns", c)
	}
	for _, name := range append([]string{c.Table, c.Column}, c.Key...) {
		if !identifier.MatchString(name) {
			return fmt.Errorf("sealed column %s: %q is not a plain lower-case identifier", c, name)
		}
	}
	return nil
}

// cell is one non-NULL value of a sealed column with its primary key.
type cell struct {
	key   []any // as scanned, to pass back as query arguments
	ref   Ref
	value []byte
}

// page reads up to limit non-NULL values in primary key order, after the key `after` (nil for
// the first page). Rows are read fully before returning, so the caller may write in between.
func (c Column) page(ctx context.Context, db *dbutil.Database, after []any, limit int) ([]cell, error) {
	keys := strings.Join(c.Key, ", ")
	query := fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s IS NOT NULL", keys, c.Column, c.Table, c.Column)
	if after != nil {
		query += fmt.Sprintf(" AND (%s) > (%s)", keys, argList(1, len(after)))
	}
	query += fmt.Sprintf(" ORDER BY %s LIMIT %d", keys, limit)
	rows, err := db.Query(ctx, query, after...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c, err)
	}
	defer rows.Close()
	var out []cell
	for rows.Next() {
		key := make([]any, len(c.Key))
		var value []byte
		dest := make([]any, 0, len(key)+1)
		for i := range key {
			dest = append(dest, &key[i])
		}
		if err = rows.Scan(append(dest, &value)...); err != nil {
			return nil, fmt.Errorf("read %s: %w", c, err)
		}
		row := make([]string, len(key))
		for i, k := range key {
			if row[i], err = keyText(k); err != nil {
				return nil, fmt.Errorf("read %s: key column %s: %w", c, c.Key[i], err)
			}
		}
		out = append(out, cell{key: key, ref: c.Ref(row...), value: value})
	}
	if err = rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", c, err)
	}
	return out, nil
}

// keyText is a key value as Ref.Row holds it: what database/sql gives when scanning into []byte.
func keyText(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	default:
		return "", fmt.Errorf("unsupported primary key type %T (want text, integer or binary)", v)
	}
}

// replace swaps the cell's value for next if it still holds the value that was read, and
// tells whether it did (false: someone wrote the row in between, or deleted it).
func (c Column) replace(ctx context.Context, db *dbutil.Database, cl cell, next []byte) (bool, error) {
	conds := make([]string, len(c.Key))
	for i, k := range c.Key {
		conds[i] = fmt.Sprintf("%s=$%d", k, i+2)
	}
	query := fmt.Sprintf("UPDATE %s SET %s=$1 WHERE %s AND %s=$%d",
		c.Table, c.Column, strings.Join(conds, " AND "), c.Column, len(c.Key)+2)
	args := append(append([]any{next}, cl.key...), cl.value)
	res, err := db.Exec(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("update %s: %w", cl.ref, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("update %s: rows affected: %w", cl.ref, err)
	}
	return n == 1, nil
}

// hasSealedLooking tells whether any value of the column has the shape of a sealed value.
func (c Column) hasSealedLooking(ctx context.Context, db *dbutil.Database) (bool, error) {
	query := fmt.Sprintf("SELECT 1 FROM %s WHERE substr(%s, 1, %d) = $1 AND length(%s) >= %d LIMIT 1",
		c.Table, c.Column, len(magic), c.Column, headerSize)
	rows, err := db.Query(ctx, query, magic)
	if err != nil {
		return false, fmt.Errorf("check %s for sealed values: %w", c, err)
	}
	defer rows.Close()
	found := rows.Next()
	return found, rows.Err()
}

func argList(start, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "$" + strconv.Itoa(start+i)
	}
	return strings.Join(parts, ", ")
}
