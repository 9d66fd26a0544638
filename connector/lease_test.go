package connector_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// slowDir holds Invite and GuestChanges until released or until the
// caller's context ends, and says which happened.
type slowDir struct {
	*fakeDir
	op      string // the call to hold: "invite" or "guestChanges"
	started chan struct{}
	release chan struct{}
	once    sync.Once
	ended   chan error // the context's error when the call was stopped, nil when released
}

func newSlowDir(d *fakeDir, op string) *slowDir {
	return &slowDir{fakeDir: d, op: op, started: make(chan struct{}), release: make(chan struct{}), ended: make(chan error, 1)}
}

func (d *slowDir) hold(ctx context.Context, op string) error {
	if op != d.op {
		return nil
	}
	first := false
	d.once.Do(func() { first = true; close(d.started) })
	if !first {
		return nil
	}
	select {
	case <-d.release:
		d.ended <- nil
		return nil
	case <-ctx.Done():
		d.ended <- ctx.Err()
		return ctx.Err()
	}
}

func (d *slowDir) Invite(ctx context.Context, inv connector.Invitation) (connector.InviteResult, error) {
	if err := d.hold(ctx, "invite"); err != nil {
		return connector.InviteResult{}, err
	}
	return d.fakeDir.Invite(ctx, inv)
}

