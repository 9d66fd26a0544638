package connector

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// The reconciler's part in the lifecycle rules: the indexed query of users
// whose LifecycleDueAt has come, and the slow sweep of signInActivity for
// onboarded users.

// CursorLastSignInSweep is when signInActivity was last read for every
// onboarded user.
const CursorLastSignInSweep = "reconcile.lastSignInSweep"

// CallSignInActivity counts signInActivity reads in ReconcileReport.GraphCalls.
const CallSignInActivity = "signInActivity"

// LifecycleStore finds the users a lifecycle rule is due for: an indexed
// read of Onboarding.LifecycleDueAt (migration 0012), so that a pass does
// not scan every expired or inactive user. Both stores have it; without it
// only the users in the reconciler's managed states are reached.
type LifecycleStore interface {
	// LifecycleDueUsers returns up to limit users whose LifecycleDueAt is
	// at or before now, with an ID after afterID, by ID.
	LifecycleDueUsers(ctx context.Context, now time.Time, afterID string, limit int) ([]User, error)
}

// SignInReader reads Graph's signInActivity (GET /users/{id}?$select=
// signInActivity in $batch; AuditLog.Read.All and Entra ID P1). graph.Client
// has it; a directory without it leaves the inactivity rule unavailable.
type SignInReader interface {
	// SignInActivity returns, per id, lastSuccessfulSignInDateTime (nil:
	// never) or the user's own error. An error of class Permanent for the
	// whole call means the tenant does not keep sign-in activity (no P1) or
	// the permission is missing.
	SignInActivity(ctx context.Context, ids []string) (map[string]SignInResult, error)
}

// SignInResult is one user's sign-in activity.
type SignInResult struct {
	LastSuccessfulSignIn *time.Time
	Err                  error
}

// signInRefresh: SignInReadAt is rewritten only when older than this, so a
// sweep does not write every onboarded user every time.
const signInRefresh = 12 * time.Hour

// inactivityConfigured reports whether any inactivity threshold is set.
func (o Options) inactivityConfigured() bool {
	on := func(in InactivityOptions) bool {
		return in.RemindAfter > 0 || in.DisableAfter > 0 || in.TerminateAfter > 0
	}
	if on(o.Lifecycle.Inactivity) {
		return true
	}
	for _, t := range o.Lifecycle.AccountTypes {
		if on(t.Inactivity) {
			return true
		}
	}
	return false
}

// startSignInSweep decides whether this pass reads signInActivity.
func (r *Reconciler) startSignInSweep(ctx context.Context, p *pass) error {
	if !r.dom.inactivityConfigured() {
		return nil
	}
	if _, ok := r.dir.(SignInReader); !ok {
		p.rep.SignInUnavailable = true
		return nil
	}
	last, err := r.cursorTime(ctx, CursorLastSignInSweep)
	if err != nil {
		return err
	}
	p.signIn = last.IsZero() || p.now.Sub(last) >= r.dom.Lifecycle.SignInSweepInterval
	return nil
}

// readSignIns reads the sign-in activity of the page's onboarded users into
// their observations.
func (r *Reconciler) readSignIns(ctx context.Context, p *pass, users []User, obs map[string]*observation) {
	sr, ok := r.dir.(SignInReader)
	if !ok || !p.signIn || p.signInUnavailable {
		return
	}
	byGuest := map[string]string{}
	var ids []string
	for _, u := range users {
		o := u.Onboarding
		if !u.Active || o.OnboardedAt == nil || !hasGuest(o) || o.InactiveAt != nil || o.TerminatedAt != nil {
			continue
		}
		byGuest[o.GuestID] = u.ID
		ids = append(ids, o.GuestID)
	}
	for chunk := range slices.Chunk(ids, r.opts.BatchSize) {
		p.rep.GraphCalls[CallSignInActivity]++
		res, err := sr.SignInActivity(ctx, chunk)
		if err != nil {
			if ClassOf(err) == Permanent {
				// No P1, or AuditLog.Read.All missing: the rule disables
				// nobody (SignInReadAt stays old), and says so.
				p.signInUnavailable = true
				p.rep.SignInUnavailable = true
				r.log.WarnContext(ctx, "inactivity rule unavailable: Graph does not give signInActivity (needs Entra ID P1 and AuditLog.Read.All)", "err", err)
				return
			}
			p.fail(fmt.Errorf("read sign-in activity: %w", err))
			p.signInFailed = true
			continue
		}
		for id, sres := range res {
			ob := obs[byGuest[id]]
			switch {
			case ob == nil:
			case sres.Err != nil:
				p.fail(fmt.Errorf("read sign-in activity of %s: %w", id, sres.Err))
				p.signInFailed = true
			default:
				ob.signInRead, ob.lastSignIn = true, sres.LastSuccessfulSignIn
			}
		}
	}
}

// applySignIn records a sign-in read.
func (ob observation) applySignIn(o *Onboarding, now time.Time) {
	if !ob.signInRead {
		return
	}
	if ob.lastSignIn != nil && (o.LastSignInAt == nil || ob.lastSignIn.After(*o.LastSignInAt)) {
		t := ob.lastSignIn.UTC()
		o.LastSignInAt = &t
	}
	if o.SignInReadAt == nil || now.Sub(*o.SignInReadAt) >= signInRefresh {
		t := now
		o.SignInReadAt = &t
	}
}

// finishSignInSweep moves the sweep's cursor when every read succeeded.
func (r *Reconciler) finishSignInSweep(ctx context.Context, p *pass) {
	if p.signIn && !p.lost && !p.signInFailed && !p.signInUnavailable {
		r.setCursor(ctx, p, CursorLastSignInSweep, p.now.UTC().Format(time.RFC3339Nano))
	}
}

// dueUsers settles the users a lifecycle rule is due for (expired ones
// awaiting deletion, inactive ones awaiting termination, and any the page
// loop did not reach).
func (r *Reconciler) dueUsers(ctx context.Context, p *pass) {
	ls, ok := r.store.(LifecycleStore)
	if !ok {
		return
	}
	after := ""
	for ctx.Err() == nil {
		users, err := ls.LifecycleDueUsers(ctx, p.now, after, r.opts.BatchSize)
		if err != nil {
			p.fail(fmt.Errorf("list users due for a lifecycle rule: %w", err))
			return
		}
		for _, u := range users {
			p.rep.LifecycleDue++
			r.write(ctx, p, u, observation{})
		}
		if len(users) < r.opts.BatchSize {
			return
		}
		after = users[len(users)-1].ID
	}
}
