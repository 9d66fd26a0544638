package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Names of the reconciler's lease and cursors in the StateStore.
const (
	LeaseReconciler   = "reconciler"
	CursorDeltaLink   = "reconcile.deltaLink"
	CursorAuditMark   = "reconcile.auditHighWater"
	CursorLastSweep   = "reconcile.lastSweep"
	actorReconciler   = "reconciler"
	activityAcceptToU = "Accept Terms Of Use" // the audit log's spelling, capital "Of"; compared case-insensitively anyway
)

// Graph call kinds counted in ReconcileReport.GraphCalls.
const (
	CallGuestChanges          = "guestChanges"
	CallGetGuests             = "getGuests"
	CallAuthenticationMethods = "authenticationMethods"
	CallAuditEvents           = "auditEvents"
)

// Reconciler mirrors the tenant's facts onto the users, level-triggered like
// a controller-runtime reconcile: each pass reads the current facts and
// writes only what changed, so a second pass changes nothing. It asks each
// question only about the users whose answer can still change: redemption
// for invited users (delta feed, plus a periodic direct sweep), MFA for
// redeemed ones, agreements from the audit log. It never writes to Graph
// itself: a termination at expiry is a deleteGuest job committed with the
// fact, so it survives outages and retries like every other write.
type Reconciler struct {
	store Store
	dir   DirectoryReader
	opts  ReconcileOptions
	dom   Options
	clock Clock
	log   *slog.Logger
}

// NewReconciler returns a reconciler over store and dir, configured by
// opts.Reconcile and the domain options. It only reads the directory.
func NewReconciler(store Store, dir DirectoryReader, opts Options) *Reconciler {
	opts = opts.withDefaults()
	return &Reconciler{store: store, dir: dir, opts: opts.Reconcile, dom: opts,
		clock: opts.Clock, log: opts.Logger.With("component", "reconciler")}
}

// Holder returns the lease holder id of this reconciler.
func (r *Reconciler) Holder() string { return r.opts.Holder }

// Run reconciles every interval (Options.Reconcile.Interval when 0) until
// ctx ends, then releases the role. While it holds the role it renews it
// every third of RoleTTL, between passes too, so that it keeps it; while
// another holds it, it asks again every third of RoleTTL (or interval when
// shorter), so that a dead holder's role is taken within about RoleTTL.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = r.opts.Interval
	}
	defer func() {
		if err := r.Release(context.WithoutCancel(ctx)); err != nil {
			r.log.Warn("release lease failed", "err", err)
		}
	}()
	var (
		next    time.Duration
		holding bool
	)
	for {
		if !r.wait(ctx, next, holding) {
			return nil
		}
		rep, err := r.RunOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.WarnContext(ctx, "reconcile failed", "err", err, "errors", rep.Errors)
		case !rep.Skipped:
			r.log.DebugContext(ctx, "reconciled", "examined", rep.UsersExamined, "changed", rep.UsersChanged,
				"expired", rep.Expired, "swept", rep.Swept)
		}
		holding = !rep.Skipped && !errors.Is(err, errRoleLost)
		next = interval
		if !holding {
			next = min(interval, r.opts.RoleTTL/3)
		}
	}
}

// Release gives the reconciler role up if this reconciler holds it, so that
// another replica (or the next cron run) need not wait for it to run out.
func (r *Reconciler) Release(ctx context.Context) error {
	return r.store.ReleaseLease(ctx, LeaseReconciler, r.opts.Holder)
}

// errRoleLost stops a pass whose reconciler role this process no longer
// holds, or can no longer be sure it holds.
var errRoleLost = errors.New("reconciler lease lost")

// wait sleeps d, renewing the role meanwhile when holding; false when ctx
// ended.
func (r *Reconciler) wait(ctx context.Context, d time.Duration, holding bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(r.opts.RoleTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-tick.C:
		}
		if !holding {
			continue
		}
		ok, err := r.store.AcquireLease(ctx, LeaseReconciler, r.opts.Holder, r.clock.Now(), r.opts.RoleTTL)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.WarnContext(ctx, "renew reconciler lease failed", "err", err)
		case err == nil && !ok:
			holding = false // taken over; the next pass asks again
		}
	}
}

