package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/passbridge/passbridge/connector"
)

var _ connector.LifecycleStore = (*Store)(nil)

// dueText is now as the stored lifecycleDueAt compares: RFC 3339 to the
// second (the due time is rounded up to the second by the connector, so
// text order is time order).
func dueText(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// LifecycleDueUsers lists users whose lifecycle rule is due at now
// (0012_lifecycle_due.sql; the WHERE repeats the partial index's).
func (s *Store) LifecycleDueUsers(ctx context.Context, now time.Time, afterID string, limit int) ([]connector.User, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []connector.User
	err := s.read(ctx, "lifecycle due users", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+s.sq.Q.UserCols+` FROM users u INDEXED BY users_lifecycle_due
			WHERE json_extract(onboarding, '$.lifecycleDueAt') IS NOT NULL
			AND json_extract(onboarding, '$.lifecycleDueAt') <= ? AND id > ? ORDER BY id LIMIT ?`,
			dueText(now), afterID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := s.sq.ScanUser(rows)
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	return out, err
}
