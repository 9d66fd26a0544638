package connector_test

import (
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// Tests of issue 10, "deprovisioning is never dropped".

// setEnabledInTenant is an admin changing accountEnabled in the tenant;
// withDelta says whether the delta feed shows it.
func (d *fakeDir) setEnabledInTenant(guestID string, enabled, withDelta bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.guests[guestID]
	g.AccountEnabled = enabled
	if withDelta {
		d.record(g.Guest)
	}
}

// step runs the worker once; with nothing due it moves the fake clock to
// the next due job. It returns false when the queue is empty.
func (e *env) step() bool {
	e.t.Helper()
	n, err := e.worker.RunOnce(e.ctx)
	if err != nil {
		e.t.Fatalf("worker: %v", err)
	}
	if n > 0 {
		return true
	}
	depth, oldest, err := e.store.JobStats(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if depth == 0 {
		return false
	}
	if oldest.After(e.clock.Now()) {
		e.clock.Set(oldest)
	} else {
		e.clock.Advance(3 * time.Minute)
	}
	return true
}

// Graph refuses every disable for far longer than worker.maxAttempts
// allows, transiently (503) or for good (403): the job is not given up, the
// waits stay under DeprovisionBackoffMax, SCIM never says "disabled" while
// the guest can sign in, and the guest ends disabled once Graph accepts.
// Before: the job was given up (or failed) after 3 attempts, the guest stayed
// enabled and the state said "disabled" at once.
func TestDisableNeverGivenUp(t *testing.T) {
	t.Parallel()
	for name, refusal := range map[string]error{
		"transient": transientErr("setAccountEnabled", 503, 0),
		"refused": &connector.DirectoryError{Class: connector.Permanent, Op: "setAccountEnabled", Status: 403,
			Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var (
				mu       sync.Mutex
				outcomes = map[string]int{}
			)
			e := newEnv(t, func(o *connector.Options) {
				o.Worker.MaxAttempts = 3
				o.Worker.OnJob = func(k connector.JobKind, outcome string, _ time.Duration) {
					if k == connector.JobDisable {
						mu.Lock()
						outcomes[outcome]++
						mu.Unlock()
					}
				}
			})
			u := e.signUp("refused@tech.gov.sg", false)
			e.drain()
			guest := e.user(u.ID).Onboarding.GuestID

			const refusals = 60 // 20 times maxAttempts
			var (
				calls []time.Time
				fmu   sync.Mutex
			)
			e.dir.setFaults(func(op string) error {
				if op != "setAccountEnabled" {
					return nil
				}
				fmu.Lock()
				defer fmu.Unlock()
				calls = append(calls, e.clock.Now())
				if len(calls) <= refusals {
					return refusal
				}
				return nil
			}, nil)
			start := e.clock.Now()
			e.patch(u.ID, func(u *connector.User) { u.Active = false })
			for i := 0; i < 10000 && e.step(); i++ {
				fmu.Lock()
				n := len(calls)
				fmu.Unlock()
				if n == 0 || n > refusals {
					continue
				}
				got := e.user(u.ID)
				if got.Onboarding.State == connector.StateDisabled || !connector.DeprovisionPending(got) {
					t.Fatalf("after %d refused disables: state %s, pending %v; want not disabled, pending", n, got.Onboarding.State, connector.DeprovisionPending(got))
				}
				if g, _ := e.dir.guestByEmail("refused@tech.gov.sg"); !g.AccountEnabled {
					t.Fatalf("guest disabled although Graph refused")
				}
				if n == 3*2 {
					if got.Onboarding.LastError == "" {
						t.Errorf("no lastError after %d refused disables", n)
					}
					if e.queued() != 1 {
						t.Errorf("queued jobs after %d refusals = %d, want the disable still queued", n, e.queued())
					}
				}
			}
			if e.queued() != 0 {
				t.Fatalf("queue did not drain")
			}
			g, _ := e.dir.guestByEmail("refused@tech.gov.sg")
			got := e.wantState(u.ID, connector.StateDisabled)
			if g.AccountEnabled || !got.Onboarding.Disabled || connector.DeprovisionPending(got) || got.Onboarding.LastError != "" {
				t.Errorf("end: guest enabled %v, facts %+v", g.AccountEnabled, got.Onboarding)
			}
			if len(calls) != refusals+1 {
				t.Errorf("%d disable calls, want %d", len(calls), refusals+1)
			}
			var longest time.Duration
			for i := 1; i < len(calls); i++ {
				longest = max(longest, calls[i].Sub(calls[i-1]))
			}
			if longest > connector.DeprovisionBackoffMax {
				t.Errorf("longest wait between attempts %v, want at most %v", longest, connector.DeprovisionBackoffMax)
			}
			t.Logf("%s: %d refusals over %v, longest wait %v, guest %s disabled", name, refusals, e.clock.Now().Sub(start), longest, guest)
			if e.hasEvent(u.ID, "job.failed") || !e.hasEvent(u.ID, "deprovisioning.delayed") || !e.hasEvent(u.ID, "onboarding.disabled") {
				t.Errorf("events: job.failed %v, deprovisioning.delayed %v, onboarding.disabled %v",
					e.hasEvent(u.ID, "job.failed"), e.hasEvent(u.ID, "deprovisioning.delayed"), e.hasEvent(u.ID, "onboarding.disabled"))
			}
			mu.Lock()
			defer mu.Unlock()
			wantOutcome := map[string]string{"transient": connector.JobOutcomeRetry, "refused": connector.JobOutcomeRefused}[name]
			if outcomes[wantOutcome] != refusals || outcomes[connector.JobOutcomeDone] != 1 ||
				outcomes[connector.JobOutcomeGaveUp]+outcomes[connector.JobOutcomeFailed] != 0 {
				t.Errorf("outcomes %v, want %d %s and 1 done", outcomes, refusals, wantOutcome)
			}
		})
	}
}

// A guest deletion Graph refuses for good is retried as well.
func TestDeleteGuestNeverGivenUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.Worker.MaxAttempts = 2 })
	u := e.signUp("gone@tech.gov.sg", false)
	e.drain()
	refused := 0
	e.dir.setFaults(func(op string) error {
		if op == "deleteUser" && refused < 20 {
			refused++
			return &connector.DirectoryError{Class: connector.Permanent, Op: op, Status: 403, Code: "Authorization_RequestDenied"}
		}
		return nil
	}, nil)
	if err := e.svc.DeleteUser(e.ctx, "scim:test", u.ID, nil); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if _, ok := e.dir.guestByEmail("gone@tech.gov.sg"); ok || refused != 20 {
		t.Errorf("guest still there after %d refusals", refused)
	}
}

