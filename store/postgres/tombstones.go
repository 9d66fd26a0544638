package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/passbridge/passbridge/connector"
)

// AddTombstone records t; an existing tombstone of the guest is kept.
func (s *Store) AddTombstone(ctx context.Context, t connector.Tombstone) error {
	if _, err := s.pool.Exec(ctx, s.sq.Q.InsertTombstone, s.sq.TombstoneArgs(t)...); err != nil {
		return wrap("add tombstone", err)
	}
	return nil
}

// RemoveTombstone drops the guest's tombstone.
func (s *Store) RemoveTombstone(ctx context.Context, guestID string) error {
	if _, err := s.pool.Exec(ctx, s.sq.Q.DeleteTombstone, guestID); err != nil {
		return wrap("remove tombstone", err)
	}
	return nil
}

// HasTombstone reports whether the guest's deletion is pending.
func (s *Store) HasTombstone(ctx context.Context, guestID string) (bool, error) {
	var n int
	if err := s.pool.QueryRow(ctx, s.sq.Q.HasTombstone, guestID).Scan(&n); err != nil {
		return false, wrap("has tombstone", err)
	}
	return n > 0, nil
}

// ListTombstones returns up to limit tombstones, oldest first, and the count.
func (s *Store) ListTombstones(ctx context.Context, limit int) (connector.Page[connector.Tombstone], error) {
	var page connector.Page[connector.Tombstone]
	err := s.read(ctx, "list tombstones", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, s.sq.Q.CountTombstones).Scan(&page.Total); err != nil {
			return err
		}
		if limit <= 0 {
			return nil
		}
		rows, err := tx.Query(ctx, s.sq.Q.ListTombstones, limit)
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
