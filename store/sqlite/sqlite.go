package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a connector.Store in one SQLite database file.
type Store struct {
	// w is the only connection that writes. SQLite admits one writer at a
	// time anyway; queueing writers in database/sql rather than in SQLite's
	// busy handler makes compare-and-swap updates exact (the read and the
	// write of an update happen under one lock, taken by BEGIN IMMEDIATE)
	// and avoids SQLITE_BUSY under load.
	w *sql.DB
	// r is a pool of read-only connections; WAL lets them read beside the
	// writer.
	r *sql.DB
	// rc and wc cache prepared statements on r and w.
	rc, wc *stmtCache
	// creates groups concurrent CreateUser calls into one transaction.
	creates committer
	// sq runs the statements both backends share.
	sq *sqlq.SQL
	// lock is the shared flock on the lock file beside the database that
	// says this process has it open (see lockProcess).
	lock *procLock
	// releasedJobs and releasedLeases count what Open took back from a
	// previous process.
	releasedJobs, releasedLeases int
}

var _ connector.Store = (*Store)(nil)

// readers is the size of the read pool.
const readers = 4

// Open opens (creating if needed) the database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		// The writer and the readers are separate connections: an
		// in-memory database would be a different one for each.
		return nil, fmt.Errorf("sqlite: open: a database file path is required (in-memory databases are not supported)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Pragmas run on every new connection. synchronous=FULL: a commit
	// returns only once the WAL is on disk (an accepted SCIM create must
	// survive a power cut). case_sensitive_like: LIKE must not fold case
	// behind our back; case-insensitive attributes are stored folded.
	// temp_store=MEMORY keeps statement and savepoint journals (group
	// commit) off the disk; the WAL, which makes commits durable, is not
	// affected.
	common := []string{"busy_timeout(10000)", "foreign_keys(1)", "case_sensitive_like(1)"}
	w, err := sql.Open("sqlite", dsn(abs, append(common, "journal_mode(WAL)", "synchronous(FULL)", "temp_store(MEMORY)"), "immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, wc: newStmtCache(w), sq: sqlq.New(dialect, hooks)}
	lock, sole, err := lockProcess(abs + ".lock")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.lock = lock
	if err := s.migrate(ctx); err != nil {
		w.Close()
		lock.close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if sole {
		// No other live process has the database open: every lease in it
		// belongs to a process that is gone, so its jobs and the
		// reconciler role are free now rather than when the leases run out.
		if err := s.releaseAll(ctx); err != nil {
			w.Close()
			lock.close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		if err := lock.shared(); err != nil {
			w.Close()
			lock.close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
	}
	r, err := sql.Open("sqlite", dsn(abs, append(common, "query_only(1)"), "deferred"))
	if err != nil {
		w.Close()
		lock.close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	s.r, s.rc = r, newStmtCache(r)
	// The statements of a create and of a read by id, prepared once.
	s.wc.warm(ctx, s.sq.Q.InsertUser, insertEmailSQL, deleteEmailsSQL, s.sq.Q.InsertJob, s.sq.Q.InsertEvent, s.sq.Q.GetUser,
		`SAVEPOINT create_user`, `ROLLBACK TO create_user`, `RELEASE create_user`)
	s.rc.warm(ctx, s.sq.Q.GetUser)
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, wrap("open", err)
	}
	return s, nil
}

// dsn builds a file: URI; the path is escaped so that '?', '#' and '%' in a
// file name stay part of it.
func dsn(abs string, pragmas []string, txlock string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", txlock)
	u := url.URL{Path: filepath.ToSlash(abs)}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := sqlq.Migrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL) STRICT`); err != nil {
		return wrap("migrate", err)
	}
	for _, m := range ms {
		err := s.write(ctx, "migrate "+m.Name, func(tx *sql.Tx) error {
			var n int
			// BEGIN IMMEDIATE holds the write lock: another process
			// migrating the same file waits here and then sees the row.
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`,
				m.Version, m.Name, enc(time.Now()))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// releaseAll frees every job lease and every named lease.
func (s *Store) releaseAll(ctx context.Context) error {
	return s.write(ctx, "release leases at start", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_owner = '', lease_until = NULL
			WHERE state = 'queued' AND lease_until IS NOT NULL`)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		s.releasedJobs = int(n)
		if res, err = tx.ExecContext(ctx, `DELETE FROM leases`); err != nil {
			return err
		}
		n, err = res.RowsAffected()
		s.releasedLeases = int(n)
		return err
	})
}

// ReleasedAtOpen reports how many job leases and named leases (the
// reconciler's) Open took back from a previous process, because it found
// no other live process on the database (the lock file beside it, PATH.lock,
// says which processes have it open).
func (s *Store) ReleasedAtOpen() (jobs, leases int) { return s.releasedJobs, s.releasedLeases }

// Ping reports whether the database file can be read.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// Close closes both connection pools.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.rc.close(), s.r.Close())
	}
	errs = append(errs, s.wc.close(), s.w.Close(), s.lock.close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// write runs fn in a transaction on the write connection (BEGIN IMMEDIATE).
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		if cause, ok := sqlq.Aborted(err); ok {
			return cause
		}
		return wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// read runs fn in a read transaction, so that what it reads is one snapshot.
func (s *Store) read(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	if err := fn(tx); err != nil {
		return wrap(op, err)
	}
	return nil
}

// wrap adds context to err and maps SQLite's codes onto the connector's
// sentinel errors.
func wrap(op string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			if strings.Contains(se.Error(), "users.invite_fold") {
				return fmt.Errorf("sqlite: %s: %w: %w", op, connector.ErrAddressTaken, err)
			}
			return fmt.Errorf("sqlite: %s: %w: %w", op, connector.ErrAlreadyExists, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("sqlite: %s: %w: %w", op, connector.ErrNotFound, err)
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("sqlite: %s: %w: %w", op, connector.ErrUnavailable, err)
		}
	}
	// database/sql has no exported error for a closed *sql.DB.
	if errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "sql: database is closed") {
		return fmt.Errorf("sqlite: %s: %w: %w", op, connector.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// Times are stored as unix microseconds; the zero time as 0.
func enc(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return sqlq.Time(t).UnixMicro()
}

func dec(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// unixMicro scans an enc'd column into the time.Time it points at (a
// conversion of *time.Time, so scanning allocates nothing more).
type unixMicro time.Time

func (m *unixMicro) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("timestamp column holds %T, want INTEGER", src)
	}
	*m = unixMicro(dec(v))
	return nil
}

// dialect is SQLite's side of the shared statements: numbered ?n
// placeholders, unix-microsecond times and no row locks (the single writer
// and BEGIN IMMEDIATE serialise every write).
var dialect = sqlq.Dialect{
	Placeholder: sqlq.Numbered,
	Time:        func(t time.Time) any { return enc(t) },
	ScanTime:    func(t *time.Time) any { return (*unixMicro)(t) },
	NoRows:      sql.ErrNoRows,
}

// sqlTx adapts a queryer to the shared statements' sqlq.Tx.
type sqlTx struct{ q queryer }

func (t sqlTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := t.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t sqlTx) QueryRow(ctx context.Context, query string, args ...any) sqlq.Row {
	return t.q.QueryRowContext(ctx, query, args...)
}

func (t sqlTx) Query(ctx context.Context, query string, args ...any) (sqlq.Rows, error) {
	r, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

type rows struct{ *sql.Rows }

// wtx is tx on the writer, through its statement cache.
func (s *Store) wtx(tx *sql.Tx) sqlq.Tx { return sqlTx{prepared{cache: s.wc, tx: tx}} }

var hooks = sqlq.Hooks{PutEmails: putEmails, PutMembers: putMembers, LoadMembers: loadMembers}

func (r rows) Close() { _ = r.Rows.Close() } // the error is Err's

type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type scanner interface{ Scan(dest ...any) error }

// jsonList encodes ids for json_each: one bound parameter however many.
func jsonList(ids []string) string {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(ids) // []string always marshals
	return string(b)
}
