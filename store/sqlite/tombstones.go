package sqlite

import (
	"context"
	"database/sql"

	"github.com/passbridge/passbridge/connector"
)

// AddTombstone records t; an existing tombstone of the guest is kept.
func (s *Store) AddTombstone(ctx context.Context, t connector.Tombstone) error {
	return s.write(ctx, "add tombstone", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.sq.Q.InsertTombstone, s.sq.TombstoneArgs(t)...)
		return err
	})
}

// RemoveTombstone drops the guest's tombstone.
func (s *Store) RemoveTombstone(ctx context.Context, guestID string) error {
	return s.write(ctx, "remove tombstone", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.sq.Q.DeleteTombstone, guestID)
		return err
	})
}

// HasTombstone reports whether the guest's deletion is pending.
func (s *Store) HasTombstone(ctx context.Context, guestID string) (bool, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, s.sq.Q.HasTombstone, guestID).Scan(&n); err != nil {
		return false, wrap("has tombstone", err)
	}
	return n > 0, nil
}

// ListTombstones returns up to limit tombstones, oldest first, and the count.
func (s *Store) ListTombstones(ctx context.Context, limit int) (connector.Page[connector.Tombstone], error) {
	var page connector.Page[connector.Tombstone]
	err := s.read(ctx, "list tombstones", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.sq.Q.CountTombstones).Scan(&page.Total); err != nil {
			return err
		}
		if limit <= 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, s.sq.Q.ListTombstones, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := s.sq.ScanTombstone(rows)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, t)
		}
		return rows.Err()
	})
	return page, err
}
