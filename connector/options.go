package connector

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Defaults of the options. They are the defaults of the configuration
// contract too: config.Default fills its keys from these, so a zero option
// and a key left out of the file mean the same thing.
const (
	DefaultInvitationValidity  = 720 * time.Hour  // invitation.validity
	DefaultSeedDueBusinessDays = 3                // seed.dueBusinessDays
	DefaultSeedValidity        = 720 * time.Hour  // seed.validity
	DefaultSeedTimeZone        = "Asia/Singapore" // seed.timeZone
	DefaultWorkerConcurrency   = 4                // worker.concurrency
	DefaultWorkerLease         = 2 * time.Minute  // worker.lease
	DefaultWorkerMaxAttempts   = 20               // worker.maxAttempts
	DefaultReconcileInterval   = time.Minute      // reconcile.interval
	DefaultReconcileLease      = 5 * time.Minute  // reconcile.lease
	DefaultReconcileBatchSize  = 200              // reconcile.batchSize
)

// Lease lengths without a configuration key: how soon a dead process's job
// claims and reconciler role are free again. The holder renews them every
// third of it while it lives.
const (
	DefaultWorkerClaimTTL   = 15 * time.Second // WorkerOptions.ClaimTTL
	DefaultReconcileRoleTTL = 15 * time.Second // ReconcileOptions.RoleTTL
)

// DefaultReconcileLeaseFor is the default of reconcile.lease for a
// reconcile.interval: DefaultReconcileLease, or twice the interval when that
// is longer (a cron-like interval of 1h gets 2h).
func DefaultReconcileLeaseFor(interval time.Duration) time.Duration {
	return max(DefaultReconcileLease, 2*interval)
}

// DefaultBlockedMailboxTypes returns the default of
// policy.blockedMailboxTypes (a new slice each call, so no caller can change
// another's).
func DefaultBlockedMailboxTypes() []string { return []string{"LiteMail"} }

// Options configure the domain: the Service, the Worker and the Reconciler
// all take them. cmd/passbridge maps the configuration file onto them; zero
// values take the Default… constants above.
type Options struct {
	Clock  Clock
	Logger *slog.Logger

	// Policy is the sign-up policy (config: policy.*).
	Policy PolicyOptions

	// InvitationValidity is how long an invitation may stay unfinished before
	// the onboarding is terminated (config: invitation.validity).
	InvitationValidity time.Duration
	// Invitation is what invitations say (config: invitation.redirectURL,
	// sendEmail, message, ccRecipients, language). Email and DisplayName are
	// filled per user.
	Invitation Invitation
	// AdoptExistingGuests lets the invitation adopt a guest that was in the
	// tenant before passbridge's invitation (config:
	// invitation.adoptExistingGuests, default false). Members are never
	// adopted.
	AdoptExistingGuests bool

	// Agreements are the agreements to accept (config: agreements).
	Agreements []Agreement
	// Seed configures SEED provisioning (config: seed.*).
	Seed SeedOptions
	// GroupMap maps a SCIM group displayName to an existing Entra group id
	// (config: groups.map).
	GroupMap map[string]string
	// GroupClients names, per GroupMap displayName, the SCIM clients (token
	// names) allowed to use that mapped group (config: groups.map.<name>.
	// clients). A displayName without an entry may be used by any client,
	// as before; with one, any other client is refused.
	GroupClients map[string][]string
	// GroupCreateDisabled refuses SCIM groups that groups.map does not map
	// instead of creating Entra groups for them (config: groups.create
	// false; the default, true, creates them).
	GroupCreateDisabled bool

	// Mailer sends passbridge's own mails (config: mail.smtp; nil: none).
	// With it and Invitation.SendEmail false, passbridge mails the
	// invitation with its redeem link itself (job_mail.go).
	Mailer Mailer

	// Lifecycle configures the rules after sign-up (config: lifecycle.*,
	// invitation.resendMinInterval, mfa.trustHomeTenant;
	// lifecycle_rules.go). Unlike the other options, a zero duration here
	// turns its rule off (config.Default fills the contract's defaults):
	// a zero DeleteAfterTermination deletes at termination.
	Lifecycle LifecycleOptions

	// Worker configures the outbox worker (config: worker.*).
	Worker WorkerOptions
	// Reconcile configures the reconciler (config: reconcile.*).
	Reconcile ReconcileOptions
}

