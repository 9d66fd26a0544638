package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a connector.Store on PostgreSQL, safe for several passbridge
// replicas sharing one database.
type Store struct {
	pool *pgxpool.Pool
	// sq runs the statements both backends share.
	sq *sqlq.SQL
	// clock is the SQL expression leases are timed by: the database's
	// clock, so that replicas whose clocks disagree still agree on who
	// holds a lease. Tests may replace it (see export_test.go).
	clock string
}

var _ connector.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a keyword/value
// connection string) and brings its schema up to date. Unknown URL
// parameters become session settings: ?search_path=passbridge puts the
// tables in that schema.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := parseConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redact(wrap("open", err), url)
	}
	s := &Store{pool: pool, sq: sqlq.New(dialect, hooks), clock: dbClock}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, redact(err, url)
	}
	return s, nil
}

// parseConfig parses url and applies the secure default for TLS.
//
// Without an explicit sslmode (in the URL or PGSSLMODE), pgx would use
// "prefer", which silently falls back to plaintext: a network attacker can
// then read the SCIM data and the password. So a connection to any host that
// is not this machine gets sslmode=require (encrypted; add
// sslmode=verify-full and sslrootcert to also authenticate the server).
// Loopback addresses and unix sockets keep pgx's default: the traffic does
// not leave the machine, and local servers often have no certificate.
func parseConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, redact(fmt.Errorf("postgres: parse connection string: %w", err), dsn)
	}
	if explicitSSLMode(dsn) || allLocal(cfg) {
		return cfg, nil
	}
	cfg, err = pgxpool.ParseConfig(withSSLMode(dsn, "require"))
	if err != nil {
		return nil, redact(fmt.Errorf("postgres: parse connection string: %w", err), dsn)
	}
	return cfg, nil
}

var sslmodeKV = regexp.MustCompile(`(^|\s)sslmode\s*=`)

func explicitSSLMode(dsn string) bool {
	if os.Getenv("PGSSLMODE") != "" {
		return true
	}
	if isURL(dsn) {
		u, err := url.Parse(dsn)
		return err == nil && u.Query().Has("sslmode")
	}
	return sslmodeKV.MatchString(dsn)
}

func isURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func withSSLMode(dsn, mode string) string {
	if isURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn // ParseConfig accepted it; let it report
		}
		q := u.Query()
		q.Set("sslmode", mode)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " sslmode=" + mode
}

// allLocal reports whether every host the config may connect to is a unix
// socket or a loopback address.
func allLocal(cfg *pgxpool.Config) bool {
	hosts := []string{cfg.ConnConfig.Host}
	for _, fb := range cfg.ConnConfig.Fallbacks {
		hosts = append(hosts, fb.Host)
	}
	for _, h := range hosts {
		if !isLocalHost(h) {
			return false
		}
	}
	return true
}

func isLocalHost(h string) bool {
	if strings.HasPrefix(h, "/") || h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// redactedError keeps a password out of an error's text while errors.Is/As
// still see the cause.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact removes the password of dsn from err's text (pgx already redacts
// what it formats; this covers everything else).
func redact(err error, dsn string) error {
	if err == nil {
		return nil
	}
	var secrets []string
	if isURL(dsn) {
		if u, perr := url.Parse(dsn); perr == nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				secrets = append(secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
			}
			for _, k := range []string{"password", "sslpassword"} {
				if v := u.Query().Get(k); v != "" {
					secrets = append(secrets, v)
				}
			}
		}
	} else if cfg, perr := pgconn.ParseConfig(dsn); perr == nil && cfg.Password != "" {
		secrets = append(secrets, cfg.Password)
	}
	msg := err.Error()
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := sqlq.Migrations(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for _, m := range ms {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// Replicas starting together serialise here; the lock is per
			// schema, so that separate schemas (tests) do not wait on
			// each other. It is released at commit.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('passbridge.migrate.' || coalesce(current_schema(), '')))`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return wrap("migrate "+m.Name, err)
		}
	}
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// maxAttempts bounds the retries of a transaction that lost a
// serialisation conflict or a deadlock.
const maxAttempts = 10

// write runs fn in a READ COMMITTED transaction. Updates take row locks
// (SELECT … FOR UPDATE) before they read what they change, so no update is
// lost; a deadlock or serialisation failure (which row locks can still
// cause between, say, a user delete and a group update) is retried, which
// the contract allows: update functions may run more than once.
func (s *Store) write(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil {
			return nil
		}
		if cause, ok := sqlq.Aborted(err); ok {
			return cause
		}
		if retryable(err) && attempt < maxAttempts && ctx.Err() == nil {
			time.Sleep(time.Duration(attempt) * time.Millisecond)
			continue
		}
		return wrap(op, err)
	}
}

// read runs fn in a read-only REPEATABLE READ transaction: one snapshot, so
// that a total and its page agree.
func (s *Store) read(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// wrap adds context to err and maps PostgreSQL's errors onto the
// connector's sentinels.
func wrap(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505" && pe.ConstraintName == "users_invite_fold":
			return fmt.Errorf("postgres: %s: %w: %w", op, connector.ErrAddressTaken, err)
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("postgres: %s: %w: %w", op, connector.ErrAlreadyExists, err)
		case pe.Code == "23503": // foreign_key_violation: a member that is not (or no longer) a user
			return fmt.Errorf("postgres: %s: %w: %w", op, connector.ErrNotFound, err)
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, cannot connect now
			pe.Code == "53300", // too many connections
			pe.Code == "25006": // read-only transaction: a replica answered
			return fmt.Errorf("postgres: %s: %w: %w", op, connector.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("postgres: %s: %w: %w", op, connector.ErrUnavailable, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller gave up; that says nothing about the database.
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, puddle.ErrClosedPool) {
		return fmt.Errorf("postgres: %s: %w: %w", op, connector.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// utc normalises a scanned time (pgx returns local times).
func utc(t time.Time) time.Time { return t.UTC() }

// dialect is PostgreSQL's side of the shared statements: $n placeholders,
// timestamptz bound and scanned as time.Time, and row locks, since
// transactions run side by side (READ COMMITTED).
var dialect = sqlq.Dialect{
	Placeholder: sqlq.Dollar,
	UpdateLock:  "FOR NO KEY UPDATE",
	DeleteLock:  "FOR UPDATE",
	Time:        func(t time.Time) any { return t },
	ScanTime:    func(t *time.Time) any { return t },
	NoRows:      pgx.ErrNoRows,
}

// querier is what a pgx.Tx and the pool have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgTx adapts a pgx transaction (or the pool) to the shared statements'
// sqlq.Tx.
type pgTx struct{ tx querier }

func (t pgTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (t pgTx) QueryRow(ctx context.Context, query string, args ...any) sqlq.Row {
	return t.tx.QueryRow(ctx, query, args...)
}

func (t pgTx) Query(ctx context.Context, query string, args ...any) (sqlq.Rows, error) {
	return t.tx.Query(ctx, query, args...)
}

var hooks = sqlq.Hooks{PutEmails: putEmails, PutMembers: putMembers, LoadMembers: loadMembers}
