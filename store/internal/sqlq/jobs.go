package sqlq

import (
	"context"
	"fmt"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// The statements on a job its owner must still hold ($1 id, $2 owner): a
// job whose lease passed to someone else is left alone.
const (
	completeJobSQL = `DELETE FROM jobs WHERE id = $1 AND lease_owner = $2 AND state = 'queued'`
	retryJobSQL    = `UPDATE jobs SET run_at = $3, last_error = $4, lease_owner = '', lease_until = NULL
	WHERE id = $1 AND lease_owner = $2 AND state = 'queued'`
	failJobSQL = `UPDATE jobs SET state = 'failed', last_error = $3, lease_owner = '', lease_until = NULL
	WHERE id = $1 AND lease_owner = $2 AND state = 'queued'`
)

// CompleteJob removes a job owner still holds.
func (s *SQL) CompleteJob(ctx context.Context, tx Tx, id int64, owner string) error {
	return held(ctx, tx, s.Q.CompleteJob, id, owner)
}

// RetryJob releases a job owner still holds to run again at runAt.
func (s *SQL) RetryJob(ctx context.Context, tx Tx, id int64, owner string, runAt time.Time, lastError string) error {
	return held(ctx, tx, s.Q.RetryJob, id, owner, s.ts(Time(runAt)), lastError)
}

// FailJob takes a job owner still holds out of the queue for good.
func (s *SQL) FailJob(ctx context.Context, tx Tx, id int64, owner string, lastError string) error {
	return held(ctx, tx, s.Q.FailJob, id, owner, lastError)
}

func held(ctx context.Context, tx Tx, query string, id int64, owner string, args ...any) error {
	if owner == "" {
		return fmt.Errorf("job %d: no owner: %w", id, connector.ErrNotFound)
	}
	n, err := tx.Exec(ctx, query, append([]any{id, owner}, args...)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("job %d not held by %q: %w", id, owner, connector.ErrNotFound)
	}
	return nil
}
