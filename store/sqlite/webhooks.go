package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/passbridge/passbridge/webhook"
)

var _ webhook.Store = (*Store)(nil)

// LastEventID returns the newest event's id (0 when none).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	id, err := s.sq.LastEventID(ctx, sqlTx{s.r})
	if err != nil {
		return 0, wrap("last event id", err)
	}
	return id, nil
}

// WebhookCursors returns every webhook receiver's cursor.
func (s *Store) WebhookCursors(ctx context.Context) (map[string]int64, error) {
	m, err := s.sq.WebhookCursors(ctx, sqlTx{s.r})
	if err != nil {
		return nil, wrap("webhook cursors", err)
	}
	return m, nil
}

// EnqueueWebhookDeliveries inserts deliveries and moves cursors in one
// transaction.
func (s *Store) EnqueueWebhookDeliveries(ctx context.Context, cursors map[string]int64, ds []webhook.Delivery) error {
	return s.write(ctx, "enqueue webhook deliveries", func(tx *sql.Tx) error {
		return s.sq.EnqueueWebhookDeliveries(ctx, sqlTx{tx}, cursors, ds)
	})
}

// ClaimWebhookDeliveries leases due deliveries of one receiver; the single
// writer makes the select and the lease one step.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, hook, owner string, now time.Time, lease time.Duration, n int) ([]webhook.Delivery, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []webhook.Delivery
	err := s.write(ctx, "claim webhook deliveries", func(tx *sql.Tx) error {
		var err error
		out, err = s.sq.ClaimWebhookDeliveries(ctx, sqlTx{tx}, "", hook, owner, now, lease, n)
		return err
	})
	return out, err
}

// FinishWebhookDeliveries records delivery outcomes.
func (s *Store) FinishWebhookDeliveries(ctx context.Context, owner string, rs []webhook.Result) error {
	if len(rs) == 0 {
		return nil
	}
	return s.write(ctx, "finish webhook deliveries", func(tx *sql.Tx) error {
		return s.sq.FinishWebhookDeliveries(ctx, sqlTx{tx}, owner, rs)
	})
}

// WebhookStats returns every receiver's statistics.
func (s *Store) WebhookStats(ctx context.Context) ([]webhook.Stats, error) {
	var out []webhook.Stats
	err := s.read(ctx, "webhook stats", func(tx *sql.Tx) error {
		var err error
		out, err = s.sq.WebhookStats(ctx, sqlTx{tx})
		return err
	})
	return out, err
}