// keepRole renews the role every third of RoleTTL while a pass runs
// (until ctx ends). valid is the local time until which the role surely
// holds; progress is when the pass last moved (unix nanoseconds, local
// clock). The pass is stopped through lose when the role was taken, when
// renewals failed until it may have run out, or when the pass made no
// progress for LeaseTTL (a stuck pass must not keep the role).
func (r *Reconciler) keepRole(ctx context.Context, valid time.Time, progress *atomic.Int64, lose context.CancelCauseFunc) {
	every := r.opts.RoleTTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if idle := time.Since(time.Unix(0, progress.Load())); idle > r.opts.LeaseTTL {
			lose(fmt.Errorf("%w: the pass made no progress for %s (reconcile.lease)", errRoleLost, idle.Round(time.Second)))
			return
		}
		start := time.Now()
		ok, err := r.store.AcquireLease(ctx, LeaseReconciler, r.opts.Holder, r.clock.Now(), r.opts.RoleTTL)
		switch {
		case err == nil && ok:
			valid = start.Add(r.opts.RoleTTL)
		case ctx.Err() != nil:
			return
		case err == nil:
			lose(fmt.Errorf("%w: held elsewhere", errRoleLost))
			return
		case time.Now().Add(every).After(valid):
			lose(fmt.Errorf("%w: renewal failed until the lease may have run out: %w", errRoleLost, err))
			return
		default:
			r.log.WarnContext(ctx, "renew reconciler lease failed", "err", err)
		}
	}
}

// pass is the state of one RunOnce.
type pass struct {
	now         time.Time
	sweep       bool
	changes     map[string]Guest                 // guest id → delta entry (accepted or removed)
	acceptances map[string][]AgreementAcceptance // guest id → acceptances seen in the audit log
	enabled     map[string]bool                  // guest ids the delta feed says are accountEnabled
	rep         *ReconcileReport
	errs        []error
	// lost: observations may not have been recorded (a user write or a
	// page read failed), so the change feeds must be read again from where
	// they were. unswept: some invited users were not read directly.
	lost, unswept bool
	// signIn: this pass reads signInActivity (lifecycle_reconcile.go).
	signIn, signInFailed, signInUnavailable bool
}

func (p *pass) fail(err error) { p.errs = append(p.errs, err) }

// RunOnce makes one pass. It returns an error when the pass could not
// complete or some questions failed (counted in Errors); the report is
// filled either way.
func (r *Reconciler) RunOnce(ctx context.Context) (ReconcileReport, error) {
	if r.opts.OnPass == nil {
		return r.runOnce(ctx)
	}
	start := time.Now()
	rep, err := r.runOnce(ctx)
	r.opts.OnPass(rep, err, time.Since(start))
	return rep, err
}

