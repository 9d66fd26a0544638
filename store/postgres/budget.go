package postgres

import (
	"context"
	"fmt"
	"time"
)

// TakeInviteBudget reserves n sends of the budget named key, one per
// interval, and returns how long the caller waits before sending (see
// graph.InviteBudget). One upsert: replicas queue on the row's lock, and
// the slot is timed by the database's clock read after the lock is taken
// (clock_timestamp, not now(): now() is the statement's start, before a
// wait on the lock), so replicas with skewed clocks share one timeline.
// now is unused: only the wait, a duration, leaves the database.
func (s *Store) TakeInviteBudget(ctx context.Context, key string, n int, interval time.Duration, _ time.Time) (time.Duration, error) {
	if key == "" || n < 1 || interval <= 0 {
		return 0, fmt.Errorf("postgres: take invite budget: a key, n >= 1 and a positive interval are required")
	}
	cost := int64(n) * interval.Microseconds()
	var waitMicros int64
	err := s.pool.QueryRow(ctx, `INSERT INTO invite_budget AS b (name, next)
			VALUES ($1, clock_timestamp() + $2::bigint * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE
			SET next = GREATEST(b.next, clock_timestamp()) + $2::bigint * interval '1 microsecond'
		RETURNING (EXTRACT(EPOCH FROM (b.next - clock_timestamp())) * 1000000)::bigint - $2::bigint`,
		key, cost).Scan(&waitMicros)
	if err != nil {
		return 0, wrap("take invite budget", err)
	}
	return max(0, time.Duration(waitMicros)*time.Microsecond), nil
}
