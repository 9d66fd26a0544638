package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/passbridge/passbridge/connector"
)

var _ connector.ConsoleStore = (*Store)(nil)

// The WHERE terms repeat the partial indexes' own (0013_console.sql): SQLite
// uses a partial index only for a query whose terms imply its WHERE.
const (
	expiringWhere = `state IN ('invited', 'redeemed', 'mfaRegistered')
		AND json_extract(onboarding, '$.expiresAt') >= ? AND json_extract(onboarding, '$.expiresAt') < ?`
	deprovisionWhere = `active = 0 AND state <> 'disabled'`
)

// jsonTime is how a time is stored in the onboarding JSON.
func jsonTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ExpiringUsers lists unfinished onboardings expiring in [from, to).
func (s *Store) ExpiringUsers(ctx context.Context, from, to time.Time, limit int) (connector.Page[connector.User], error) {
	args := []any{jsonTime(from), jsonTime(to)}
	return s.consoleUsers(ctx, "expiring users", `FROM users u INDEXED BY users_expiring WHERE `+expiringWhere,
		` ORDER BY json_extract(onboarding, '$.expiresAt'), id`, args, limit)
}

// DeprovisionPendingUsers lists active=false users not yet disabled.
func (s *Store) DeprovisionPendingUsers(ctx context.Context, limit int) (connector.Page[connector.User], error) {
	return s.consoleUsers(ctx, "deprovision pending users", `FROM users u INDEXED BY users_deprovision WHERE `+deprovisionWhere,
		` ORDER BY id`, nil, limit)
}

func (s *Store) consoleUsers(ctx context.Context, op, from, order string, args []any, limit int) (connector.Page[connector.User], error) {
	var page connector.Page[connector.User]
	err := s.read(ctx, op, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) `+from, args...).Scan(&page.Total); err != nil {
			return err
		}
		if limit <= 0 || page.Total == 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+s.sq.Q.UserCols+` `+from+order+` LIMIT ?`, append(args, limit)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := s.sq.ScanUser(rows)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, u)
		}
		return rows.Err()
	})
	return page, err
}

// FailedJobs lists failed jobs, newest first.
func (s *Store) FailedJobs(ctx context.Context, limit int) (connector.Page[connector.Job], error) {
	var page connector.Page[connector.Job]
	err := s.read(ctx, "failed jobs", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs INDEXED BY jobs_failed WHERE state = 'failed'`).Scan(&page.Total); err != nil {
			return err
		}
		if limit <= 0 || page.Total == 0 {
			return nil
		}
		var err error
		page.Items, err = queryJobs(ctx, tx, `SELECT `+jobCols+` FROM jobs INDEXED BY jobs_failed WHERE state = 'failed'
			ORDER BY id DESC LIMIT ?`, limit)
		return err
	})
	return page, err
}

// QueuedJobsOfKinds lists queued jobs of kinds, oldest first.
func (s *Store) QueuedJobsOfKinds(ctx context.Context, kinds []connector.JobKind, limit int) ([]connector.Job, error) {
	if len(kinds) == 0 || limit <= 0 {
		return nil, nil
	}
	args := make([]any, 0, len(kinds)+1)
	for _, k := range kinds {
		args = append(args, string(k))
	}
	args = append(args, limit)
	var jobs []connector.Job
	err := s.read(ctx, "queued jobs of kinds", func(tx *sql.Tx) error {
		var err error
		jobs, err = queryJobs(ctx, tx, `SELECT `+jobCols+` FROM jobs INDEXED BY jobs_kind WHERE state = 'queued' AND kind IN (?`+
			strings.Repeat(", ?", len(kinds)-1)+`) ORDER BY created, id LIMIT ?`, args...)
		return err
	})
	return jobs, err
}

// OldestQueuedJob returns the queued job due first.
func (s *Store) OldestQueuedJob(ctx context.Context) (connector.Job, bool, error) {
	j, err := scanJob(s.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE state = 'queued' ORDER BY run_at, id LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return connector.Job{}, false, nil
	}
	if err != nil {
		return connector.Job{}, false, wrap("oldest queued job", err)
	}
	return j, true, nil
}

// SubjectEvents returns one subject's newest events, newest first.
func (s *Store) SubjectEvents(ctx context.Context, subject string, limit int) ([]connector.Event, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, subject, type, actor, at, data FROM events
		WHERE subject = ? ORDER BY id DESC LIMIT ?`, subject, limit)
	if err != nil {
		return nil, wrap("subject events", err)
	}
	return scanEvents(rows, "subject events")
}

func queryJobs(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]connector.Job, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []connector.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}
