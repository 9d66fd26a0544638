package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

const jobCols = `id, kind, subject, payload, attempts, run_at, last_error, lease_owner, lease_until, created`

func scanJob(sc scanner) (connector.Job, error) {
	var (
		j              connector.Job
		payload        []byte
		runAt, created int64
		leaseUntil     sql.NullInt64
	)
	if err := sc.Scan(&j.ID, &j.Kind, &j.Subject, &payload, &j.Attempts, &runAt, &j.LastError, &j.LeaseOwner, &leaseUntil, &created); err != nil {
		return j, err
	}
	j.Payload = sqlq.JSONValue(payload)
	j.RunAt, j.Created = dec(runAt), dec(created)
	if leaseUntil.Valid {
		j.LeaseUntil = dec(leaseUntil.Int64)
	}
	return j, nil
}

// EnqueueJobs commits jobs outside of a user change.
func (s *Store) EnqueueJobs(ctx context.Context, jobs []connector.Job) error {
	jobs, err := sqlq.PrepareJobs(jobs)
	if err != nil {
		return fmt.Errorf("sqlite: enqueue jobs: %w", err)
	}
	return s.write(ctx, "enqueue jobs", func(tx *sql.Tx) error {
		return s.sq.InsertJobs(ctx, s.wtx(tx), jobs)
	})
}

// ClaimJobs leases up to n due jobs to owner. The single writer makes the
// select-and-lease one atomic step.
func (s *Store) ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, n int) ([]connector.Job, error) {
	if owner == "" || lease <= 0 {
		return nil, fmt.Errorf("sqlite: claim jobs: an owner and a positive lease are required")
	}
	if n <= 0 {
		return nil, nil
	}
	var jobs []connector.Job
	err := s.write(ctx, "claim jobs", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE jobs SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM jobs j WHERE state = 'queued' AND run_at <= ?3
				AND NOT EXISTS (SELECT 1 FROM jobs p WHERE p.subject = j.subject AND p.subject <> ''
					AND p.state = 'queued' AND p.id < j.id)
				AND (lease_until IS NULL OR lease_until <= ?3) ORDER BY run_at, id LIMIT ?)
			RETURNING `+jobCols, owner, enc(now.Add(lease)), enc(now), n)
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
	return s.write(ctx, "complete job", func(tx *sql.Tx) error { return s.sq.CompleteJob(ctx, s.wtx(tx), id, owner) })
}

// RenewJob extends the lease of a job owner still holds to now+lease.
func (s *Store) RenewJob(ctx context.Context, id int64, owner string, now time.Time, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("sqlite: renew job: a positive lease is required")
	}
	return s.write(ctx, "renew job", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND state = 'queued'`,
			enc(now.Add(lease)), id, owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fmt.Errorf("job %d not held by %q: %w", id, owner, connector.ErrNotFound))
		}
		return nil
	})
}

// RetryJob releases a held job to run again at runAt.
func (s *Store) RetryJob(ctx context.Context, id int64, owner string, runAt time.Time, lastError string) error {
	return s.write(ctx, "retry job", func(tx *sql.Tx) error { return s.sq.RetryJob(ctx, s.wtx(tx), id, owner, runAt, lastError) })
}

// FailJob takes a held job out of the queue, keeping it for inspection.
func (s *Store) FailJob(ctx context.Context, id int64, owner string, lastError string) error {
	return s.write(ctx, "fail job", func(tx *sql.Tx) error { return s.sq.FailJob(ctx, s.wtx(tx), id, owner, lastError) })
}

// JobStats reports the number of queued jobs and the oldest one's RunAt (its
// creation time when it had none); zero when the queue is empty.
func (s *Store) JobStats(ctx context.Context) (int, time.Time, error) {
	var (
		depth  int
		oldest sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(CASE WHEN run_at <> 0 THEN run_at ELSE created END)
		FROM jobs WHERE state = 'queued'`).Scan(&depth, &oldest)
	if err != nil {
		return 0, time.Time{}, wrap("job stats", err)
	}
	if !oldest.Valid {
		return depth, time.Time{}, nil
	}
	return depth, dec(oldest.Int64), nil
}

// JobKindStats reports the number of queued jobs of the given kinds and the
// oldest one's creation time; zero when there is none.
func (s *Store) JobKindStats(ctx context.Context, kinds []connector.JobKind) (int, time.Time, error) {
	if len(kinds) == 0 {
		return 0, time.Time{}, nil
	}
	args := make([]any, len(kinds))
	for i, k := range kinds {
		args[i] = string(k)
	}
	var (
		n      int
		oldest sql.NullInt64
	)
	// INDEXED BY: without statistics SQLite would scan every queued job
	// through jobs_claim.
	q := `SELECT COUNT(*), MIN(created) FROM jobs INDEXED BY jobs_kind WHERE state = 'queued' AND kind IN (?` +
		strings.Repeat(", ?", len(kinds)-1) + `)`
	if err := s.r.QueryRowContext(ctx, q, args...).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, wrap("job kind stats", err)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, dec(oldest.Int64), nil
}

// ListEvents returns the events after afterID, oldest first, for one
// subject ("" for all); limit <= 0 means no limit.
func (s *Store) ListEvents(ctx context.Context, subject string, afterID int64, limit int) ([]connector.Event, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, subject, type, actor, at, data FROM events
		WHERE id > ? AND (? = '' OR subject = ?) ORDER BY id LIMIT ?`, afterID, subject, subject, limit)
	if err != nil {
		return nil, wrap("list events", err)
	}
	return scanEvents(rows, "list events")
}

// GetCursor returns the named value, "" when unset.
func (s *Store) GetCursor(ctx context.Context, name string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM cursors WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", wrap("get cursor", err)
	}
	return v, nil
}

// SetCursor stores the named value.
func (s *Store) SetCursor(ctx context.Context, name, value string) error {
	return s.write(ctx, "set cursor", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO cursors (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
		return err
	})
}

// AcquireLease takes the lease when it is free, expired or already
// holder's, in one upsert.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("sqlite: acquire lease: a name, a holder and a positive ttl are required")
	}
	var ok bool
	err := s.write(ctx, "acquire lease", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
			WHERE leases.holder = excluded.holder OR leases.until <= ?`, name, holder, enc(now.Add(ttl)), enc(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// ReleaseLease gives the lease up if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	return s.write(ctx, "release lease", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
}

// scanEvents reads the rows of a SELECT id, subject, type, actor, at, data
// FROM events and closes them; op names the caller in errors.
func scanEvents(rows *sql.Rows, op string) ([]connector.Event, error) {
	defer rows.Close()
	var out []connector.Event
	for rows.Next() {
		var (
			e    connector.Event
			at   int64
			data []byte
		)
		if err := rows.Scan(&e.ID, &e.Subject, &e.Type, &e.Actor, &at, &data); err != nil {
			return nil, wrap(op, err)
		}
		e.At, e.Data = dec(at), sqlq.JSONValue(data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}
