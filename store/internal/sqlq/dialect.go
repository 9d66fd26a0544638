package sqlq

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// Row is one result row of a query.
type Row interface{ Scan(dest ...any) error }

// Rows is the result set of a query.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Tx is the part of a transaction the shared statements use; each backend
// adapts its driver's (database/sql, pgx) to it.
type Tx interface {
	// Exec runs a statement and returns the number of rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Dialect is what the shared statements need to know about one database,
// in the manner of dex's SQL "flavors": the SQL is written once, with $n
// placeholders, and each backend says how it differs.
type Dialect struct {
	// Placeholder is the marker of the n-th (1-based) parameter. The
	// shared statements are rewritten with it once, in New.
	Placeholder func(n int) string
	// UpdateLock and DeleteLock end the read that starts an update or a
	// delete: a row lock on PostgreSQL (FOR NO KEY UPDATE lets membership
	// inserts, which only need the key, go on), nothing on SQLite, where
	// BEGIN IMMEDIATE already serialises every writer.
	UpdateLock, DeleteLock string
	// Time encodes a (normalised) timestamp as a bind value.
	Time func(time.Time) any
	// ScanTime returns the scan destination that decodes a timestamp
	// column into *t (which is then normalised to UTC).
	ScanTime func(t *time.Time) any
	// NoRows is the driver's error for a QueryRow that found nothing.
	NoRows error
}

// Hooks are the writes and reads that bind a list of values, which each
// database does its own way (json_each on SQLite, arrays on PostgreSQL).
type Hooks struct {
	// PutEmails writes the folded e-mail index rows of a user, first
	// deleting the old ones when replace is set.
	PutEmails func(ctx context.Context, tx Tx, userID string, folded []string, replace bool) error
	// PutMembers checks that every member is a user (ErrNotFound naming the
	// first that is not) and writes the group's membership rows in order,
	// first deleting the old ones when replace is set.
	PutMembers func(ctx context.Context, tx Tx, groupID string, members []string, replace bool) error
	// LoadMembers fills in the members of gs, in insertion order.
	LoadMembers func(ctx context.Context, tx Tx, gs []connector.Group) error
}

// Abort carries an error returned by a caller's update function through
// the backend's transaction runner, which must return Err as it is
// (unwrapped, not retried).
type Abort struct{ Err error }

func (a Abort) Error() string { return a.Err.Error() }

// Aborted returns the caller's error when err carries one.
func Aborted(err error) (error, bool) {
	var a Abort
	if errors.As(err, &a) {
		return a.Err, true
	}
	return nil, false
}

// Numbered is SQLite's numbered placeholder (?n), which, unlike "?", lets a
// statement name its parameters out of order.
func Numbered(n int) string { return "?" + strconv.Itoa(n) }

// Rebind rewrites the $n placeholders of query with p.
func Rebind(query string, p func(int) string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(query, '$')
		if i < 0 {
			b.WriteString(query)
			return b.String()
		}
		j := i + 1
		for j < len(query) && query[j] >= '0' && query[j] <= '9' {
			j++
		}
		b.WriteString(query[:i])
		if n, err := strconv.Atoi(query[i+1 : j]); err == nil {
			b.WriteString(p(n))
		} else {
			b.WriteString(query[i:j])
		}
		query = query[j:]
	}
}
