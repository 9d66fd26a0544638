package connector

import (
	"encoding/json"
	"time"
)

// State is the onboarding state derived from a user's facts (see Derive).
type State string

const (
	StatePending       State = "pending"       // stored, invitation not yet sent
	StateInvited       State = "invited"       // guest exists, invitation not redeemed
	StateRedeemed      State = "redeemed"      // invitation redeemed
	StateMFARegistered State = "mfaRegistered" // an MFA method is registered
	StateOnboarded     State = "onboarded"     // every required agreement accepted
	StateExpired       State = "expired"       // not onboarded within the validity: guest disabled, then deleted
	StateDisabled      State = "disabled"      // active=false
	StateFailed        State = "failed"        // a permanent error; see LastError
	// StateConflict: the address belongs to an account passbridge did not
	// invite (a member, or another party's guest); nothing was written in
	// the tenant. LastError names the account and what an admin can do.
	StateConflict State = "conflict"
	// StateInactive: an onboarded account disabled by the inactivity rule
	// (lifecycle.inactivity.disableAfter); see DisabledReason.
	StateInactive State = "inactive"
	// StateTerminated: an onboarded account deleted by the inactivity rule
	// (lifecycle.inactivity.terminateAfter).
	StateTerminated State = "terminated"
)

// Values of Onboarding.DisabledReason (SCIM disabledReason).
const (
	DisabledByClient   = "client"     // active=false from a SCIM client
	DisabledExpired    = "expired"    // terminated at the end of the validity
	DisabledInactivity = "inactivity" // lifecycle.inactivity.disableAfter
)

// States lists every state, in flow order.
var States = []State{StatePending, StateInvited, StateRedeemed, StateMFARegistered,
	StateOnboarded, StateExpired, StateDisabled, StateFailed, StateConflict,
	StateInactive, StateTerminated}

// User is a SCIM user as passbridge keeps it.
//
// The fields above Doc are the ones passbridge indexes and reasons about; Doc
// holds the client's SCIM attributes as sent (core and enterprise schema and the
// writable part of the onboarding extension), so that what a client wrote
// comes back unchanged. Onboarding holds the facts passbridge learned.
type User struct {
	ID         string
	UserName   string
	ExternalID string
	Active     bool
	// Emails are all e-mail values of the user, as sent; filters on
	// emails.value match any of them.
	Emails []string
	// Doc is the SCIM resource's client-writable attributes (without id, meta,
	// schemas and readOnly attributes), as a JSON object.
	Doc json.RawMessage

	// SeedRequested is the client's wish for SEED device provisioning
	// (onboarding extension seedRequested, readWrite).
	SeedRequested bool
	// MailboxType is the writeOnly mailboxType the client sent (e.g.
	// "LiteMail"), checked by the sign-up policy; kept, never returned.
	MailboxType string

	Onboarding Onboarding

	Version  int64 // incremented by every committed change; the ETag
	Created  time.Time
	Modified time.Time

	// CreatedBy names the SCIM client (scim.tokens[].name) that created the
	// user; set by the store at the create and never changed by an update.
	// "" (users created before it was recorded, or not through SCIM): no
	// owner, so invisible to ownUsersOnly clients.
	CreatedBy string
}

