package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

const jobCols = `id, kind, subject, payload, attempts, run_at, last_error, lease_owner, lease_until, created`

func scanJob(sc sqlq.Row) (connector.Job, error) {
	var (
		j          connector.Job
		kind       string
		payload    []byte
		leaseUntil *time.Time
	)
	if err := sc.Scan(&j.ID, &kind, &j.Subject, &payload, &j.Attempts, &j.RunAt, &j.LastError, &j.LeaseOwner, &leaseUntil, &j.Created); err != nil {
		return j, err
	}
	j.Kind = connector.JobKind(kind)
	j.Payload = sqlq.JSONValue(payload)
	j.RunAt, j.Created = utc(j.RunAt), utc(j.Created)
	if leaseUntil != nil {
		j.LeaseUntil = utc(*leaseUntil)
	}
	return j, nil
}

// EnqueueJobs commits jobs outside of a user change.
func (s *Store) EnqueueJobs(ctx context.Context, jobs []connector.Job) error {
	jobs, err := sqlq.PrepareJobs(jobs)
	if err != nil {
		return fmt.Errorf("postgres: enqueue jobs: %w", err)
	}
	return s.write(ctx, "enqueue jobs", func(tx pgx.Tx) error {
		return s.sq.InsertJobs(ctx, pgTx{tx}, jobs)
	})
}

// dbClock is what leases are timed by: the database's clock (the start of
// the statement's transaction, which is the statement itself here). Every
// replica then compares lease times against the same clock, so one whose
// clock runs ahead cannot take a lease that is still live. now() rather
// than clock_timestamp(): it is stable within a statement, so the claim's
// comparisons can use an index and agree with each other.
const dbClock = "now()"

// leaseClock returns the SQL for "now" in lease comparisons: the database's
// clock, or param (the caller's now) when the store was set to the caller's
// clock, which only tests do (to drive leases with a fake clock).
func (s *Store) leaseClock(param string) string {
	if s.clock == dbClock {
		return dbClock
	}
	return param + "::timestamptz"
}

// ClaimJobs leases up to n due jobs to owner. FOR UPDATE SKIP LOCKED lets
// replicas claim side by side without waiting on or sharing rows; a row
// another claimer leased after this statement's snapshot is re-checked
// against the lease condition before it is updated (READ COMMITTED).
//
// A job is due when its RunAt <= now, the caller's clock, which also set
// RunAt; its lease is taken and judged expired by the database's clock.
func (s *Store) ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, n int) ([]connector.Job, error) {
	if owner == "" || lease <= 0 {
		return nil, fmt.Errorf("postgres: claim jobs: an owner and a positive lease are required")
	}
	if n <= 0 {
		return nil, nil
	}
	now = sqlq.Time(now)
	clock := s.leaseClock("$3")
	query := `UPDATE jobs SET lease_owner = $1, lease_until = ` + clock + ` + $2::bigint * interval '1 microsecond', attempts = attempts + 1
			WHERE id IN (SELECT id FROM jobs j WHERE state = 'queued' AND run_at <= $3
				AND NOT EXISTS (SELECT 1 FROM jobs p WHERE p.subject = j.subject AND p.subject <> ''
					AND p.state = 'queued' AND p.id < j.id)
				AND (lease_until IS NULL OR lease_until <= ` + clock + `)
				ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING ` + jobCols
	var jobs []connector.Job
	err := s.write(ctx, "claim jobs", func(tx pgx.Tx) error {
		jobs = jobs[:0]
		rows, err := tx.Query(ctx, query, owner, lease.Microseconds(), now, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	sqlq.SortJobs(jobs)
	return jobs, nil
}

// CompleteJob removes a job the owner still holds.
func (s *Store) CompleteJob(ctx context.Context, id int64, owner string) error {
	return s.write(ctx, "complete job", func(tx pgx.Tx) error { return s.sq.CompleteJob(ctx, pgTx{tx}, id, owner) })
}

// RenewJob extends the lease of a job owner still holds to now+lease, now
// being the database's clock like the claim's.
func (s *Store) RenewJob(ctx context.Context, id int64, owner string, now time.Time, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("postgres: renew job: a positive lease is required")
	}
	args := []any{id, owner, lease.Microseconds()}
	clock := s.leaseClock("$4")
	if clock != dbClock {
		args = append(args, sqlq.Time(now))
	}
	query := `UPDATE jobs SET lease_until = ` + clock + ` + $3::bigint * interval '1 microsecond'
		WHERE id = $1 AND lease_owner = $2 AND state = 'queued'`
	return s.write(ctx, "renew job", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("job %d not held by %q: %w", id, owner, connector.ErrNotFound)
		}
		return nil
	})
}

