package sqlq

import (
	"context"
	"fmt"
	"time"

	"github.com/passbridge/passbridge/webhook"
)

// The webhook tables keep times as unix microseconds on both backends.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return Time(t).UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// The webhook statements, $n placeholders, rebound per call (they run a
// few times a second at most).
const (
	lastEventIDSQL    = `SELECT COALESCE(MAX(id), 0) FROM events`
	webhookCursorsSQL = `SELECT name, after_id FROM webhook_receivers`
	insertDeliverySQL = `INSERT INTO webhook_deliveries (webhook, event_id, run_at, created)
	SELECT CAST($1 AS TEXT), CAST($2 AS BIGINT), CAST($3 AS BIGINT), CAST($4 AS BIGINT) WHERE NOT EXISTS (SELECT 1 FROM webhook_receivers WHERE name = $1 AND after_id >= $2)
	ON CONFLICT (webhook, event_id) DO NOTHING`
	upsertCursorSQL = `INSERT INTO webhook_receivers (name, after_id) VALUES ($1, $2)
	ON CONFLICT (name) DO UPDATE SET after_id = CASE WHEN webhook_receivers.after_id < excluded.after_id
		THEN excluded.after_id ELSE webhook_receivers.after_id END`
	forgetDeliveredSQL = `DELETE FROM webhook_deliveries WHERE webhook = $1 AND state = 'delivered' AND event_id <= $2`
	claimDeliveriesSQL = `SELECT d.event_id, d.attempts, d.run_at, d.created, d.last_error,
		e.subject, e.type, e.actor, e.at, e.data
	FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
	WHERE d.webhook = $1 AND d.state = 'queued' AND d.run_at <= $2 AND d.lease_until <= $2
	ORDER BY d.run_at, d.event_id LIMIT $3`
	leaseDeliverySQL = `UPDATE webhook_deliveries SET lease_owner = $3, lease_until = $4, attempts = attempts + 1
	WHERE webhook = $1 AND event_id = $2 AND state = 'queued'`
	deliveredSQL = `UPDATE webhook_deliveries SET state = 'delivered', last_error = '', lease_owner = '', lease_until = 0
	WHERE webhook = $1 AND event_id = $2 AND lease_owner = $3 AND state = 'queued'`
	retryDeliverySQL = `UPDATE webhook_deliveries SET run_at = $4, last_error = $5, lease_owner = '', lease_until = 0
	WHERE webhook = $1 AND event_id = $2 AND lease_owner = $3 AND state = 'queued'`
	dropDeliverySQL   = `DELETE FROM webhook_deliveries WHERE webhook = $1 AND event_id = $2 AND lease_owner = $3 AND state = 'queued'`
	receiverOKSQL     = `UPDATE webhook_receivers SET last_success = $2, failures = 0 WHERE name = $1`
	receiverFailedSQL = `UPDATE webhook_receivers SET last_failure = $2, last_error = $3, failures = failures + 1,
	dropped = dropped + $4 WHERE name = $1`
	webhookStatsSQL = `SELECT r.name, r.after_id, r.last_success, r.last_failure, r.last_error, r.failures, r.dropped,
		(SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook = r.name AND d.state = 'queued'),
		(SELECT COALESCE(MIN(d.created), 0) FROM webhook_deliveries d WHERE d.webhook = r.name AND d.state = 'queued')
	FROM webhook_receivers r ORDER BY r.name`
)

func (s *SQL) r(q string) string { return Rebind(q, s.d.Placeholder) }

// LastEventID returns the newest event's id (0 when none).
func (s *SQL) LastEventID(ctx context.Context, tx Tx) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, lastEventIDSQL).Scan(&id)
	return id, err
}

// WebhookCursors returns every receiver's cursor.
func (s *SQL) WebhookCursors(ctx context.Context, tx Tx) (map[string]int64, error) {
	rows, err := tx.Query(ctx, webhookCursorsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var (
			name string
			id   int64
		)
		if err := rows.Scan(&name, &id); err != nil {
			return nil, err
		}
		out[name] = id
	}
	return out, rows.Err()
}

