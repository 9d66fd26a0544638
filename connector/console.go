package connector

import (
	"context"
	"time"
)

// ConsoleStore is the read side of the admin console and `passbridge
// status`: indexed queries that stay fast at 100k users (migration 0013).
// Both stores have it; it is separate from Store so that other Store
// implementations need not.
type ConsoleStore interface {
	// ExpiringUsers returns the users whose unfinished onboarding (invited,
	// redeemed, mfaRegistered) expires in [from, to), soonest first, up to
	// limit, and how many there are.
	ExpiringUsers(ctx context.Context, from, to time.Time, limit int) (Page[User], error)
	// DeprovisionPendingUsers returns users with active=false whose guest
	// is not yet confirmed disabled or gone (stored state not "disabled"),
	// by id, up to limit, and how many there are.
	DeprovisionPendingUsers(ctx context.Context, limit int) (Page[User], error)
	// FailedJobs returns the jobs that left the queue failed, newest first,
	// up to limit, and how many there are.
	FailedJobs(ctx context.Context, limit int) (Page[Job], error)
	// QueuedJobsOfKinds returns queued jobs of kinds, oldest first, up to
	// limit.
	QueuedJobsOfKinds(ctx context.Context, kinds []JobKind, limit int) ([]Job, error)
	// OldestQueuedJob returns the queued job that is due first; false when
	// the queue is empty.
	OldestQueuedJob(ctx context.Context) (Job, bool, error)
	// SubjectEvents returns the newest events of one subject, newest first,
	// up to limit (a person's timeline).
	SubjectEvents(ctx context.Context, subject string, limit int) ([]Event, error)
}

// ExpiringStates are the states whose onboarding can still expire.
var ExpiringStates = []State{StateInvited, StateRedeemed, StateMFARegistered}
