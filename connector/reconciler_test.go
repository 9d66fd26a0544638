package connector_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

const authenticator = "microsoftAuthenticatorAuthenticationMethod"

func TestOnboardingTransitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("amy@tech.gov.sg", false)
	e.wantState(u.ID, connector.StatePending)
	e.drain()
	guest := e.wantState(u.ID, connector.StateInvited).Onboarding.GuestID
	e.reconcile()
	e.wantState(u.ID, connector.StateInvited)

	steps := []struct {
		name  string
		act   func()
		want  connector.State
		event string
	}{
		{"redeem", func() { e.dir.redeem(guest) }, connector.StateRedeemed, "onboarding.redeemed"},
		{"password only is not MFA", func() {}, connector.StateRedeemed, ""},
		{"register MFA", func() { e.dir.registerMFA(guest, authenticator) }, connector.StateMFARegistered, "onboarding.mfaRegistered"},
		{"decline is not acceptance", func() {
			e.dir.mu.Lock()
			e.dir.audit = append(e.dir.audit, connector.AuditEvent{ID: "decl-1", Activity: "Decline Terms Of Use", At: e.clock.Now(), UserID: guest, TargetID: "agr-tou"})
			e.dir.mu.Unlock()
		}, connector.StateMFARegistered, ""},
		{"accept terms by id", func() { e.dir.accept(guest, "agr-tou", "", e.clock.Now()) }, connector.StateMFARegistered, "onboarding.agreementAccepted"},
		// The log's target id may not be the agreement id: fall back to the name.
		{"accept privacy by name", func() { e.dir.accept(guest, "policy-object-1", "Privacy Policy", e.clock.Now()) }, connector.StateOnboarded, "onboarding.onboarded"},
	}
	for _, s := range steps {
		e.clock.Advance(time.Minute)
		s.act()
		e.clock.Advance(time.Minute)
		e.rec = connector.NewReconciler(e.store, e.dir, withSweepEveryPass(e.opts))
		e.reconcile()
		got := e.wantState(u.ID, s.want)
		if s.event != "" && !e.hasEvent(u.ID, s.event) {
			t.Errorf("%s: no %s event", s.name, s.event)
		}
		if s.name == "register MFA" && !slices.Equal(got.Onboarding.MFAMethods, []string{authenticator}) {
			t.Errorf("mfaMethods = %v", got.Onboarding.MFAMethods)
		}
	}
	o := e.user(u.ID).Onboarding
	if o.OnboardedAt == nil || len(o.Agreements) != 2 {
		t.Errorf("onboarded facts: %+v", o)
	}
	// Onboarded is final for expiry: past the validity nothing is deleted.
	e.clock.Advance(40 * day)
	e.reconcile()
	e.drain()
	e.wantState(u.ID, connector.StateOnboarded)
	if _, ok := e.dir.guestByEmail("amy@tech.gov.sg"); !ok {
		t.Errorf("onboarded guest deleted at expiry")
	}
}

func withSweepEveryPass(o connector.Options) connector.Options {
	o.Reconcile.SweepInterval = time.Nanosecond
	return o
}

// One pass may see redemption, MFA and agreements at once.
func TestOutOfOrderFactsInOnePass(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("ben@tech.gov.sg", false)
	e.drain()
	e.reconcile()
	guest := e.user(u.ID).Onboarding.GuestID
	e.clock.Advance(time.Hour)
	// Audit events first, then MFA, then the redemption: all before a pass.
	e.dir.accept(guest, "agr-pp", "", e.clock.Now())
	e.dir.accept(guest, "agr-tou", "", e.clock.Now())
	e.dir.registerMFA(guest, "phoneAuthenticationMethod", authenticator)
	e.dir.redeem(guest)
	e.clock.Advance(time.Minute)
	rep := e.reconcile()
	o := e.wantState(u.ID, connector.StateOnboarded).Onboarding
	if o.RedeemedAt == nil || o.MFARegisteredAt == nil || o.OnboardedAt == nil {
		t.Errorf("facts: %+v", o)
	}
	for _, typ := range []string{"onboarding.redeemed", "onboarding.mfaRegistered", "onboarding.agreementAccepted", "onboarding.onboarded"} {
		if !e.hasEvent(u.ID, typ) {
			t.Errorf("no %s event", typ)
		}
	}
	if rep.UsersChanged != 1 {
		t.Errorf("report %+v", rep)
	}
}