// Onboarding holds the facts about a user's onboarding. State is derived from
// them (Derive) and stored beside them so that it can be filtered on.
type Onboarding struct {
	State State `json:"state"`

	// InviteEmail is the address invited (the login ID in the tenant).
	InviteEmail string     `json:"inviteEmail,omitempty"`
	GuestID     string     `json:"guestId,omitempty"`
	InvitedAt   *time.Time `json:"invitedAt,omitempty"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	RedeemedAt  *time.Time `json:"redeemedAt,omitempty"`

	MFARegisteredAt *time.Time `json:"mfaRegisteredAt,omitempty"`
	MFAMethods      []string   `json:"mfaMethods,omitempty"`

	Agreements  []AgreementAcceptance `json:"agreements,omitempty"`
	OnboardedAt *time.Time            `json:"onboardedAt,omitempty"`

	// Disabled is true once active=false has been applied in the tenant.
	Disabled  bool       `json:"disabled,omitempty"`
	ExpiredAt *time.Time `json:"expiredAt,omitempty"`
	GuestGone bool       `json:"guestGone,omitempty"` // the guest was deleted in the tenant
	Failed    bool       `json:"failed,omitempty"`
	LastError string     `json:"lastError,omitempty"`
	Attempts  int        `json:"attempts,omitempty"`
	// InviteJob is the outbox job that holds this onboarding's invitation,
	// recorded (compare-and-swap) before Graph is called, so that a
	// duplicate invitation job cannot mail the user a second time.
	InviteJob int64 `json:"inviteJob,omitempty"`
	// InviteIntentAt is when InviteJob was recorded: an account created
	// before it (less a clock-skew margin) is not passbridge's invitation.
	InviteIntentAt *time.Time `json:"inviteIntentAt,omitempty"`
	// Conflict is true when the address belongs to an account passbridge
	// did not invite (StateConflict); cleared by a new onboarding.
	Conflict bool `json:"conflict,omitempty"`

	Seed Seed `json:"seed,omitempty"`

	// LifecycleHold is the onboarding extension's lifecycleHold (readWrite):
	// while set, no automatic reminder, disable or delete (the rules that
	// honour it come later). Set by an admin in the console; HoldBy and
	// HoldAt say who and when. A new onboarding (reinvite) keeps it.
	// SCIM clients set it too (extension lifecycleHold, readWrite).
	LifecycleHold string     `json:"lifecycleHold,omitempty"`
	HoldBy        string     `json:"holdBy,omitempty"`
	HoldAt        *time.Time `json:"holdAt,omitempty"`
	// Mail records passbridge's own mails to the user by event key (e.g.
	// "invitation:2026-01-02T03:04:05Z"): queued, being sent, sent. It is
	// what keeps one event from being mailed twice (job_mail.go). It never
	// holds a redeem link.
	Mail map[string]*MailRecord `json:"mail,omitempty"`

	// The lifecycle after sign-up (lifecycle_rules.go).
	//
	// AccountType is the extension's accountType (readWrite:
	// public_officer, vendor, temp; "" is the default rules).
	AccountType string `json:"accountType,omitempty"`
	// RemindersSent and LastReminderAt count the reminders of this
	// onboarding (SCIM remindersSent, lastReminderAt).
	RemindersSent  int        `json:"remindersSent,omitempty"`
	LastReminderAt *time.Time `json:"lastReminderAt,omitempty"`
	// TerminationNoticeAt: the notice before termination was queued.
	TerminationNoticeAt *time.Time `json:"terminationNoticeAt,omitempty"`
	// TerminatedAt is when the account was terminated: disabled at the
	// end of the validity (state expired) or deleted for inactivity (state
	// terminated).
	TerminatedAt *time.Time `json:"terminatedAt,omitempty"`
	// DeleteDueAt is when the terminated guest is deleted
	// (lifecycle.deleteAfterTermination); DeleteQueued once it was.
	DeleteDueAt  *time.Time `json:"deleteDueAt,omitempty"`
	DeleteQueued bool       `json:"deleteQueued,omitempty"`
	// DisabledReason says why the account is disabled (DisabledBy…);
	// "client" is derived from active=false and not stored.
	DisabledReason string `json:"disabledReason,omitempty"`
	// LastSignInAt is Graph's signInActivity.lastSuccessfulSignInDateTime
	// (SCIM lastSignInAt); SignInReadAt is when passbridge last read it, so
	// that the inactivity rule acts only on fresh knowledge.
	LastSignInAt *time.Time `json:"lastSignInAt,omitempty"`
	SignInReadAt *time.Time `json:"signInReadAt,omitempty"`
	// InactivityNoticeFor is the activity basis the inactivity notice was
	// queued for (one notice per period of inactivity).
	InactivityNoticeFor *time.Time `json:"inactivityNoticeFor,omitempty"`
	// InactiveAt is when the inactivity rule disabled the account;
	// InactiveSince the activity basis it counted from.
	InactiveAt    *time.Time `json:"inactiveAt,omitempty"`
	InactiveSince *time.Time `json:"inactiveSince,omitempty"`
	// StatusChangedAt is when a client or an admin last changed the
	// account's status (active, a retry): lifecycle.graceAfterChange counts
	// from it. A new onboarding keeps it.
	StatusChangedAt *time.Time `json:"statusChangedAt,omitempty"`
	// LifecycleDueAt is when a lifecycle rule is next due for this user
	// (to the second; nil: none): the reconciler's indexed query of due
	// users reads it (LifecycleStore, migration 0012).
	LifecycleDueAt *time.Time `json:"lifecycleDueAt,omitempty"`
}

// MailRecord is the delivery record of one mail (one event of one user).
type MailRecord struct {
	Template string    `json:"template"`
	QueuedAt time.Time `json:"queuedAt"`
	Job      int64     `json:"job,omitempty"` // the job that holds the sending
	Attempts int       `json:"attempts,omitempty"`
	// SendingAt is set (compare-and-swap) before an attempt hands the mail
	// to the SMTP server and cleared when the server refused it; found set
	// by the next attempt, the previous one ended without an answer (a
	// crash mid-send): Uncertain.
	SendingAt *time.Time `json:"sendingAt,omitempty"`
	SentAt    *time.Time `json:"sentAt,omitempty"`
	// Uncertain: an attempt may have been delivered without being
	// recorded; the mail was sent again with the same Message-ID.
	Uncertain bool   `json:"uncertain,omitempty"`
	Skipped   string `json:"skipped,omitempty"` // why it was not sent (e.g. "redeemed")
	LastError string `json:"lastError,omitempty"`
}

// AgreementAcceptance records that the user accepted one agreement.
type AgreementAcceptance struct {
	Name       string    `json:"name"`
	ID         string    `json:"id,omitempty"`
	AcceptedAt time.Time `json:"acceptedAt"`
}

// Seed holds the SEED (device) provisioning facts.
type Seed struct {
	Requested     bool       `json:"requested,omitempty"`
	RequestedAt   *time.Time `json:"requestedAt,omitempty"`
	DueAt         *time.Time `json:"dueAt,omitempty"`
	ProvisionedAt *time.Time `json:"provisionedAt,omitempty"`
	ExpiresAt     *time.Time `json:"expiresAt,omitempty"`
	State         string     `json:"state,omitempty"` // requested, provisioned, expired
}

// Group is a SCIM group as passbridge keeps it.
type Group struct {
	ID          string
	DisplayName string
	ExternalID  string
	// Members are the ids of passbridge users in the group, in insertion order.
	Members []string
	// EntraID is the id of the Entra security group this group is mirrored to
	// (empty until created or mapped).
	EntraID string
	// EntraOrigin says where EntraID came from: GroupCreated (passbridge
	// created the Entra group, and deletes it with the SCIM group) or
	// GroupMapped (groups.map named an existing one, which passbridge only
	// adds its own guests to). "" with an EntraID (recorded before the
	// origin was) is treated as mapped: never deleted.
	EntraOrigin string
	// Doc holds other client attributes as sent, as a JSON object.
	Doc json.RawMessage

	Version  int64
	Created  time.Time
	Modified time.Time
}

// JobKind names what an outbox job does.
type JobKind string

const (
	JobInvite        JobKind = "invite"
	JobDisable       JobKind = "disable"
	JobEnable        JobKind = "enable"
	JobDeleteGuest   JobKind = "deleteGuest"
	JobSeedProvision JobKind = "seedProvision"
	JobGroupSync     JobKind = "groupSync"
	// JobGroupRemoveMember removes one guest from one Entra group: each
	// removal is its own durable job, queued before the adds of the same
	// change, so that no add can hold it back or drop it.
	JobGroupRemoveMember JobKind = "groupRemoveMember"
	// JobGroupDelete deletes an Entra group passbridge created, after its
	// SCIM group was deleted.
	JobGroupDelete JobKind = "groupDelete"
	// JobMail sends one of passbridge's own mails (job_mail.go).
	JobMail JobKind = "mail"
)

// Values of Group.EntraOrigin.
const (
	GroupCreated = "created" // passbridge created the Entra group
	GroupMapped  = "mapped"  // groups.map named an existing Entra group
)

// Job is a durable unit of work in the outbox. A job is committed in the same
// transaction as the change that caused it.
type Job struct {
	ID      int64
	Kind    JobKind
	Subject string          // user or group id
	Payload json.RawMessage // kind-specific, may be nil
	// Attempts counts claims: it is incremented before the worker calls out.
	Attempts  int
	RunAt     time.Time // not claimable before
	LastError string
	// Lease: set by ClaimJobs; another worker may claim the job once it passes.
	LeaseOwner string
	LeaseUntil time.Time
	Created    time.Time
}

// Event is one entry of the append-only event log.
type Event struct {
	ID      int64
	Subject string // user or group id
	Type    string // e.g. "user.created", "onboarding.invited"
	Actor   string // "scim:<token name>", "worker", "reconciler"
	At      time.Time
	Data    json.RawMessage
}

// Change is what an update wants committed with it, atomically.
type Change struct {
	Jobs   []Job
	Events []Event
	// Tombstones are recorded with the change (a deleted user's guest, a
	// replaced guest), until Graph confirmed the guest's deletion.
	Tombstones []Tombstone
}

// Tombstone records a guest passbridge invited whose deletion Graph has not
// confirmed yet: ids and a time, no personal data. Its guest is neither
// adopted nor treated as foreign while it exists.
type Tombstone struct {
	GuestID string // primary key
	UserID  string // the SCIM user that held it
	At      time.Time
}

// Clock is the time source (a fake in tests).
type Clock interface{ Now() time.Time }

// SystemClock is the real clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }

// Outcomes of a job attempt, as WorkerOptions.OnJob reports them.
const (
	JobOutcomeDone   = "done"   // completed
	JobOutcomeRetry  = "retry"  // transient error: queued again with backoff
	JobOutcomeFailed = "failed" // terminal error: out of the queue, lastError set
	JobOutcomeGaveUp = "gaveUp" // transient errors until MaxAttempts: out of the queue
	// JobOutcomeRefused: Graph refused a deprovisioning job (terminal
	// error); it stays queued and is retried (JobKind.Deprovisions).
	JobOutcomeRefused = "refused"
)

// ReconcileReport says what one reconcile pass did.
type ReconcileReport struct {
	// Skipped is true when another replica holds the reconciler lease.
	Skipped bool
	// Swept is true when this pass read every invited user directly.
	Swept         bool
	Pages         int // pages of users read from the store
	UsersExamined int
	UsersChanged  int // users whose facts changed (one write each)
	FactsChanged  int // fact events written
	Expired       int // onboardings terminated
	// DriftRepaired counts guests found enabled in the tenant while SCIM
	// says active:false; a disable job was queued for each.
	DriftRepaired int
	// GraphCalls counts Directory calls by kind (CallGetGuests …); one
	// bulk call may be several HTTP requests ($batch of 20).
	GraphCalls map[string]int
	Errors     int
	// LifecycleDue counts users the indexed query of due lifecycle rules
	// returned; SignInUnavailable is true when the inactivity rule is
	// configured but Graph gives no signInActivity (no Entra ID P1, or
	// AuditLog.Read.All missing): it then disables nobody.
	LifecycleDue      int
	SignInUnavailable bool
}
