package connector_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// A timeout after Graph created the invitation (the answer is lost) must not
// lead to a second invitation: the retry finds the guest and adopts it.
func TestInviteTimeoutAfterGraphAnsweredInvitesOnce(t *testing.T) {
	t.Parallel()
	tests := map[string]func(op string) error{
		"timeout": func(op string) error {
			return &connector.DirectoryError{Class: connector.Transient, Op: op, Err: context.DeadlineExceeded}
		},
		"503 after commit": func(op string) error { return transientErr(op, 503, 0) },
	}
	for name, fault := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			u := e.signUp("jo@tech.gov.sg", false)
			var once atomic.Bool
			e.dir.setFaults(nil, func(op string) error {
				if op == "invite" && once.CompareAndSwap(false, true) {
					return fault(op)
				}
				return nil
			})
			e.drain()
			o := e.wantState(u.ID, connector.StateInvited).Onboarding
			if n := e.dir.invitationsTo("jo@tech.gov.sg"); n != 1 {
				t.Errorf("invitations = %d, want 1", n)
			}
			if o.Attempts != 2 || !e.hasEvent(u.ID, "onboarding.guestAdopted") {
				t.Errorf("attempts %d, adopted event %v", o.Attempts, e.hasEvent(u.ID, "onboarding.guestAdopted"))
			}
		})
	}
}

// A worker that crashes holding a job loses it when the lease runs out; the
// next worker takes it over and, since the crashed one may have invited,
// looks the guest up before inviting.
func TestWorkerLeaseTakeover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("kim@tech.gov.sg", false)
	jobs, err := e.store.ClaimJobs(e.ctx, "crashed-worker", e.clock.Now(), 2*time.Minute, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v, %v", jobs, err)
	}
	// The crashed worker got as far as Graph.
	if _, err := e.dir.Invite(e.ctx, connector.Invitation{Email: "kim@tech.gov.sg"}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.worker.RunOnce(e.ctx); n != 0 || err != nil {
		t.Fatalf("job taken while its lease holds: %d, %v", n, err)
	}
	e.clock.Advance(2*time.Minute + time.Second)
	if n, err := e.worker.RunOnce(e.ctx); n != 1 || err != nil {
		t.Fatalf("job not taken over after the lease: %d, %v", n, err)
	}
	e.wantState(u.ID, connector.StateInvited)
	if n := e.dir.invitationsTo("kim@tech.gov.sg"); n != 1 {
		t.Errorf("invitations = %d, want 1", n)
	}
	// The crashed worker's late completion is refused: the job is not its own.
	if err := e.store.CompleteJob(e.ctx, jobs[0].ID, "crashed-worker"); err == nil {
		t.Errorf("crashed worker completed a job it no longer holds")
	}
}

func TestPermanentErrorFailsReadably(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err  error
		want string
	}{
		"invalid address": {
			err:  &connector.DirectoryError{Class: connector.Permanent, Op: "invite", Status: 400, Code: "BadRequest", Message: "The invited user email address is invalid."},
			want: "invitation refused by Microsoft Graph: HTTP 400 BadRequest: The invited user email address is invalid.",
		},
		"missing permission": {
			err:  &connector.DirectoryError{Class: connector.Permanent, Op: "invite", Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation.", Permission: "User.Invite.All"},
			want: "invitation refused by Microsoft Graph: HTTP 403 Authorization_RequestDenied: Insufficient privileges to complete the operation. (grant User.Invite.All (Application) and admin-consent)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			u := e.signUp("lee@tech.gov.sg", false)
			e.dir.setFaults(func(op string) error {
				if op == "invite" {
					return tc.err
				}
				return nil
			}, nil)
			e.drain()
			o := e.wantState(u.ID, connector.StateFailed).Onboarding
			if o.LastError != tc.want {
				t.Errorf("lastError = %q\nwant        %q", o.LastError, tc.want)
			}
			if e.dir.count("invite") != 1 || e.queued() != 0 {
				t.Errorf("permanent error retried: %d calls, %d queued", e.dir.count("invite"), e.queued())
			}
			// Once fixed, active=true starts over.
			e.dir.setFaults(nil, nil)
			e.patch(u.ID, func(u *connector.User) { u.Active = true })
			e.drain()
			if o := e.wantState(u.ID, connector.StateInvited).Onboarding; o.LastError != "" || o.Failed {
				t.Errorf("facts after retry: %+v", o)
			}
		})
	}
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.Worker.MaxAttempts = 3 })
	u := e.signUp("max@tech.gov.sg", false)
	e.dir.setFaults(func(op string) error { return transientErr(op, 503, 0) }, nil)
	e.drain()
	o := e.wantState(u.ID, connector.StateFailed).Onboarding
	want := "invitation not done after 3 attempts; Microsoft Graph: HTTP 503: injected"
	if o.LastError != want || o.Attempts != 3 {
		t.Errorf("lastError %q attempts %d, want %q 3", o.LastError, o.Attempts, want)
	}
}

func TestBackoffHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp("ned@tech.gov.sg", false)
	e.dir.setFaults(func(op string) error { return transientErr(op, 429, time.Hour) }, nil)
	start := e.clock.Now()
	if n, _ := e.worker.RunOnce(e.ctx); n != 1 {
		t.Fatal("job not run")
	}
	_, next, _ := e.store.JobStats(e.ctx)
	if next.Before(start.Add(time.Hour)) {
		t.Errorf("retry at %s, before Retry-After (%s)", next, start.Add(time.Hour))
	}
	// Without Retry-After: exponential, capped, with jitter.
	e.dir.setFaults(func(op string) error { return transientErr(op, 503, 0) }, nil)
	var prev time.Duration
	for attempt := 2; attempt <= 6; attempt++ {
		e.clock.Set(next)
		now := e.clock.Now()
		if n, _ := e.worker.RunOnce(e.ctx); n != 1 {
			t.Fatal("job not run")
		}
		_, next, _ = e.store.JobStats(e.ctx)
		d := next.Sub(now)
		base := 2 * time.Second << (attempt - 1)
		if d < base/2 || d > base {
			t.Errorf("attempt %d: backoff %s outside [%s, %s]", attempt, d, base/2, base)
		}
		if d <= prev/2 {
			t.Errorf("attempt %d: backoff %s did not grow from %s", attempt, d, prev)
		}
		prev = d
	}
}

// 200 users, Graph failing 20% of calls with 429 and 20% with 5xx, and some
// invitations timing out after Graph created them: everyone is invited,
// exactly once.
func TestFaultyGraphInvitesEveryoneExactlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) {
		o.Worker.Concurrency = 8
		o.Worker.MaxAttempts = 40
	})
	const users = 200
	ids := make([]string, users)
	for i := range users {
		ids[i] = e.signUp(email(i), false).ID
	}
	before := randomFaults(7, 0.2, 0.2)
	lost := randomFaults(11, 0, 0.1) // the answer of a created invitation is lost
	e.dir.setFaults(before, func(op string) error {
		if op == "invite" {
			return lost(op)
		}
		return nil
	})
	e.drain()
	e.dir.setFaults(nil, nil)

	adopted := 0
	for i, id := range ids {
		e.wantState(id, connector.StateInvited)
		if n := e.dir.invitationsTo(email(i)); n != 1 {
			t.Errorf("%s: %d invitations, want 1", email(i), n)
		}
		if e.hasEvent(id, "onboarding.guestAdopted") {
			adopted++
		}
	}
	t.Logf("200 users: %d invite calls, %d find calls, %d adopted after a lost answer",
		e.dir.count("invite"), e.dir.count("findGuest"), adopted)
	if e.dir.count("invite") < users || adopted == 0 {
		t.Errorf("faults not exercised: %d invite calls, %d adopted", e.dir.count("invite"), adopted)
	}
}

func TestReadableNonGraphError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.Seed.GroupID = "" })
	u := e.signUp("seedless@tech.gov.sg", true)
	e.drain()
	o := e.user(u.ID).Onboarding
	if !strings.Contains(o.LastError, "SEED provisioning failed: seed.groupID is not configured") {
		t.Errorf("lastError = %q", o.LastError)
	}
	if o.State != connector.StateInvited || o.Failed {
		t.Errorf("a SEED failure failed the onboarding: %+v", o)
	}
}

// Run works the queue on its own and stops with its context; the reconciler
// loop likewise.
func TestRunLoops(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.Worker.PollInterval = 5 * time.Millisecond })
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{}, 2)
	go func() { _ = e.worker.Run(ctx); done <- struct{}{} }()
	go func() { _ = e.rec.Run(ctx, 5*time.Millisecond); done <- struct{}{} }()
	u := e.signUp("run@tech.gov.sg", false)
	deadline := time.Now().Add(5 * time.Second)
	for e.user(u.ID).Onboarding.State != connector.StateInvited {
		if time.Now().After(deadline) {
			t.Fatal("worker loop did not invite")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.dir.redeem(e.user(u.ID).Onboarding.GuestID)
	for e.user(u.ID).Onboarding.State != connector.StateRedeemed {
		if time.Now().After(deadline) {
			t.Fatal("reconcile loop did not see the redemption")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	<-done
	// The reconciler gave its lease up on the way out.
	if ok, err := e.store.AcquireLease(e.ctx, connector.LeaseReconciler, "someone-else", e.clock.Now(), time.Minute); err != nil || !ok {
		t.Errorf("lease not released: %v %v", ok, err)
	}
}

// Several invitation jobs for one onboarding (a reactivation before the
// first ran, a replayed outbox row) mail the user once. The SQLite store runs
// a subject's jobs one at a time; the invitation intent recorded on the user
// (Onboarding.InviteJob) also covers a store that does not.
func TestDuplicateInviteJobsInviteOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("dup@tech.gov.sg", false)
	e.patch(u.ID, func(u *connector.User) { u.Active = false })
	e.patch(u.ID, func(u *connector.User) { u.Active = true }) // queues a second invitation
	if err := e.store.EnqueueJobs(e.ctx, []connector.Job{{Kind: connector.JobInvite, Subject: u.ID, RunAt: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	e.drain()
	o := e.wantState(u.ID, connector.StateInvited).Onboarding
	if n := e.dir.invitationsTo("dup@tech.gov.sg"); n != 1 || o.InviteJob == 0 {
		t.Errorf("invitations = %d (intent %d), want 1", n, o.InviteJob)
	}
}