// A redemption need not produce a delta entry: the periodic sweep finds it.
func TestSweepFindsRedemptionMissingFromDelta(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.Reconcile.SweepInterval = 15 * time.Minute })
	e.dir.noDeltaOnRedeem = true
	u := e.signUp("cat@tech.gov.sg", false)
	e.drain()
	if rep := e.reconcile(); !rep.Swept {
		t.Fatalf("first pass did not sweep: %+v", rep)
	}
	e.dir.redeem(e.user(u.ID).Onboarding.GuestID)
	e.clock.Advance(time.Minute)
	if rep := e.reconcile(); rep.Swept || rep.UsersChanged != 0 {
		t.Fatalf("pass between sweeps: %+v", rep)
	}
	e.wantState(u.ID, connector.StateInvited)
	e.clock.Advance(15 * time.Minute)
	if rep := e.reconcile(); !rep.Swept || rep.UsersChanged != 1 {
		t.Fatalf("sweep: %+v", rep)
	}
	e.wantState(u.ID, connector.StateRedeemed)
}

// populate makes n users at every stage of onboarding.
func populate(e *env, n int) []string {
	e.t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = e.signUp(email(i), i%7 == 0).ID
	}
	e.drain()
	for i, id := range ids {
		g := e.user(id).Onboarding.GuestID
		if i%5 >= 1 {
			e.dir.redeem(g)
		}
		if i%5 >= 2 {
			e.dir.registerMFA(g, authenticator)
		}
		if i%5 >= 3 {
			e.dir.accept(g, "agr-tou", "", e.clock.Now())
		}
		if i%5 >= 4 {
			e.dir.accept(g, "", "Privacy Policy", e.clock.Now())
			e.dir.accept(g, "agr-mdm", "", e.clock.Now())
		}
	}
	return ids
}

func TestReconcileIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := populate(e, 120)
	e.clock.Advance(time.Minute)
	first := e.reconcile()
	if first.UsersChanged == 0 {
		t.Fatalf("first pass changed nothing: %+v", first)
	}
	versions := map[string]int64{}
	states := map[connector.State]int{}
	for _, id := range ids {
		u := e.user(id)
		versions[id] = u.Version
		states[u.Onboarding.State]++
	}
	writes, _ := e.dir.snapshot()
	queued := e.queued()

	second := e.reconcile()
	if second.UsersChanged != 0 || second.FactsChanged != 0 || second.Errors != 0 {
		t.Errorf("second pass changed something: %+v", second)
	}
	for _, id := range ids {
		if v := e.user(id).Version; v != versions[id] {
			t.Errorf("user %s: version %d → %d on the second pass", id, versions[id], v)
		}
	}
	if w, _ := e.dir.snapshot(); w != writes {
		t.Errorf("directory writes %d → %d on the second pass", writes, w)
	}
	if q := e.queued(); q != queued {
		t.Errorf("jobs queued %d → %d on the second pass", queued, q)
	}
	t.Logf("first pass: %+v; states %v; second pass: %+v", first, states, second)
	if states[connector.StateOnboarded] == 0 || states[connector.StateInvited] == 0 || states[connector.StateRedeemed] == 0 || states[connector.StateMFARegistered] == 0 {
		t.Errorf("population does not cover the stages: %v", states)
	}
}

// A pass between sweeps costs Graph requests in proportion to the users
// that changed, plus a constant per page: 2 × (changed / 20) + pages.
func TestReconcileGraphCallBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.Reconcile.BatchSize = 50 })
	const n = 200
	ids := make([]string, n)
	for i := range n {
		ids[i] = e.signUp(email(i), false).ID
	}
	e.drain()
	e.reconcile() // first pass: the full delta round and a sweep

	e.clock.Advance(time.Minute)
	guests := guestIDs(e)
	for i, id := range ids {
		g := guests[id]
		if i%10 == 0 {
			e.dir.redeem(g)
		}
		if i%20 == 0 {
			e.dir.registerMFA(g, authenticator)
		}
		if i%40 == 0 {
			e.dir.accept(g, "agr-tou", "", e.clock.Now())
			e.dir.accept(g, "agr-pp", "", e.clock.Now())
		}
	}
	_, before := e.dir.snapshot()
	rep := e.reconcile()
	_, after := e.dir.snapshot()
	requests := 0
	for op, c := range after {
		requests += c - before[op]
	}
	budget := 2*((rep.UsersChanged+19)/20) + rep.Pages
	t.Logf("pass: %d users examined, %d changed, %d pages, %d Graph requests (budget %d), calls %v",
		rep.UsersExamined, rep.UsersChanged, rep.Pages, requests, budget, rep.GraphCalls)
	if rep.Swept || rep.UsersChanged != n/10 {
		t.Fatalf("unexpected pass: %+v", rep)
	}
	if requests > budget {
		t.Errorf("%d Graph requests, over the budget of %d", requests, budget)
	}
	page, err := e.store.ListUsers(e.ctx, connector.Query{Filter: connector.Eq(connector.AttrOnboardingState, string(connector.StateOnboarded))})
	if err != nil {
		t.Fatal(err)
	}
	if onboarded := page.Total; onboarded != n/40 {
		t.Errorf("onboarded %d, want %d", onboarded, n/40)
	}
}

