package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// TakeInviteBudget reserves n sends of the budget named key, one per
// interval, and returns how long the caller waits before sending (see
// graph.InviteBudget). One upsert on the writer: every process on the file
// queues behind the same write lock, so their reservations never overlap,
// and the row outlives a restart.
func (s *Store) TakeInviteBudget(ctx context.Context, key string, n int, interval time.Duration, now time.Time) (time.Duration, error) {
	if key == "" || n < 1 || interval <= 0 {
		return 0, fmt.Errorf("sqlite: take invite budget: a key, n >= 1 and a positive interval are required")
	}
	cost := int64(n) * interval.Microseconds()
	var next int64
	err := s.write(ctx, "take invite budget", func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO invite_budget (name, next) VALUES (?1, ?2 + ?3)
			ON CONFLICT (name) DO UPDATE SET next = max(invite_budget.next, ?2) + ?3
			RETURNING next`, key, enc(now), cost).Scan(&next)
	})
	if err != nil {
		return 0, err
	}
	// The reserved slot starts one cost before the new next.
	return max(0, dec(next-cost).Sub(now)), nil
}
