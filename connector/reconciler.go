package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Names of the reconciler's lease and cursors in the StateStore.
const (
	LeaseReconciler   = "reconciler"
	CursorDeltaLink   = "reconcile.deltaLink"
	CursorAuditMark   = "reconcile.auditHighWater"
	CursorLastSweep   = "reconcile.lastSweep"
	actorReconciler   = "reconciler"
	activityAcceptToU = "Accept Terms Of Use" // GRAPH-FACTS.md: capital "Of", high confidence
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
	dir   Directory
	opts  ReconcileOptions
	dom   Options
	clock Clock
	log   *slog.Logger
}

// ReconcileReport says what one pass did.
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
	// GraphCalls counts Directory calls by kind (CallGetGuests …); one
	// bulk call may be several HTTP requests ($batch of 20).
	GraphCalls map[string]int
	Errors     int
}

// NewReconciler returns a reconciler over store and dir.
func NewReconciler(store Store, dir Directory, opts ReconcileOptions) *Reconciler {
	opts = opts.withDefaults()
	return &Reconciler{store: store, dir: dir, opts: opts, dom: *opts.Domain,
		clock: opts.Domain.Clock, log: opts.Domain.Logger.With("component", "reconciler")}
}

// Run reconciles every interval (Options.Reconcile.Interval when 0) until
// ctx ends, then releases the lease.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = r.opts.Interval
	}
	defer func() {
		if err := r.store.ReleaseLease(context.WithoutCancel(ctx), LeaseReconciler, r.opts.Holder); err != nil {
			r.log.Warn("release lease failed", "err", err)
		}
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rep, err := r.RunOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.WarnContext(ctx, "reconcile failed", "err", err, "errors", rep.Errors)
		case !rep.Skipped:
			r.log.DebugContext(ctx, "reconciled", "examined", rep.UsersExamined, "changed", rep.UsersChanged,
				"expired", rep.Expired, "swept", rep.Swept)
		}
		t.Reset(interval)
	}
}