// RetryJob releases a held job to run again at runAt.
func (s *Store) RetryJob(ctx context.Context, id int64, owner string, runAt time.Time, lastError string) error {
	return s.write(ctx, "retry job", func(tx pgx.Tx) error { return s.sq.RetryJob(ctx, pgTx{tx}, id, owner, runAt, lastError) })
}

// FailJob takes a held job out of the queue, keeping it for inspection.
func (s *Store) FailJob(ctx context.Context, id int64, owner string, lastError string) error {
	return s.write(ctx, "fail job", func(tx pgx.Tx) error { return s.sq.FailJob(ctx, pgTx{tx}, id, owner, lastError) })
}

// JobStats reports the number of queued jobs and the oldest one's RunAt (its
// creation time when it had none); zero when the queue is empty.
func (s *Store) JobStats(ctx context.Context) (int, time.Time, error) {
	var (
		depth  int
		oldest *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(CASE WHEN run_at > $1 THEN run_at ELSE created END)
		FROM jobs WHERE state = 'queued'`, time.Time{}).Scan(&depth, &oldest)
	if err != nil {
		return 0, time.Time{}, wrap("job stats", err)
	}
	if oldest == nil {
		return depth, time.Time{}, nil
	}
	return depth, utc(*oldest), nil
}

// JobKindStats reports the number of queued jobs of the given kinds and the
// oldest one's creation time; zero when there is none.
func (s *Store) JobKindStats(ctx context.Context, kinds []connector.JobKind) (int, time.Time, error) {
	if len(kinds) == 0 {
		return 0, time.Time{}, nil
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	var (
		n      int
		oldest *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(created) FROM jobs
		WHERE state = 'queued' AND kind = ANY($1)`, names).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, wrap("job kind stats", err)
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, utc(*oldest), nil
}

// ListEvents returns the events after afterID, oldest first, for one
// subject ("" for all); limit <= 0 means no limit.
func (s *Store) ListEvents(ctx context.Context, subject string, afterID int64, limit int) ([]connector.Event, error) {
	var lim any // NULL: no limit
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, `SELECT id, subject, type, actor, at, data FROM events
		WHERE id > $1 AND ($2 = '' OR subject = $2) ORDER BY id LIMIT $3`, afterID, subject, lim)
	if err != nil {
		return nil, wrap("list events", err)
	}
	return scanEvents(rows, "list events")
}

// GetCursor returns the named value, "" when unset.
func (s *Store) GetCursor(ctx context.Context, name string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM cursors WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", wrap("get cursor", err)
	}
	return v, nil
}

// SetCursor stores the named value.
func (s *Store) SetCursor(ctx context.Context, name, value string) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO cursors (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value); err != nil {
		return wrap("set cursor", err)
	}
	return nil
}

// AcquireLease takes the lease when it is free, expired or already
// holder's, in one upsert: the row lock ON CONFLICT takes makes concurrent
// acquirers queue, and the loser sees the winner's row. The lease runs
// until the database's now + ttl and is judged by the database's clock:
// now, the caller's clock, is not used (but by tests, see leaseClock).
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("postgres: acquire lease: a name, a holder and a positive ttl are required")
	}
	args := []any{name, holder, ttl.Microseconds()}
	clock := s.leaseClock("$4")
	if clock != dbClock {
		args = append(args, sqlq.Time(now))
	}
	query := `INSERT INTO leases (name, holder, until) VALUES ($1, $2, ` + clock + ` + $3::bigint * interval '1 microsecond')
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
			WHERE leases.holder = excluded.holder OR leases.until <= ` + clock
	var ok bool
	err := s.write(ctx, "acquire lease", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, args...)
		ok = err == nil && tag.RowsAffected() == 1
		return err
	})
	return ok, err
}

// ReleaseLease gives the lease up if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return wrap("release lease", err)
	}
	return nil
}

// scanEvents reads the rows of a SELECT id, subject, type, actor, at, data
// FROM events and closes them; op names the caller in errors.
func scanEvents(rows pgx.Rows, op string) ([]connector.Event, error) {
	defer rows.Close()
	var out []connector.Event
	for rows.Next() {
		var (
			e    connector.Event
			data []byte
		)
		if err := rows.Scan(&e.ID, &e.Subject, &e.Type, &e.Actor, &e.At, &data); err != nil {
			return nil, wrap(op, err)
		}
		e.At, e.Data = utc(e.At), sqlq.JSONValue(data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}