func (r *Reconciler) runOnce(ctx context.Context) (ReconcileReport, error) {
	rep := ReconcileReport{GraphCalls: map[string]int{}}
	p := &pass{now: r.clock.Now(), rep: &rep}
	acquired := time.Now()
	ok, err := r.store.AcquireLease(ctx, LeaseReconciler, r.opts.Holder, p.now, r.opts.RoleTTL)
	if err != nil {
		return rep, fmt.Errorf("acquire reconciler lease: %w", err)
	}
	if !ok {
		rep.Skipped = true
		return rep, nil
	}
	// The role is renewed while the pass runs; losing it stops the pass.
	var progress atomic.Int64
	progress.Store(acquired.UnixNano())
	outer := ctx
	ctx, lose := context.WithCancelCause(ctx)
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		r.keepRole(ctx, acquired.Add(r.opts.RoleTTL), &progress, lose)
	}()
	defer func() {
		lose(nil)
		<-kept
	}()

	lastSweep, err := r.cursorTime(ctx, CursorLastSweep)
	if err != nil {
		return rep, err
	}
	p.sweep = r.opts.DisableDelta || lastSweep.IsZero() || p.now.Sub(lastSweep) >= r.opts.SweepInterval
	if err := r.startSignInSweep(ctx, p); err != nil {
		return rep, err
	}
	nextLink, linkChanged := r.readDelta(ctx, p)
	newMark, markChanged := r.readAudit(ctx, p)
	rep.Swept = p.sweep

	// TODO(engine): disabled users past their validity are not terminated
	// (they are not swept), and our own deletions are not verified on the
	// next pass yet (disables are: verifyDisabled). The lifecycle rules run
	// in these pages, the sign-in sweep and dueUsers (lifecycle_reconcile.go).
	filter := Or(Eq(AttrOnboardingState, string(StateInvited)), Eq(AttrOnboardingState, string(StateRedeemed)),
		Eq(AttrOnboardingState, string(StateMFARegistered)), Eq(AttrOnboardingState, string(StateOnboarded)))
	after := ""
	for {
		if rep.Pages > 0 {
			// Renew per page: a long pass must not let a second replica in.
			ok, err := r.store.AcquireLease(ctx, LeaseReconciler, r.opts.Holder, r.clock.Now(), r.opts.RoleTTL)
			if err != nil {
				// The lease may still be ours: say what failed, not who won.
				p.fail(fmt.Errorf("renew reconciler lease: %w", err))
				p.lost = true
				break
			}
			if !ok {
				p.fail(fmt.Errorf("%w: held elsewhere", errRoleLost))
				p.lost = true
				break
			}
		}
		page, err := r.store.ListUsers(ctx, Query{Filter: filter, StartIndex: 1, Count: r.opts.BatchSize, AfterID: after})
		if err != nil {
			p.fail(fmt.Errorf("list users: %w", err))
			p.lost = true
			break
		}
		if len(page.Items) == 0 {
			break
		}
		rep.Pages++
		r.reconcilePage(ctx, p, page.Items)
		progress.Store(time.Now().UnixNano())
		after = page.Items[len(page.Items)-1].ID
		if len(page.Items) < r.opts.BatchSize || ctx.Err() != nil {
			break
		}
	}

	if cause := context.Cause(ctx); outer.Err() == nil && errors.Is(cause, errRoleLost) {
		// First, so that the returned error says the role was lost.
		p.errs = append([]error{cause}, p.errs...)
		p.lost = true
	}
	if !p.lost {
		r.verifyDisabled(ctx, p)
		r.dueUsers(ctx, p)
	}
	r.finishSignInSweep(ctx, p)

	// Cursors move only after the users they cover were written: a pass
	// that may have dropped an observation reads the same changes again.
	// Failed questions that are asked every pass anyway (MFA) do not hold
	// the feeds back, or one bad guest would stall everyone.
	if !p.lost {
		if linkChanged {
			r.setCursor(ctx, p, CursorDeltaLink, nextLink)
		}
		if markChanged {
			r.setCursor(ctx, p, CursorAuditMark, newMark.UTC().Format(time.RFC3339Nano))
		}
		if p.sweep && !p.unswept && !r.opts.DisableDelta {
			r.setCursor(ctx, p, CursorLastSweep, p.now.UTC().Format(time.RFC3339Nano))
		}
	}
	rep.Errors = len(p.errs)
	if len(p.errs) > 0 {
		return rep, fmt.Errorf("reconcile: %d errors, first: %w", len(p.errs), p.errs[0])
	}
	return rep, nil
}

func (r *Reconciler) cursorTime(ctx context.Context, name string) (time.Time, error) {
	v, err := r.store.GetCursor(ctx, name)
	if err != nil {
		return time.Time{}, fmt.Errorf("read cursor %s: %w", name, err)
	}
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		// Starting over costs one full read, which is safe; say so, since a
		// cursor nobody can read points at a writer with a bug.
		r.log.WarnContext(ctx, "cursor unreadable: starting over", "cursor", name, "value", v, "err", err)
		return time.Time{}, nil
	}
	return t, nil
}

func (r *Reconciler) setCursor(ctx context.Context, p *pass, name, value string) {
	if err := r.store.SetCursor(ctx, name, value); err != nil {
		p.fail(fmt.Errorf("write cursor %s: %w", name, err))
	}
}
