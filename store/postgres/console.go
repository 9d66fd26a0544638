package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

var _ connector.ConsoleStore = (*Store)(nil)

// The WHERE terms repeat the partial indexes' own (0013_console.sql).
const (
	expiresExpr      = `((u.onboarding->>'expiresAt') COLLATE "C")`
	expiringWhere    = `u.state IN ('invited', 'redeemed', 'mfaRegistered') AND ` + expiresExpr + ` >= $1 AND ` + expiresExpr + ` < $2`
	deprovisionWhere = `NOT u.active AND u.state <> 'disabled'`
)

// jsonTime is how a time is stored in the onboarding JSON.
func jsonTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ExpiringUsers lists unfinished onboardings expiring in [from, to).
func (s *Store) ExpiringUsers(ctx context.Context, from, to time.Time, limit int) (connector.Page[connector.User], error) {
	return s.consoleUsers(ctx, "expiring users", `FROM users u WHERE `+expiringWhere,
		` ORDER BY `+expiresExpr+`, u.id`, []any{jsonTime(from), jsonTime(to)}, limit)
}

// DeprovisionPendingUsers lists active=false users not yet disabled.
func (s *Store) DeprovisionPendingUsers(ctx context.Context, limit int) (connector.Page[connector.User], error) {
	return s.consoleUsers(ctx, "deprovision pending users", `FROM users u WHERE `+deprovisionWhere, ` ORDER BY u.id`, nil, limit)
}

func (s *Store) consoleUsers(ctx context.Context, op, from, order string, args []any, limit int) (connector.Page[connector.User], error) {
	var page connector.Page[connector.User]
	err := s.read(ctx, op, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) `+from, args...).Scan(&page.Total); err != nil {
			return err
		}
		if limit <= 0 || page.Total == 0 {
			return nil
		}
		lim := sqlq.Dollar(len(args) + 1)
		items, err := s.scanUsers(tx.Query(ctx, `SELECT `+s.sq.Q.UserCols+` `+from+order+` LIMIT `+lim, append(args, limit)...))
		page.Items = items
		return err
	})
	return page, err
}

// FailedJobs lists failed jobs, newest first.
func (s *Store) FailedJobs(ctx context.Context, limit int) (connector.Page[connector.Job], error) {
	var page connector.Page[connector.Job]
	err := s.read(ctx, "failed jobs", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE state = 'failed'`).Scan(&page.Total); err != nil {
			return err
		}
		if limit <= 0 || page.Total == 0 {
			return nil
		}
		var err error
		page.Items, err = queryJobs(ctx, tx, `SELECT `+jobCols+` FROM jobs WHERE state = 'failed' ORDER BY id DESC LIMIT $1`, limit)
		return err
	})
	return page, err
}

// QueuedJobsOfKinds lists queued jobs of kinds, oldest first.
func (s *Store) QueuedJobsOfKinds(ctx context.Context, kinds []connector.JobKind, limit int) ([]connector.Job, error) {
	if len(kinds) == 0 || limit <= 0 {
		return nil, nil
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	var jobs []connector.Job
	err := s.read(ctx, "queued jobs of kinds", func(tx pgx.Tx) error {
		var err error
		jobs, err = queryJobs(ctx, tx, `SELECT `+jobCols+` FROM jobs WHERE state = 'queued' AND kind = ANY($1)
			ORDER BY created, id LIMIT $2`, names, limit)
		return err
	})
	return jobs, err
}

// OldestQueuedJob returns the queued job due first.
func (s *Store) OldestQueuedJob(ctx context.Context) (connector.Job, bool, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE state = 'queued' ORDER BY run_at, id LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return connector.Job{}, false, nil
	}
	if err != nil {
		return connector.Job{}, false, wrap("oldest queued job", err)
	}
	return j, true, nil
}

// SubjectEvents returns one subject's newest events, newest first.
func (s *Store) SubjectEvents(ctx context.Context, subject string, limit int) ([]connector.Event, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, `SELECT id, subject, type, actor, at, data FROM events
		WHERE subject = $1 ORDER BY id DESC LIMIT $2`, subject, lim)
	if err != nil {
		return nil, wrap("subject events", err)
	}
	return scanEvents(rows, "subject events")
}

func queryJobs(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]connector.Job, error) {
	rows, err := tx.Query(ctx, q, args...)
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