// PolicyOptions is the sign-up policy.
type PolicyOptions struct {
	// AllowedDomains are organisational e-mail domains. "gov.sg" allows
	// exactly that domain; "*.gov.sg" allows every subdomain of gov.sg
	// (tech.gov.sg, a.b.gov.sg) but not gov.sg itself. Empty allows every
	// domain not blocked.
	AllowedDomains []string
	// BlockedDomains are refused even when allowed; same syntax.
	BlockedDomains []string
	// BlockedMailboxTypes are mailbox types refused at sign-up (nil:
	// DefaultBlockedMailboxTypes).
	BlockedMailboxTypes []string
}

// Agreement is a Terms of Use agreement a user must accept.
type Agreement struct {
	Name string
	ID   string
	// RequiredWhen is "always" (or "") or "seed" (only once SEED is provisioned).
	RequiredWhen string
}

// SeedOptions configure SEED device provisioning.
type SeedOptions struct {
	// GroupID is the Entra group whose membership provisions SEED
	// (config: seed.groupID). Empty: SEED requests are recorded but the
	// provisioning job fails with a readable error.
	GroupID string
	// DueBusinessDays is the promised provisioning time (config:
	// seed.dueBusinessDays).
	DueBusinessDays int
	// Holidays are non-working days (dates; the time of day is ignored).
	Holidays []time.Time
	// Validity is how long a SEED provisioning stays valid (config:
	// seed.validity).
	Validity time.Duration
	// Location is the time zone business days are counted in
	// (config: seed.timeZone).
	Location *time.Location
}

// WorkerOptions configure the outbox worker (NewWorker).
type WorkerOptions struct {
	// Owner identifies this process in job leases (default: the host name
	// and a random suffix).
	Owner string
	// Concurrency is how many jobs run at once (config: worker.concurrency).
	Concurrency int
	// Lease bounds one attempt of a job (config: worker.lease): its
	// directory calls are cut off after half of it. A crashed worker's jobs
	// return to the queue after ClaimTTL, not after Lease.
	Lease time.Duration
	// ClaimTTL is how long a claim lasts unless renewed (default 15s, at
	// most Lease; no configuration key). The worker renews a running job's
	// claim every third of it, and stops the attempt when the claim is
	// lost, so a dead worker's jobs come back within ClaimTTL whatever
	// Lease is.
	ClaimTTL time.Duration
	// MaxAttempts bounds the tries of a job with transient errors
	// (config: worker.maxAttempts).
	MaxAttempts int
	// PollInterval is the pause when the queue is empty (default 1s; no
	// configuration key).
	PollInterval time.Duration
	// BackoffBase and BackoffMax shape the exponential backoff between
	// attempts (defaults 2s and 15m; no configuration key); a Retry-After
	// from Graph wins when longer.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// JitterSeed seeds the backoff jitter (0: from the clock). Tests fix it.
	JitterSeed int64
	// OnJob, when set, is called after each job attempt with the job's kind,
	// the outcome (JobOutcomeDone, JobOutcomeRetry, JobOutcomeFailed,
	// JobOutcomeGaveUp) and how long the attempt took (metrics). It is not
	// called for attempts cut short by shutdown. It must be cheap and safe for
	// concurrent use.
	OnJob func(kind JobKind, outcome string, d time.Duration)
}

// ReconcileOptions configure the reconciler (NewReconciler).
type ReconcileOptions struct {
	// Holder identifies this process in the "reconciler" lease (default: the
	// host name and a random suffix).
	Holder string
	// Interval is the pause between passes in Run (config: reconcile.interval).
	Interval time.Duration
	// BatchSize is the page size of user sweeps and of bulk Graph reads
	// (config: reconcile.batchSize).
	BatchSize int
	// LeaseTTL is how long the holder keeps the reconciler role without
	// progress, a pass started or a page of users done (config:
	// reconcile.lease; at least twice Interval; default
	// DefaultReconcileLeaseFor(Interval)): a pass stuck longer gives the
	// role up. A holder that dies loses it after RoleTTL.
	LeaseTTL time.Duration
	// RoleTTL is how long the "reconciler" lease row lasts unless renewed
	// (default 15s, at most LeaseTTL; no configuration key). The holder
	// renews it every third of it, during passes and between them, and a
	// pass stops when the role is lost, so a dead holder's role is free
	// within RoleTTL and two live replicas never reconcile at once.
	RoleTTL time.Duration
	// DisableDelta stops reading redemptions from /users/delta between
	// sweeps; every pass then sweeps. No configuration key: tests and the
	// benchmarks set it.
	DisableDelta bool
	// SweepInterval is how often every invited user is read directly
	// (default 15m; no configuration key), because a redemption may not
	// produce a delta entry.
	SweepInterval time.Duration
	// AuditOverlap is how far before the stored high-water mark the audit log
	// is read again, since events arrive late (default 1h).
	AuditOverlap time.Duration
	// AuditLookback is where the first audit read starts (default 720h: the
	// log's retention).
	AuditLookback time.Duration
	// OnPass, when set, is called after every RunOnce with its report, its
	// error and how long it took (metrics). It must be cheap.
	OnPass func(rep ReconcileReport, err error, d time.Duration)
}

func loadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		// Singapore has had UTC+8 without DST since 1982: a fixed zone is
		// exact when the tz database is missing.
		return time.FixedZone("SGT", 8*3600)
	}
	return loc
}

// withDefaults fills every zero option, the worker's and the reconciler's
// included.
func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.InvitationValidity <= 0 {
		o.InvitationValidity = DefaultInvitationValidity
	}
	if o.Policy.BlockedMailboxTypes == nil {
		o.Policy.BlockedMailboxTypes = DefaultBlockedMailboxTypes()
	}
	if o.Seed.DueBusinessDays <= 0 {
		o.Seed.DueBusinessDays = DefaultSeedDueBusinessDays
	}
	if o.Seed.Validity <= 0 {
		o.Seed.Validity = DefaultSeedValidity
	}
	if o.Seed.Location == nil {
		o.Seed.Location = loadLocation(DefaultSeedTimeZone)
	}
	if o.Lifecycle.SignInSweepInterval <= 0 {
		o.Lifecycle.SignInSweepInterval = DefaultSignInSweepInterval
	}
	o.Worker = o.Worker.withDefaults()
	o.Reconcile = o.Reconcile.withDefaults()
	return o
}

// newHolder returns a lease holder id: the host name and pid, for an
// operator reading the lease table, and 64 random bits, because neither the
// pid (1 in every container) nor the clock tells two replicas apart.
func newHolder() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "passbridge"
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

func (w WorkerOptions) withDefaults() WorkerOptions {
	if w.Owner == "" {
		w.Owner = newHolder()
	}
	if w.Concurrency <= 0 {
		w.Concurrency = DefaultWorkerConcurrency
	}
	if w.Lease <= 0 {
		w.Lease = DefaultWorkerLease
	}
	if w.ClaimTTL <= 0 {
		w.ClaimTTL = DefaultWorkerClaimTTL
	}
	w.ClaimTTL = min(w.ClaimTTL, w.Lease)
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = DefaultWorkerMaxAttempts
	}
	if w.PollInterval <= 0 {
		w.PollInterval = time.Second
	}
	if w.BackoffBase <= 0 {
		w.BackoffBase = 2 * time.Second
	}
	if w.BackoffMax <= 0 {
		w.BackoffMax = 15 * time.Minute
	}
	if w.JitterSeed == 0 {
		w.JitterSeed = time.Now().UnixNano()
	}
	return w
}

func (r ReconcileOptions) withDefaults() ReconcileOptions {
	if r.Holder == "" {
		r.Holder = newHolder()
	}
	if r.Interval <= 0 {
		r.Interval = DefaultReconcileInterval
	}
	if r.BatchSize <= 0 {
		r.BatchSize = DefaultReconcileBatchSize
	}
	if r.LeaseTTL <= 0 {
		r.LeaseTTL = DefaultReconcileLeaseFor(r.Interval)
	}
	if r.LeaseTTL < 2*r.Interval {
		r.LeaseTTL = 2 * r.Interval
	}
	if r.RoleTTL <= 0 {
		r.RoleTTL = DefaultReconcileRoleTTL
	}
	r.RoleTTL = min(r.RoleTTL, r.LeaseTTL)
	if r.SweepInterval <= 0 {
		r.SweepInterval = 15 * time.Minute
	}
	if r.AuditOverlap <= 0 {
		r.AuditOverlap = time.Hour
	}
	if r.AuditLookback <= 0 {
		r.AuditLookback = 720 * time.Hour
	}
	return r
}