// pass is the state of one RunOnce.
type pass struct {
	now         time.Time
	sweep       bool
	changes     map[string]Guest                 // guest id → delta entry (accepted or removed)
	acceptances map[string][]AgreementAcceptance // guest id → acceptances seen in the audit log
	rep         *ReconcileReport
	errs        []error
	// lost: observations may not have been recorded (a user write or a
	// page read failed), so the change feeds must be read again from where
	// they were. unswept: some invited users were not read directly.
	lost, unswept bool
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
	ok, err := r.store.AcquireLease(ctx, LeaseReconciler, r.opts.Holder, p.now, r.opts.LeaseTTL)
	if err != nil {
		return rep, fmt.Errorf("acquire reconciler lease: %w", err)
	}
	if !ok {
		rep.Skipped = true
		return rep, nil
	}

	lastSweep, err := r.cursorTime(ctx, CursorLastSweep)
	if err != nil {
		return rep, err
	}
	p.sweep = r.opts.DisableDelta || lastSweep.IsZero() || p.now.Sub(lastSweep) >= r.opts.SweepInterval
	nextLink, linkChanged := r.readDelta(ctx, p)
	newMark, markChanged := r.readAudit(ctx, p)
	rep.Swept = p.sweep

	// TODO(engine): disabled users past their validity are not terminated
	// (they are not swept), and our own disable/delete are not verified on
	// the next pass yet; neither are the lifecycle reminders (day 23 …).
	filter := Or(Eq(AttrOnboardingState, string(StateInvited)), Eq(AttrOnboardingState, string(StateRedeemed)),
		Eq(AttrOnboardingState, string(StateMFARegistered)), Eq(AttrOnboardingState, string(StateOnboarded)))
	after := ""
	for {
		if rep.Pages > 0 {
			// Renew per page: a long pass must not let a second replica in.
			ok, err := r.store.AcquireLease(ctx, LeaseReconciler, r.opts.Holder, r.clock.Now(), r.opts.LeaseTTL)
			if err != nil || !ok {
				p.fail(fmt.Errorf("reconciler lease lost: %w", errors.Join(err, errors.New("held elsewhere"))))
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
		after = page.Items[len(page.Items)-1].ID
		if len(page.Items) < r.opts.BatchSize || ctx.Err() != nil {
			break
		}
	}

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
		return time.Time{}, nil // unreadable: start over
	}
	return t, nil
}

func (r *Reconciler) setCursor(ctx context.Context, p *pass, name, value string) {
	if err := r.store.SetCursor(ctx, name, value); err != nil {
		p.fail(fmt.Errorf("write cursor %s: %w", name, err))
	}
}

// readDelta reads the redemptions (and deletions) since the stored delta
// link. A failed read makes this pass sweep instead.
func (r *Reconciler) readDelta(ctx context.Context, p *pass) (next string, changed bool) {
	p.changes = map[string]Guest{}
	if r.opts.DisableDelta {
		return "", false
	}
	link, err := r.store.GetCursor(ctx, CursorDeltaLink)
	if err != nil {
		p.fail(fmt.Errorf("read cursor %s: %w", CursorDeltaLink, err))
		return "", false
	}
	p.rep.GraphCalls[CallGuestChanges]++
	guests, next, err := r.dir.GuestChanges(ctx, link)
	if err != nil {
		p.sweep = true
		if link != "" && ClassOf(err) != Transient {
			// An expired or refused delta link: start a new round next time.
			r.log.InfoContext(ctx, "delta link reset", "err", err)
			return "", true
		}
		p.fail(fmt.Errorf("read user changes: %w", err))
		return "", false
	}
	for _, g := range guests {
		if g.Removed || strings.EqualFold(g.ExternalUserState, "Accepted") {
			p.changes[g.ID] = g
		}
	}
	return next, next != "" && next != link
}

// readAudit reads Terms of Use acceptances from the audit log since the
// stored high-water mark, less an overlap because events arrive late and out
// of order; events are de-duplicated by id and recording them is idempotent.
func (r *Reconciler) readAudit(ctx context.Context, p *pass) (mark time.Time, changed bool) {
	p.acceptances = map[string][]AgreementAcceptance{}
	if len(r.dom.Agreements) == 0 {
		return time.Time{}, false
	}
	hwm, err := r.cursorTime(ctx, CursorAuditMark)
	if err != nil {
		p.fail(err)
		return time.Time{}, false
	}
	since := p.now.Add(-r.opts.AuditLookback)
	if !hwm.IsZero() {
		since = hwm.Add(-r.opts.AuditOverlap)
	}
	p.rep.GraphCalls[CallAuditEvents]++
	events, err := r.dir.AuditEvents(ctx, since)
	if err != nil {
		p.fail(fmt.Errorf("read audit events: %w", err))
		return time.Time{}, false
	}
	seen := make(map[string]bool, len(events))
	mark = hwm
	for _, ev := range events {
		if ev.ID != "" {
			if seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
		}
		if ev.At.After(mark) {
			mark = ev.At
		}
		// Declines are not recorded: they leave the agreement unaccepted.
		if !strings.EqualFold(ev.Activity, activityAcceptToU) || ev.UserID == "" {
			continue
		}
		a, ok := matchAgreement(ev, r.dom.Agreements)
		if !ok {
			continue
		}
		p.acceptances[ev.UserID] = append(p.acceptances[ev.UserID], AgreementAcceptance{Name: a.Name, ID: a.ID, AcceptedAt: ev.At.UTC()})
	}
	return mark, !mark.Equal(hwm)
}

// reconcilePage asks the questions whose answers can still change for one
// page of users and writes the users whose facts changed.
func (r *Reconciler) reconcilePage(ctx context.Context, p *pass, users []User) {
	p.rep.UsersExamined += len(users)
	obs := make(map[string]*observation, len(users))
	byGuest := make(map[string]string, len(users))
	var sweepIDs []string
	for _, u := range users {
		o := u.Onboarding
		ob := &observation{}
		obs[u.ID] = ob
		if o.GuestID == "" || o.GuestGone {
			continue
		}
		byGuest[o.GuestID] = u.ID
		ob.acceptances = p.acceptances[o.GuestID]
		if o.RedeemedAt != nil {
			continue
		}
		if g, ok := p.changes[o.GuestID]; ok {
			ob.observeGuest(g, p.now)
		} else if p.sweep {
			sweepIDs = append(sweepIDs, o.GuestID)
		}
	}

	for chunk := range slices.Chunk(sweepIDs, r.opts.BatchSize) {
		p.rep.GraphCalls[CallGetGuests]++
		res, err := r.dir.GetGuests(ctx, chunk)
		if err != nil {
			p.fail(fmt.Errorf("read guests: %w", err))
			p.unswept = true
			continue
		}
		for id, gr := range res {
			ob := obs[byGuest[id]]
			switch {
			case ob == nil:
			case gr.Err != nil && ClassOf(gr.Err) == NotFound:
				ob.guestGone = true
			case gr.Err != nil:
				p.fail(fmt.Errorf("read guest %s: %w", id, gr.Err))
				p.unswept = true
			default:
				ob.observeGuest(gr.Guest, p.now)
			}
		}
	}

	// MFA is asked of redeemed guests, including those found redeemed just
	// now: one pass may see redemption, MFA and agreements at once.
	// TODO(engine): a guest whose MFA is trusted from its home tenant
	// registers nothing here and stays redeemed; record "unknown" instead.
	var mfaIDs []string
	for _, u := range users {
		o, ob := u.Onboarding, obs[u.ID]
		if o.GuestID == "" || o.GuestGone || ob.guestGone || o.MFARegisteredAt != nil {
			continue
		}
		if o.RedeemedAt != nil || ob.redeemedAt != nil || len(o.Agreements) > 0 || len(ob.acceptances) > 0 {
			mfaIDs = append(mfaIDs, o.GuestID)
		}
	}
	for chunk := range slices.Chunk(mfaIDs, r.opts.BatchSize) {
		p.rep.GraphCalls[CallAuthenticationMethods]++
		res, err := r.dir.AuthenticationMethods(ctx, chunk)
		if err != nil {
			p.fail(fmt.Errorf("read authentication methods: %w", err))
			continue
		}
		for id, mr := range res {
			ob := obs[byGuest[id]]
			switch {
			case ob == nil:
			case mr.Err != nil && ClassOf(mr.Err) == NotFound:
				// A guest just created may not be readable yet: only the
				// user read (sweep, delta) decides that it is gone.
			case mr.Err != nil:
				p.fail(fmt.Errorf("read authentication methods of %s: %w", id, mr.Err))
			default:
				ob.methodsRead, ob.methods = true, mr.Methods
			}
		}
	}

	for _, u := range users {
		r.write(ctx, p, u, *obs[u.ID])
	}
}

func (ob *observation) observeGuest(g Guest, now time.Time) {
	switch {
	case g.Removed:
		ob.guestGone = true
	case strings.EqualFold(g.ExternalUserState, "Accepted"):
		t := now
		if g.StateChangedAt != nil && !g.StateChangedAt.IsZero() {
			t = g.StateChangedAt.UTC()
		}
		ob.redeemedAt = &t
	}
}

// write records what was observed about u (and what the clock settles),
// skipping the write when nothing would change.
func (r *Reconciler) write(ctx context.Context, p *pass, u User, ob observation) {
	probe := u
	probe.Onboarding = cloneOnboarding(u.Onboarding)
	ob.apply(&probe.Onboarding, p.now)
	settle(&probe, p.now, r.dom)
	if factsEqual(u.Onboarding, probe.Onboarding) {
		return
	}
	var ch Change
	_, err := r.store.UpdateUser(ctx, u.ID, func(cur *User) (Change, error) {
		old := *cur
		cur.Onboarding = cloneOnboarding(cur.Onboarding)
		ob.apply(&cur.Onboarding, p.now)
		ch = finish(old, cur, actorReconciler, p.now, r.dom)
		if factsEqual(old.Onboarding, cur.Onboarding) {
			return Change{}, errNoChange
		}
		return ch, nil
	})
	switch {
	case errors.Is(err, errNoChange), errors.Is(err, ErrNotFound):
		return
	case err != nil:
		p.fail(fmt.Errorf("update user %s: %w", u.ID, err))
		p.lost = true
		return
	}
	p.rep.UsersChanged++
	p.rep.FactsChanged += len(ch.Events)
	for _, e := range ch.Events {
		if e.Type == "onboarding.expired" {
			p.rep.Expired++
			r.log.InfoContext(ctx, "onboarding expired", "user", u.ID)
		}
	}
}

func cloneOnboarding(o Onboarding) Onboarding {
	o.MFAMethods = slices.Clone(o.MFAMethods)
	o.Agreements = slices.Clone(o.Agreements)
	return o
}
