package webhook

import (
	"context"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// Store is what the dispatcher persists; store/sqlite and store/postgres
// implement it beside connector.Store (the storetest suite checks both).
type Store interface {
	ListEvents(ctx context.Context, subject string, afterID int64, limit int) ([]connector.Event, error)
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error

	// LastEventID returns the id of the newest event (0 when there is none).
	LastEventID(ctx context.Context) (int64, error)
	// WebhookCursors returns each known receiver's cursor: every event up
	// to it has its delivery rows (or was not for the receiver).
	WebhookCursors(ctx context.Context) (map[string]int64, error)
	// EnqueueWebhookDeliveries, in one transaction, inserts ds (a delivery
	// that exists, or whose event is at or below its receiver's stored
	// cursor, is left alone), moves each receiver of cursors forward to its
	// value (never back; a new receiver is created), and forgets the
	// delivered rows at or below the new cursors.
	EnqueueWebhookDeliveries(ctx context.Context, cursors map[string]int64, ds []Delivery) error
	// ClaimWebhookDeliveries leases up to n of webhook's queued deliveries
	// whose RunAt <= now and whose lease is free or expired, to owner until
	// now+lease, counting the attempt, oldest RunAt first, each with its
	// event.
	ClaimWebhookDeliveries(ctx context.Context, webhook, owner string, now time.Time, lease time.Duration, n int) ([]Delivery, error)
	// FinishWebhookDeliveries records the outcomes of deliveries owner
	// still holds (others are skipped) and their receivers' statistics, in
	// one transaction.
	FinishWebhookDeliveries(ctx context.Context, owner string, rs []Result) error
	// WebhookStats returns every known receiver's statistics, by name.
	WebhookStats(ctx context.Context) ([]Stats, error)
}

// Delivery is one event to be delivered to one receiver.
type Delivery struct {
	Webhook   string
	EventID   int64
	Attempts  int       // attempts made, the claimed one included
	RunAt     time.Time // not claimable before
	Created   time.Time // enqueued; the 14 days count from here
	LastError string
	Event     connector.Event // set by ClaimWebhookDeliveries
}

// Outcomes of a delivery attempt (Result.Outcome and the outcome label of
// passbridge_webhook_deliveries_total).
const (
	OutcomeDelivered = "delivered" // the receiver answered 2xx
	OutcomeRetry     = "retry"     // failed; tried again at RunAt
	OutcomeDropped   = "dropped"   // failed for longer than MaxAge: given up
)

// Result is the outcome of one attempt.
type Result struct {
	Webhook string
	EventID int64
	Outcome string
	At      time.Time // when the attempt ended
	RunAt   time.Time // OutcomeRetry: the next attempt
	Error   string    // failures: what went wrong (no secrets)
}

// Stats is what the store knows about one receiver.
type Stats struct {
	Name    string
	AfterID int64
	// Pending counts queued deliveries; OldestPending is the oldest one's
	// Created (zero when none).
	Pending       int
	OldestPending time.Time
	LastSuccess   time.Time
	LastFailure   time.Time
	LastError     string
	// Failures counts attempts failed since the last success.
	Failures int
	// Dropped counts deliveries given up after MaxAge.
	Dropped int64
}