// Defaults of the lifecycle keys (config.Default fills them; a zero
// LifecycleOptions field turns its rule off).
const (
	DefaultRemindersAfter         = 552 * time.Hour  // lifecycle.reminders.after (day 23)
	DefaultRemindersEvery         = 24 * time.Hour   // lifecycle.reminders.every
	DefaultDeleteAfterTermination = 120 * time.Hour  // lifecycle.deleteAfterTermination
	DefaultResendMinInterval      = 24 * time.Hour   // invitation.resendMinInterval
	DefaultInactivityRemindAfter  = 1440 * time.Hour // lifecycle.inactivity.remindAfter (day 60)
	DefaultInactivityDisableAfter = 2160 * time.Hour // lifecycle.inactivity.disableAfter (day 90)
	DefaultInactivityTermAfter    = 4320 * time.Hour // lifecycle.inactivity.terminateAfter (day 180)
	DefaultGraceAfterChange       = 120 * time.Hour  // lifecycle.graceAfterChange
	// DefaultSignInSweepInterval is how often signInActivity is read for
	// onboarded users (no key: Graph's own data lags hours).
	DefaultSignInSweepInterval = 6 * time.Hour
)

// Account types (extension accountType).
const (
	AccountPublicOfficer = "public_officer"
	AccountVendor        = "vendor"
	AccountTemp          = "temp"
)

// AccountTypes lists the accepted accountType values.
var AccountTypes = []string{AccountPublicOfficer, AccountVendor, AccountTemp}

// LifecycleOptions are the rules after sign-up.
type LifecycleOptions struct {
	// RemindersAfter and RemindersEvery: the first reminder of an
	// unredeemed invitation that long after it was sent, then one every
	// RemindersEvery until termination (config: lifecycle.reminders.*).
	RemindersAfter time.Duration
	RemindersEvery time.Duration
	// DeleteAfterTermination: an expired onboarding's guest is disabled at
	// termination and deleted this much later; 0 deletes at termination
	// (config: lifecycle.deleteAfterTermination).
	DeleteAfterTermination time.Duration
	// ResendMinInterval: a resend sooner than this after the last
	// invitation is refused (config: invitation.resendMinInterval).
	ResendMinInterval time.Duration
	// Inactivity: the rules for onboarded accounts, from signInActivity.
	Inactivity InactivityOptions
	// GraceAfterChange: no automatic disable or delete for this long after
	// a client or an admin changed the account's status (config:
	// lifecycle.graceAfterChange).
	GraceAfterChange time.Duration
	// AccountTypes override validity and inactivity per accountType
	// (config: lifecycle.accountTypes.<type>.*).
	AccountTypes map[string]AccountTypeOptions
	// TrustHomeTenantMFA: a redeemed guest counts as MFA-registered
	// (config: mfa.trustHomeTenant).
	TrustHomeTenantMFA bool
	// SignInSweepInterval: how often signInActivity is read (default
	// DefaultSignInSweepInterval; no configuration key).
	SignInSweepInterval time.Duration
}

// InactivityOptions are the inactivity rule's thresholds, counted from the
// last successful sign-in (config: lifecycle.inactivity.*; zero: off).
type InactivityOptions struct {
	RemindAfter    time.Duration
	DisableAfter   time.Duration
	TerminateAfter time.Duration
}

// AccountTypeOptions override the defaults for one account type (zero: the
// default's value).
type AccountTypeOptions struct {
	Validity   time.Duration
	Inactivity InactivityOptions
}

// validityFor is the invitation validity of an account type.
func (o Options) validityFor(accountType string) time.Duration {
	if t, ok := o.Lifecycle.AccountTypes[accountType]; ok && t.Validity > 0 {
		return t.Validity
	}
	return o.InvitationValidity
}

// inactivityFor is the inactivity rule of an account type.
func (o Options) inactivityFor(accountType string) InactivityOptions {
	in := o.Lifecycle.Inactivity
	if t, ok := o.Lifecycle.AccountTypes[accountType]; ok {
		if t.Inactivity.RemindAfter > 0 {
			in.RemindAfter = t.Inactivity.RemindAfter
		}
		if t.Inactivity.DisableAfter > 0 {
			in.DisableAfter = t.Inactivity.DisableAfter
		}
		if t.Inactivity.TerminateAfter > 0 {
			in.TerminateAfter = t.Inactivity.TerminateAfter
		}
	}
	return in
}
