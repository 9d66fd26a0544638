package connector

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every Store returns (wrapped or not; test with errors.Is).
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists") // a unique key (userName, group displayName) is taken
	// ErrPrecondition is returned by update functions when an If-Match
	// version does not match; stores pass it through unchanged.
	ErrPrecondition = errors.New("precondition failed")
	// ErrUnavailable means the store cannot be reached or cannot commit.
	ErrUnavailable = errors.New("store unavailable")
)

// Query selects and pages a list of users or groups.
type Query struct {
	Filter *Filter // nil: everything
	// StartIndex is 1-based (SCIM); values below 1 mean 1.
	StartIndex int
	// Count is the page size; 0 returns only the total.
	Count int
	// AfterID, when set, returns only resources whose ID sorts after it
	// (keyset paging for internal sweeps; SCIM uses StartIndex).
	AfterID string
}

// Page is one page of a list.
type Page[T any] struct {
	Total int
	Items []T
}

// UserStore persists users. Updates are compare-and-swap closures: fn gets the
// current user, may change it and returns what else to commit with it; it may
// run more than once (on a conflict) and must not have side effects. Returning
// an error from fn aborts the update and the error is returned as is.
type UserStore interface {
	// CreateUser inserts u (its ID, Version, Created and Modified are set by
	// the store when empty) and commits ch with it. ErrAlreadyExists when the
	// userName (case-insensitively) is taken.
	CreateUser(ctx context.Context, u User, ch Change) (User, error)
	GetUser(ctx context.Context, id string) (User, error)
	// UpdateUser applies fn to the stored user and commits the result with the
	// change fn returns, bumping Version and Modified (from fn's user).
	UpdateUser(ctx context.Context, id string, fn func(u *User) (Change, error)) (User, error)
	// DeleteUser removes the user (and its group memberships) after fn agrees;
	// the change is committed in the same transaction. Events and jobs about
	// the user are kept.
	DeleteUser(ctx context.Context, id string, fn func(u User) (Change, error)) error
	// ListUsers filters and pages users, ordered by ID. The filter is
	// evaluated by the database.
	ListUsers(ctx context.Context, q Query) (Page[User], error)
}

// GroupStore persists groups, with the same contract as UserStore.
// Members that are not users are rejected with ErrNotFound from CreateGroup
// and UpdateGroup (wrapped with the offending id).
type GroupStore interface {
	CreateGroup(ctx context.Context, g Group, ch Change) (Group, error)
	GetGroup(ctx context.Context, id string) (Group, error)
	UpdateGroup(ctx context.Context, id string, fn func(g *Group) (Change, error)) (Group, error)
	DeleteGroup(ctx context.Context, id string, fn func(g Group) (Change, error)) error
	ListGroups(ctx context.Context, q Query) (Page[Group], error)
}

// JobStore is the durable outbox.
type JobStore interface {
	// EnqueueJobs commits jobs outside of a user change.
	EnqueueJobs(ctx context.Context, jobs []Job) error
	// ClaimJobs leases up to n jobs whose RunAt <= now and whose lease is free
	// or expired, for owner until now+lease, incrementing their Attempts, in
	// RunAt order. Two concurrent callers never get the same job while its
	// lease holds.
	ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, n int) ([]Job, error)
	// CompleteJob removes a job the owner still holds. ErrNotFound if the
	// lease was lost (the job is someone else's now).
	CompleteJob(ctx context.Context, id int64, owner string) error
	// RenewJob extends the lease of a job owner still holds to now+lease
	// (the worker's heartbeat while the job runs). ErrNotFound when the job
	// is no longer owner's (taken over, or finished).
	RenewJob(ctx context.Context, id int64, owner string, now time.Time, lease time.Duration) error
	// RetryJob releases a held job to run again at runAt, recording lastError.
	RetryJob(ctx context.Context, id int64, owner string, runAt time.Time, lastError string) error
	// FailJob moves a held job out of the queue for good (kept for inspection).
	FailJob(ctx context.Context, id int64, owner string, lastError string) error
	// JobStats reports the queue depth and the oldest queued job's RunAt.
	JobStats(ctx context.Context) (depth int, oldest time.Time, err error)
	// JobKindStats reports how many queued jobs (claimed ones included, failed
	// ones not) are of one of kinds and the oldest one's Created (zero when
	// there is none): /metrics' pending deprovisionings. It is an indexed
	// read (jobs_kind).
	JobKindStats(ctx context.Context, kinds []JobKind) (n int, oldestCreated time.Time, err error)
}

// EventStore reads the append-only event log (events are written through
// Change).
type EventStore interface {
	ListEvents(ctx context.Context, subject string, afterID int64, limit int) ([]Event, error)
}

// StateStore keeps small named values that must survive restarts (the delta
// link, the audit log high-water mark) and leader leases.
type StateStore interface {
	GetCursor(ctx context.Context, name string) (string, error) // "" when unset
	SetCursor(ctx context.Context, name, value string) error
	// AcquireLease takes or renews the named lease for holder until now+ttl;
	// false when another holder's lease has not expired.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// ErrAddressTaken is returned by CreateUser and UpdateUser when another
// stored user already holds the invite address (Onboarding.InviteEmail,
// compared with FoldKey): one invited address belongs to at most one live
// user, enforced by the store so that concurrent creates cannot both win.
var ErrAddressTaken = errors.New("invite address held by another user")

// TombstoneStore keeps the guests whose deletion Graph has not confirmed
// yet (Tombstone); Change.Tombstones adds them atomically with a change.
type TombstoneStore interface {
	// AddTombstone records t; an existing tombstone of the guest is kept.
	AddTombstone(ctx context.Context, t Tombstone) error
	// RemoveTombstone drops the guest's tombstone (none is not an error).
	RemoveTombstone(ctx context.Context, guestID string) error
	// HasTombstone reports whether the guest's deletion is pending.
	HasTombstone(ctx context.Context, guestID string) (bool, error)
	// ListTombstones returns up to limit tombstones, oldest first, and in
	// Total how many there are (limit 0: only the count).
	ListTombstones(ctx context.Context, limit int) (Page[Tombstone], error)
}

// Store is everything passbridge persists.
type Store interface {
	UserStore
	GroupStore
	JobStore
	EventStore
	StateStore
	TombstoneStore
	// Ping reports whether the database is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}
