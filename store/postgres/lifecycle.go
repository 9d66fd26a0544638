package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passbridge/passbridge/connector"
)

var _ connector.LifecycleStore = (*Store)(nil)

// dueText is now as the stored lifecycleDueAt compares: RFC 3339 to the
// second (the connector rounds the due time up to the second).
func dueText(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

const dueExpr = `((u.onboarding->>'lifecycleDueAt') COLLATE "C")`

// LifecycleDueUsers lists users whose lifecycle rule is due at now
// (0012_lifecycle_due.sql).
func (s *Store) LifecycleDueUsers(ctx context.Context, now time.Time, afterID string, limit int) ([]connector.User, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []connector.User
	err := s.read(ctx, "lifecycle due users", func(tx pgx.Tx) error {
		items, err := s.scanUsers(tx.Query(ctx, `SELECT `+s.sq.Q.UserCols+` FROM users u
			WHERE (u.onboarding->>'lifecycleDueAt') IS NOT NULL AND `+dueExpr+` <= $1 AND u.id > $2
			ORDER BY u.id LIMIT $3`, dueText(now), afterID, limit))
		out = items
		return err
	})
	return out, err
}