// Directory_ObjectNotFound right after the invitation is replication lag:
// the disable is retried, not recorded as a guest already gone.
func TestDisableDuringReplicationLag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("lag@tech.gov.sg", false)
	e.drain()
	lag := 0
	e.dir.setFaults(func(op string) error {
		if op == "setAccountEnabled" && lag < 3 {
			lag++
			return &connector.DirectoryError{Class: connector.Transient, Op: op, Status: 404, Code: "Directory_ObjectNotFound"}
		}
		return nil
	}, nil)
	e.patch(u.ID, func(u *connector.User) { u.Active = false })
	e.drain()
	got := e.wantState(u.ID, connector.StateDisabled)
	g, _ := e.dir.guestByEmail("lag@tech.gov.sg")
	if got.Onboarding.GuestGone || !got.Onboarding.Disabled || g.AccountEnabled || e.dir.count("revokeSessions") != 1 {
		t.Errorf("after replication lag: facts %+v, guest enabled %v, revocations %d", got.Onboarding, g.AccountEnabled, e.dir.count("revokeSessions"))
	}
}

// A guest enabled again in the tenant while SCIM says active:false is
// disabled again by the next reconcile, from the delta feed or, when the
// feed does not show it, from the sweep's $batch read; with an event.
// Before: it stayed enabled.
func TestDriftRepaired(t *testing.T) {
	t.Parallel()
	for name, delta := range map[string]bool{"delta": true, "sweep": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(o *connector.Options) { o.Reconcile.DisableDelta = !delta })
			u := e.signUp("drift@tech.gov.sg", false)
			other := e.signUp("steady@tech.gov.sg", false)
			e.drain()
			e.reconcile() // the delta round starts here
			e.patch(u.ID, func(u *connector.User) { u.Active = false })
			e.patch(other.ID, func(u *connector.User) { u.Active = false })
			e.drain()
			e.wantState(u.ID, connector.StateDisabled)
			if rep := e.reconcile(); rep.DriftRepaired != 0 {
				t.Fatalf("drift repaired with nothing drifted: %+v", rep)
			}

			guest := e.user(u.ID).Onboarding.GuestID
			e.dir.setEnabledInTenant(guest, true, delta)
			rep := e.reconcile()
			if rep.DriftRepaired != 1 {
				t.Fatalf("DriftRepaired = %d, want 1 (report %+v)", rep.DriftRepaired, rep)
			}
			got := e.user(u.ID)
			if got.Onboarding.State == connector.StateDisabled || !connector.DeprovisionPending(got) {
				t.Errorf("after drift: state %s, pending %v; want not disabled, pending", got.Onboarding.State, connector.DeprovisionPending(got))
			}
			var ev *connector.Event
			for _, x := range e.events(u.ID) {
				if x.Type == "onboarding.driftRepaired" {
					ev = &x
				}
			}
			if ev == nil || ev.Actor != "reconciler" || string(ev.Data) == "" {
				t.Fatalf("no onboarding.driftRepaired event: %+v", ev)
			}
			t.Logf("event %s", ev.Data)
			e.drain()
			e.wantState(u.ID, connector.StateDisabled)
			if g, _ := e.dir.guestByEmail("drift@tech.gov.sg"); g.AccountEnabled {
				t.Errorf("guest still enabled after the repair")
			}
			if rep := e.reconcile(); rep.DriftRepaired != 0 {
				t.Errorf("repaired again: %+v", rep)
			}
			if e.hasEvent(other.ID, "onboarding.driftRepaired") {
				t.Errorf("a guest that did not drift was repaired")
			}
		})
	}
}