func (d *slowDir) GuestChanges(ctx context.Context, link string) ([]connector.Guest, string, error) {
	if err := d.hold(ctx, "guestChanges"); err != nil {
		return nil, "", err
	}
	return d.fakeDir.GuestChanges(ctx, link)
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// A job that runs longer than its claim keeps it: the worker renews the
// claim while the job runs, so a second worker cannot take it (issue 10:
// the claim is short, so that a dead worker's jobs come back quickly).
func TestWorkerRenewsClaimWhileJobRuns(t *testing.T) {
	t.Parallel()
	const ttl = 600 * time.Millisecond
	e := newEnv(t, func(o *connector.Options) { o.Worker.ClaimTTL = ttl })
	slow := newSlowDir(e.dir, "invite")
	w := connector.NewWorker(e.store, slow, e.opts)
	u := e.signUp("ren@tech.gov.sg", false)
	done := make(chan int, 1)
	go func() {
		n, _ := w.RunOnce(e.ctx)
		done <- n
	}()
	waitFor(t, slow.started, "the invitation")
	// Three claim lengths go by on the clock while the job runs.
	for range 36 {
		e.clock.Advance(50 * time.Millisecond)
		time.Sleep(50 * time.Millisecond)
	}
	got, err := e.store.ClaimJobs(e.ctx, "worker-2", e.clock.Now(), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("a second worker claimed the running job %d: the claim was not renewed", got[0].ID)
	}
	close(slow.release)
	if n := <-done; n != 1 {
		t.Fatalf("RunOnce ran %d jobs, want 1", n)
	}
	e.wantState(u.ID, connector.StateInvited)
	if n := e.dir.invitationsTo("ren@tech.gov.sg"); n != 1 {
		t.Errorf("invitations = %d, want 1", n)
	}
}

// A renewal that finds the claim taken stops the job: its Graph call is
// cancelled and its outcome is left to the new holder.
func TestWorkerStopsJobWhenClaimLost(t *testing.T) {
	t.Parallel()
	const ttl = 600 * time.Millisecond
	e := newEnv(t, func(o *connector.Options) { o.Worker.ClaimTTL = ttl })
	slow := newSlowDir(e.dir, "invite")
	w := connector.NewWorker(e.store, slow, e.opts)
	e.signUp("lost@tech.gov.sg", false)
	done := make(chan int, 1)
	go func() {
		n, _ := w.RunOnce(e.ctx)
		done <- n
	}()
	waitFor(t, slow.started, "the invitation")
	// A worker whose clock is an hour ahead sees the claim expired.
	got, err := e.store.ClaimJobs(e.ctx, "worker-2", e.clock.Now().Add(time.Hour), time.Hour, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("takeover claim: %v, %v", got, err)
	}
	select {
	case err := <-slow.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the held call ended with %v, want it cancelled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the job went on after its claim was lost")
	}
	<-done
	if n := e.dir.invitationsTo("lost@tech.gov.sg"); n != 0 {
		t.Errorf("invitations = %d, want 0 (the stopped attempt must not invite)", n)
	}
	// The job is worker-2's: the stopped attempt recorded nothing on it.
	if err := e.store.CompleteJob(e.ctx, got[0].ID, "worker-2"); err != nil {
		t.Errorf("new holder cannot complete the job: %v", err)
	}
}

// The reconciler role is a short lease: the holder renews it between
// passes, so another replica does not take it from a live holder, and a
// replica that finds it held asks again soon, so that a dead holder's role
// is taken within about RoleTTL rather than after an interval (issue 16).
func TestReconcilerRoleRenewedAndTakenOver(t *testing.T) {
	t.Parallel()
	const ttl = 600 * time.Millisecond
	passes := make(chan connector.ReconcileReport, 100)
	e := newEnv(t, func(o *connector.Options) {
		o.Reconcile.RoleTTL = ttl
		o.Reconcile.OnPass = func(rep connector.ReconcileReport, err error, d time.Duration) { passes <- rep }
	})
	e.signUp("role@tech.gov.sg", false)
	e.drain()

	ctx, stop := context.WithCancel(e.ctx)
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = e.rec.Run(ctx, time.Hour)
	}()
	if rep := <-passes; rep.Skipped {
		t.Fatal("first pass skipped")
	}
	for range 36 { // three role lengths on the clock, between passes
		e.clock.Advance(50 * time.Millisecond)
		time.Sleep(50 * time.Millisecond)
	}
	o := e.opts
	o.Reconcile.Holder = "reconciler-2"
	o.Reconcile.OnPass = func(rep connector.ReconcileReport, err error, d time.Duration) { passes <- rep }
	other := connector.NewReconciler(e.store, e.dir, o)
	if rep, err := other.RunOnce(e.ctx); err != nil || !rep.Skipped {
		t.Fatalf("a second replica reconciled while the holder lives: %+v, %v", rep, err)
	}
	<-passes

	// The holder dies: it stops renewing and does not release the role.
	stop()
	<-runDone
	if ok, err := e.store.AcquireLease(e.ctx, connector.LeaseReconciler, "reconciler-1", e.clock.Now(), ttl); err != nil || !ok {
		t.Fatalf("re-taking the role as the dead holder: %v, %v", ok, err)
	}
	ctx2, stop2 := context.WithCancel(e.ctx)
	defer stop2()
	go func() { _ = other.Run(ctx2, time.Hour) }()
	if rep := <-passes; !rep.Skipped {
		t.Fatal("the role of a holder that just died was taken at once")
	}
	e.clock.Advance(2 * ttl)
	start := time.Now()
	select {
	case rep := <-passes:
		if rep.Skipped {
			t.Fatalf("still skipped after the dead holder's role ran out")
		}
		t.Logf("role taken %s after it ran out", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the dead holder's role was not taken within 5s (an interval of 1h)")
	}
}

// A pass whose role is taken stops, says so, and moves no cursor.
func TestReconcilerPassStopsWhenRoleLost(t *testing.T) {
	t.Parallel()
	const ttl = 600 * time.Millisecond
	e := newEnv(t, func(o *connector.Options) { o.Reconcile.RoleTTL = ttl })
	e.signUp("pass@tech.gov.sg", false)
	e.drain()
	slow := newSlowDir(e.dir, "guestChanges")
	rec := connector.NewReconciler(e.store, slow, e.opts)
	type result struct {
		rep connector.ReconcileReport
		err error
	}
	res := make(chan result, 1)
	go func() {
		rep, err := rec.RunOnce(e.ctx)
		res <- result{rep, err}
	}()
	waitFor(t, slow.started, "the delta read")
	// A replica whose clock is ahead takes the role.
	if ok, err := e.store.AcquireLease(e.ctx, connector.LeaseReconciler, "reconciler-2", e.clock.Now().Add(time.Hour), time.Hour); err != nil || !ok {
		t.Fatalf("takeover: %v, %v", ok, err)
	}
	select {
	case r := <-res:
		if r.err == nil || !strings.Contains(r.err.Error(), "reconciler lease lost") {
			t.Errorf("err = %v, want the lost role", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the pass went on after its role was taken")
	}
	if v, _ := e.store.GetCursor(e.ctx, connector.CursorDeltaLink); v != "" {
		t.Errorf("delta link moved by a pass that lost its role: %q", v)
	}
}