func TestAuditEventsLateAndDuplicated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.Reconcile.AuditOverlap = time.Hour })
	u := e.signUp("dee@tech.gov.sg", false)
	e.drain()
	g := e.user(u.ID).Onboarding.GuestID
	e.dir.redeem(g)
	e.dir.registerMFA(g, authenticator)
	e.clock.Advance(time.Hour)
	e.dir.accept(g, "agr-tou", "", e.clock.Now())
	e.reconcile()
	e.wantState(u.ID, connector.StateMFARegistered)

	// An event dated 30 minutes before the high-water mark shows up late,
	// twice (the log can repeat entries), and one for a stranger.
	late := e.clock.Now().Add(-30 * time.Minute)
	e.dir.mu.Lock()
	ev := connector.AuditEvent{ID: "late-1", Activity: "Accept Terms Of Use", At: late, UserID: g, TargetName: "privacy policy"}
	e.dir.audit = append(e.dir.audit, ev, ev,
		connector.AuditEvent{ID: "other", Activity: "Accept Terms Of Use", At: late, UserID: "someone-else", TargetID: "agr-pp"})
	e.dir.mu.Unlock()
	e.clock.Advance(time.Minute)
	e.reconcile()
	o := e.wantState(u.ID, connector.StateOnboarded).Onboarding
	if len(o.Agreements) != 2 {
		t.Errorf("agreements = %+v", o.Agreements)
	}
}

func TestReconcilerLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := connector.NewReconciler(e.store, e.dir, func() connector.Options {
		o := e.opts
		o.Reconcile.Holder = "reconciler-2"
		return o
	}())
	if rep := e.reconcile(); rep.Skipped {
		t.Fatalf("first reconciler skipped")
	}
	rep, err := other.RunOnce(e.ctx)
	if err != nil || !rep.Skipped {
		t.Fatalf("second replica ran while the lease is held: %+v %v", rep, err)
	}
	e.clock.Advance(10 * time.Minute) // past the lease: the first one is gone
	if rep, err := other.RunOnce(e.ctx); err != nil || rep.Skipped {
		t.Fatalf("second replica did not take over: %+v %v", rep, err)
	}
}

func TestGuestDeletedInTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.Reconcile.DisableDelta = true })
	u := e.signUp("gil@tech.gov.sg", false)
	e.drain()
	e.reconcile()
	if err := e.dir.DeleteUser(e.ctx, e.user(u.ID).Onboarding.GuestID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	e.reconcile()
	if o := e.user(u.ID).Onboarding; !o.GuestGone || !e.hasEvent(u.ID, "onboarding.guestDeleted") {
		t.Errorf("guest deletion outside passbridge not recorded: %+v", o)
	}
	// Reactivating starts a new onboarding.
	e.patch(u.ID, func(u *connector.User) { u.Active = true })
	e.drain()
	if o := e.wantState(u.ID, connector.StateInvited).Onboarding; o.GuestGone {
		t.Errorf("after re-invite: %+v", o)
	}
}

// guestIDs maps every user to its guest, in pages.
func guestIDs(e *env) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	after := ""
	for {
		page, err := e.store.ListUsers(e.ctx, connector.Query{Count: 500, AfterID: after})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, u := range page.Items {
			out[u.ID] = u.Onboarding.GuestID
		}
		if len(page.Items) < 500 {
			return out
		}
		after = page.Items[len(page.Items)-1].ID
	}
}

// Passes under a faulty Graph report their errors and converge once it
// recovers, to the same facts a clean pass records.
func TestReconcileConvergesAfterFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.Reconcile.BatchSize = 10 })
	ids := populate(e, 40)
	e.dir.setFaults(randomFaults(3, 0.25, 0.25), nil)
	failed := 0
	for range 6 {
		e.clock.Advance(time.Minute)
		if rep, err := e.rec.RunOnce(e.ctx); err != nil {
			failed++
			if rep.Errors == 0 {
				t.Errorf("error without a count: %v", err)
			}
		}
	}
	e.dir.setFaults(nil, nil)
	e.clock.Advance(time.Hour) // a sweep is due
	e.reconcile()
	states := map[connector.State]int{}
	for _, id := range ids {
		states[e.user(id).Onboarding.State]++
	}
	want := map[connector.State]int{connector.StateInvited: 8, connector.StateRedeemed: 8, connector.StateMFARegistered: 16, connector.StateOnboarded: 8}
	if !maps.Equal(states, want) {
		t.Errorf("states after recovery %v, want %v", states, want)
	}
	t.Logf("%d of 6 passes under faults failed", failed)
	if failed == 0 {
		t.Errorf("faults not exercised")
	}
}