// EnqueueWebhookDeliveries inserts ds, then moves the cursors and forgets
// the delivered rows they passed (webhook.Store).
func (s *SQL) EnqueueWebhookDeliveries(ctx context.Context, tx Tx, cursors map[string]int64, ds []webhook.Delivery) error {
	ins := s.r(insertDeliverySQL)
	for _, d := range ds {
		if _, err := tx.Exec(ctx, ins, d.Webhook, d.EventID, micros(d.RunAt), micros(d.Created)); err != nil {
			return fmt.Errorf("insert delivery %s/%d: %w", d.Webhook, d.EventID, err)
		}
	}
	up, forget := s.r(upsertCursorSQL), s.r(forgetDeliveredSQL)
	for name, id := range cursors {
		if _, err := tx.Exec(ctx, up, name, id); err != nil {
			return fmt.Errorf("set cursor of %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, forget, name, id); err != nil {
			return fmt.Errorf("forget deliveries of %s: %w", name, err)
		}
	}
	return nil
}

// ClaimWebhookDeliveries leases up to n due deliveries of webhook.
// lockClause ends the select (FOR UPDATE SKIP LOCKED on PostgreSQL).
func (s *SQL) ClaimWebhookDeliveries(ctx context.Context, tx Tx, lockClause, hook, owner string, now time.Time, lease time.Duration, n int) ([]webhook.Delivery, error) {
	q := claimDeliveriesSQL
	if lockClause != "" {
		q += " " + lockClause
	}
	rows, err := tx.Query(ctx, s.r(q), hook, micros(now), n)
	if err != nil {
		return nil, err
	}
	var out []webhook.Delivery
	for rows.Next() {
		var (
			d              webhook.Delivery
			runAt, created int64
			data           []byte
		)
		if err := rows.Scan(&d.EventID, &d.Attempts, &runAt, &created, &d.LastError,
			&d.Event.Subject, &d.Event.Type, &d.Event.Actor, s.d.ScanTime(&d.Event.At), &data); err != nil {
			rows.Close()
			return nil, err
		}
		d.Webhook, d.RunAt, d.Created = hook, fromMicros(runAt), fromMicros(created)
		d.Event.ID, d.Event.At, d.Event.Data = d.EventID, d.Event.At.UTC(), JSONValue(data)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	lq := s.r(leaseDeliverySQL)
	until := micros(now.Add(lease))
	for i := range out {
		if _, err := tx.Exec(ctx, lq, hook, out[i].EventID, owner, until); err != nil {
			return nil, err
		}
		out[i].Attempts++
	}
	return out, nil
}

// FinishWebhookDeliveries records outcomes of deliveries owner holds.
func (s *SQL) FinishWebhookDeliveries(ctx context.Context, tx Tx, owner string, rs []webhook.Result) error {
	for _, r := range rs {
		var (
			n   int64
			err error
		)
		switch r.Outcome {
		case webhook.OutcomeDelivered:
			n, err = tx.Exec(ctx, s.r(deliveredSQL), r.Webhook, r.EventID, owner)
		case webhook.OutcomeRetry:
			n, err = tx.Exec(ctx, s.r(retryDeliverySQL), r.Webhook, r.EventID, owner, micros(r.RunAt), r.Error)
		case webhook.OutcomeDropped:
			n, err = tx.Exec(ctx, s.r(dropDeliverySQL), r.Webhook, r.EventID, owner)
		default:
			return fmt.Errorf("delivery %s/%d: unknown outcome %q", r.Webhook, r.EventID, r.Outcome)
		}
		if err != nil {
			return fmt.Errorf("delivery %s/%d: %w", r.Webhook, r.EventID, err)
		}
		if n == 0 {
			continue // the lease passed to someone else: theirs to record
		}
		if r.Outcome == webhook.OutcomeDelivered {
			_, err = tx.Exec(ctx, s.r(receiverOKSQL), r.Webhook, micros(r.At))
		} else {
			dropped := 0
			if r.Outcome == webhook.OutcomeDropped {
				dropped = 1
			}
			_, err = tx.Exec(ctx, s.r(receiverFailedSQL), r.Webhook, micros(r.At), r.Error, dropped)
		}
		if err != nil {
			return fmt.Errorf("receiver %s: %w", r.Webhook, err)
		}
	}
	return nil
}

// WebhookStats returns every receiver's statistics.
func (s *SQL) WebhookStats(ctx context.Context, tx Tx) ([]webhook.Stats, error) {
	rows, err := tx.Query(ctx, webhookStatsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []webhook.Stats
	for rows.Next() {
		var (
			st                 webhook.Stats
			ok, failed, oldest int64
			failures, pending  int64
		)
		if err := rows.Scan(&st.Name, &st.AfterID, &ok, &failed, &st.LastError, &failures, &st.Dropped, &pending, &oldest); err != nil {
			return nil, err
		}
		st.LastSuccess, st.LastFailure, st.OldestPending = fromMicros(ok), fromMicros(failed), fromMicros(oldest)
		st.Failures, st.Pending = int(failures), int(pending)
		out = append(out, st)
	}
	return out, rows.Err()
}
