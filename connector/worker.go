package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Worker runs the outbox: it claims jobs with a lease (at most one worker per
// job, also across replicas), counts the attempt before calling out, calls
// the directory and records the result on the user. Transient errors back
// off exponentially with jitter (or as long as Graph's Retry-After asks);
// permanent ones, or too many attempts, fail the job and say why on the user.
type Worker struct {
	store Store
	dir   Directory
	opts  WorkerOptions
	dom   Options
	clock Clock
	log   *slog.Logger

	mu  sync.Mutex // guards rng
	rng *rand.Rand
}

const actorWorker = "worker"

// errNoChange aborts an update that would change nothing, so that the
// version stays as it is.
var errNoChange = errors.New("no change")

// permanentError marks an error retrying cannot fix that is not a directory
// error (configuration, bad payload).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// NewWorker returns a worker over store and dir.
func NewWorker(store Store, dir Directory, opts WorkerOptions) *Worker {
	opts = opts.withDefaults()
	return &Worker{
		store: store, dir: dir, opts: opts, dom: *opts.Domain,
		clock: opts.Domain.Clock, log: opts.Domain.Logger.With("component", "worker"),
		rng: rand.New(rand.NewPCG(uint64(opts.JitterSeed), 0x9e3779b97f4a7c15)),
	}
}

// Owner returns the lease owner id of this worker.
func (w *Worker) Owner() string { return w.opts.Owner }

// RunOnce claims up to Concurrency due jobs, runs them concurrently and
// returns how many it ran. Job failures are recorded on the jobs, not
// returned; the error is about the queue itself.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	jobs, err := w.store.ClaimJobs(ctx, w.opts.Owner, w.clock.Now(), w.opts.Lease, w.opts.Concurrency)
	if err != nil {
		return 0, fmt.Errorf("claim jobs: %w", err)
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.process(ctx, j)
		}()
	}
	wg.Wait()
	return len(jobs), nil
}

// Run works the queue with Concurrency loops until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range w.opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

func (w *Worker) loop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		jobs, err := w.store.ClaimJobs(ctx, w.opts.Owner, w.clock.Now(), w.opts.Lease, 1)
		if err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "claim jobs failed", "err", err)
		}
		for _, j := range jobs {
			w.process(ctx, j)
		}
		if len(jobs) > 0 {
			t.Reset(0)
		} else {
			t.Reset(w.opts.PollInterval)
		}
	}
}

// Outcomes of a job attempt, as WorkerOptions.OnJob reports them.
const (
	JobOutcomeDone   = "done"   // completed
	JobOutcomeRetry  = "retry"  // transient error: queued again with backoff
	JobOutcomeFailed = "failed" // permanent error: out of the queue, lastError set
	JobOutcomeGaveUp = "gaveUp" // transient errors until MaxAttempts: out of the queue
)

// process runs one claimed job and records its outcome.
func (w *Worker) process(ctx context.Context, j Job) {
	log := w.log.With("job", j.ID, "kind", j.Kind, "subject", j.Subject, "attempt", j.Attempts)
	start := time.Now()
	// A job's calls end well before its lease does, so that no other worker
	// can claim it while we are still talking to Graph.
	jctx, cancel := context.WithTimeout(ctx, w.opts.Lease/2)
	err := w.handle(jctx, j)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the lease brings the job back
	}
	if w.opts.OnJob != nil {
		defer func() { w.opts.OnJob(j.Kind, jobOutcome(err, j.Attempts, w.opts.MaxAttempts), time.Since(start)) }()
	}
	switch {
	case err == nil:
		if cerr := w.store.CompleteJob(ctx, j.ID, w.opts.Owner); cerr != nil {
			log.WarnContext(ctx, "complete job failed", "err", cerr)
		}
		log.DebugContext(ctx, "job done")
	case isPermanent(err):
		log.WarnContext(ctx, "job failed", "err", err)
		w.fail(ctx, j, err, false)
	case j.Attempts >= w.opts.MaxAttempts:
		log.WarnContext(ctx, "job gave up", "err", err)
		w.fail(ctx, j, err, true)
	default:
		delay := w.backoff(j.Attempts, RetryAfterOf(err))
		log.InfoContext(ctx, "job retry", "in", delay, "err", err)
		if rerr := w.store.RetryJob(ctx, j.ID, w.opts.Owner, w.clock.Now().Add(delay), err.Error()); rerr != nil {
			log.WarnContext(ctx, "retry job failed", "err", rerr)
		}
	}
}

// jobOutcome names what process does with an attempt that returned err.
func jobOutcome(err error, attempts, maxAttempts int) string {
	switch {
	case err == nil:
		return JobOutcomeDone
	case isPermanent(err):
		return JobOutcomeFailed
	case attempts >= maxAttempts:
		return JobOutcomeGaveUp
	}
	return JobOutcomeRetry
}

func isPermanent(err error) bool {
	var pe permanentError
	if errors.As(err, &pe) {
		return true
	}
	// NotFound is not final: a just-invited guest can be NotFound for a
	// short while (GRAPH-FACTS.md); handlers absorb the NotFounds that are.
	var de *DirectoryError
	return errors.As(err, &de) && de.Class == Permanent
}

// backoff is base·2^(attempt-1), capped, with equal jitter so that jobs
// failing together do not retry together; Graph's Retry-After wins when longer.
func (w *Worker) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := w.opts.BackoffBase
	for i := 1; i < attempt && d < w.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, w.opts.BackoffMax)
	w.mu.Lock()
	j := time.Duration(w.rng.Int64N(int64(d/2) + 1))
	w.mu.Unlock()
	d = d/2 + j
	return max(d, retryAfter)
}

// fail moves the job out of the queue and tells the user why.
func (w *Worker) fail(ctx context.Context, j Job, cause error, gaveUp bool) {
	msg := readable(j.Kind, cause, gaveUp, j.Attempts)
	if j.Kind != JobGroupSync && j.Kind != JobDeleteGuest {
		_, err := w.store.UpdateUser(ctx, j.Subject, func(u *User) (Change, error) {
			old := *u
			now := w.clock.Now()
			u.Onboarding.LastError = msg
			u.Onboarding.Attempts = j.Attempts
			if j.Kind == JobInvite && u.Onboarding.InvitedAt == nil {
				u.Onboarding.Failed = true
			}
			ch := finish(old, u, actorWorker, now, w.dom)
			ch.Events = append(ch.Events, Event{Subject: u.ID, Type: "job.failed", Actor: actorWorker, At: now,
				Data: eventData(map[string]any{"job": j.ID, "kind": j.Kind, "attempts": j.Attempts, "error": msg})})
			return ch, nil
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			w.log.WarnContext(ctx, "record failure failed", "job", j.ID, "err", err)
		}
	}
	if err := w.store.FailJob(ctx, j.ID, w.opts.Owner, msg); err != nil {
		w.log.WarnContext(ctx, "fail job failed", "job", j.ID, "err", err)
	}
}

// readable says what went wrong in words an operator or the user's portal
// can show, e.g. "invitation refused by Microsoft Graph: HTTP 400
// BadRequest: …".
func readable(kind JobKind, err error, gaveUp bool, attempts int) string {
	what := map[JobKind]string{
		JobInvite: "invitation", JobDisable: "disabling the guest", JobEnable: "enabling the guest",
		JobDeleteGuest: "deleting the guest", JobSeedProvision: "SEED provisioning", JobGroupSync: "group sync",
	}[kind]
	if what == "" {
		what = string(kind)
	}
	var de *DirectoryError
	if !errors.As(err, &de) {
		if gaveUp {
			return fmt.Sprintf("%s not done after %d attempts: %v", what, attempts, err)
		}
		return fmt.Sprintf("%s failed: %v", what, err)
	}
	var b strings.Builder
	if de.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d", de.Status)
	}
	if de.Code != "" {
		fmt.Fprintf(&b, " %s", de.Code)
	}
	if de.Message != "" {
		fmt.Fprintf(&b, ": %s", de.Message)
	} else if de.Err != nil {
		fmt.Fprintf(&b, ": %v", de.Err)
	}
	if de.Permission != "" {
		fmt.Fprintf(&b, " (grant %s (Application) and admin-consent)", de.Permission)
	}
	detail := strings.TrimPrefix(strings.TrimSpace(b.String()), ": ")
	if gaveUp {
		return fmt.Sprintf("%s not done after %d attempts; Microsoft Graph: %s", what, attempts, detail)
	}
	return fmt.Sprintf("%s refused by Microsoft Graph: %s", what, detail)
}

func (w *Worker) handle(ctx context.Context, j Job) error {
	switch j.Kind {
	case JobInvite:
		return w.invite(ctx, j)
	case JobDisable:
		return w.setEnabled(ctx, j, false)
	case JobEnable:
		return w.setEnabled(ctx, j, true)
	case JobDeleteGuest:
		return w.deleteGuest(ctx, j)
	case JobSeedProvision:
		return w.seedProvision(ctx, j)
	case JobGroupSync:
		return w.groupSync(ctx, j)
	}
	return permanentError{fmt.Errorf("unknown job kind %q", j.Kind)}
}

func decode(j Job, v any) error {
	if len(j.Payload) == 0 || string(j.Payload) == "null" {
		return nil
	}
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return permanentError{fmt.Errorf("job %d payload: %w", j.ID, err)}
	}
	return nil
}

// getUser reads the job's user; ok is false when it is gone.
func (w *Worker) getUser(ctx context.Context, id string) (User, bool, error) {
	u, err := w.store.GetUser(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, true, nil
}

// invite sends the user's invitation exactly once. A retry (Attempts > 1)
// may follow a call whose answer was lost, so it looks the guest up first
// and adopts it; Graph would hand the same guest back anyway, but would mail
// a second invitation (GRAPH-FACTS.md, "Invitations").
func (w *Worker) invite(ctx context.Context, j Job) error {
	u, ok, err := w.getUser(ctx, j.Subject)
	if err != nil || !ok {
		return err
	}
	o := u.Onboarding
	if o.InvitedAt != nil || o.Failed || !u.Active {
		// Done already, or no longer wanted: reactivation queues a new one.
		return nil
	}
	var p invitePayload
	if err := decode(j, &p); err != nil {
		return err
	}
	if o.InviteJob != j.ID {
		// Record the intent before calling out: of two invitation jobs for
		// one onboarding (a reactivation before the first ran, a replayed
		// row), only the one holding it invites.
		dup := false
		_, err := w.store.UpdateUser(ctx, u.ID, func(cur *User) (Change, error) {
			co := &cur.Onboarding
			switch {
			case co.InvitedAt != nil || !cur.Active || co.Failed:
				dup = true
				return Change{}, errNoChange
			case co.InviteJob != 0 && co.InviteJob != j.ID:
				dup = true
				return Change{}, errNoChange
			}
			co.InviteJob = j.ID
			return Change{}, nil
		})
		switch {
		case errors.Is(err, ErrNotFound), dup:
			return nil
		case err != nil:
			return fmt.Errorf("record invitation intent: %w", err)
		}
	}
	if p.ReplaceGuestID != "" {
		if err := w.dir.DeleteUser(ctx, p.ReplaceGuestID); err != nil && ClassOf(err) != NotFound {
			return fmt.Errorf("delete previous guest: %w", err)
		}
	}
	email := o.InviteEmail
	guestID, adopted := "", false
	if j.Attempts > 1 {
		g, err := w.dir.FindGuestByEmail(ctx, email)
		switch {
		case err == nil && g.ID != "" && g.ID != p.ReplaceGuestID:
			guestID, adopted = g.ID, true
		case err != nil && ClassOf(err) != NotFound:
			return fmt.Errorf("look up guest: %w", err)
		}
	}
	if guestID == "" {
		inv := w.dom.Invitation
		inv.Email = email
		inv.DisplayName = displayName(u)
		res, err := w.dir.Invite(ctx, inv)
		if err != nil {
			return fmt.Errorf("invite: %w", err)
		}
		if res.GuestID == "" {
			return fmt.Errorf("invite: answer without a guest id")
		}
		guestID = res.GuestID
		// TODO(engine): with Invitation.SendEmail false and a custom message,
		// mail res.RedeemURL ourselves (never log or store it).
	}

	var moved bool
	updated, err := w.store.UpdateUser(ctx, u.ID, func(cur *User) (Change, error) {
		co := &cur.Onboarding
		if co.InvitedAt != nil || co.InviteJob != j.ID {
			return Change{}, errNoChange
		}
		if co.InviteEmail != email {
			moved = true
			return Change{}, errNoChange
		}
		old := *cur
		now := w.clock.Now()
		t, exp := now, now.Add(w.dom.InvitationValidity)
		co.GuestID, co.InvitedAt, co.ExpiresAt = guestID, &t, &exp
		co.LastError, co.Attempts, co.GuestGone, co.Disabled = "", j.Attempts, false, false
		ch := finish(old, cur, actorWorker, now, w.dom)
		if adopted {
			ch.Events = append(ch.Events, Event{Subject: cur.ID, Type: "onboarding.guestAdopted", Actor: actorWorker, At: now,
				Data: eventData(map[string]any{"guestId": guestID, "attempt": j.Attempts})})
		}
		if co.Seed.Requested && co.Seed.ProvisionedAt == nil {
			ch.Jobs = append(ch.Jobs, newJob(JobSeedProvision, cur.ID, nil, now))
		}
		if !cur.Active {
			// Deactivated while the invitation was on its way.
			ch.Jobs = append(ch.Jobs, newJob(JobDisable, cur.ID, nil, now))
		}
		return ch, nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		// Deleted while we were inviting: the guest must not outlive it.
		return w.store.EnqueueJobs(ctx, []Job{deleteGuestJob(u.ID, guestID, email, "deleted", w.clock.Now())})
	case errors.Is(err, errNoChange) && moved:
		// The address changed under us: drop this guest and invite the new
		// address on the next attempt.
		if err := w.store.EnqueueJobs(ctx, []Job{deleteGuestJob(u.ID, guestID, "", "addressChanged", w.clock.Now())}); err != nil {
			return fmt.Errorf("queue guest deletion: %w", err)
		}
		return fmt.Errorf("address changed during the invitation")
	case errors.Is(err, errNoChange):
		return nil
	case err != nil:
		return fmt.Errorf("record invitation: %w", err)
	}
	w.log.InfoContext(ctx, "user invited", "user", updated.ID, "guest", guestID, "adopted", adopted, "attempt", j.Attempts)
	return w.requeueGroups(ctx, updated.ID)
}

// requeueGroups syncs the groups of a newly invited user: its membership
// could not be mirrored before it had a guest.
func (w *Worker) requeueGroups(ctx context.Context, userID string) error {
	page, err := w.store.ListGroups(ctx, Query{Filter: Eq(AttrMembersValue, userID), Count: 100})
	if err != nil {
		w.log.WarnContext(ctx, "list groups of user failed", "user", userID, "err", err)
		return nil // the invitation is recorded; a later group change syncs
	}
	var jobs []Job
	now := w.clock.Now()
	for _, g := range page.Items {
		jobs = append(jobs, newJob(JobGroupSync, g.ID, nil, now))
	}
	if len(jobs) == 0 {
		return nil
	}
	if err := w.store.EnqueueJobs(ctx, jobs); err != nil {
		w.log.WarnContext(ctx, "queue group sync failed", "user", userID, "err", err)
	}
	return nil
}

func displayName(u User) string {
	var doc struct {
		DisplayName string `json:"displayName"`
		Name        struct {
			Formatted  string `json:"formatted"`
			GivenName  string `json:"givenName"`
			FamilyName string `json:"familyName"`
		} `json:"name"`
	}
	if len(u.Doc) > 0 && json.Unmarshal(u.Doc, &doc) == nil {
		switch {
		case doc.DisplayName != "":
			return doc.DisplayName
		case doc.Name.Formatted != "":
			return doc.Name.Formatted
		case doc.Name.GivenName+doc.Name.FamilyName != "":
			return strings.TrimSpace(doc.Name.GivenName + " " + doc.Name.FamilyName)
		}
	}
	return ""
}

// setEnabled applies active=false (disable and revoke sessions) or
// active=true. It acts on the user's current wish, so a job overtaken by a
// later change does nothing.
func (w *Worker) setEnabled(ctx context.Context, j Job, enabled bool) error {
	u, ok, err := w.getUser(ctx, j.Subject)
	if err != nil || !ok {
		return err
	}
	o := u.Onboarding
	if u.Active != enabled || o.GuestID == "" || o.GuestGone {
		return nil // an invitation in flight disables its guest on commit
	}
	gone := false
	if err := w.dir.SetAccountEnabled(ctx, o.GuestID, enabled); err != nil {
		if ClassOf(err) != NotFound {
			return fmt.Errorf("set accountEnabled: %w", err)
		}
		gone = true
	}
	if !enabled && !gone {
		if err := w.dir.RevokeSessions(ctx, o.GuestID); err != nil {
			if ClassOf(err) != NotFound {
				return fmt.Errorf("revoke sessions: %w", err)
			}
			gone = true
		}
	}
	_, err = w.store.UpdateUser(ctx, u.ID, func(cur *User) (Change, error) {
		if cur.Onboarding.GuestID != o.GuestID {
			return Change{}, errNoChange
		}
		old := *cur
		cur.Onboarding.Disabled = !enabled
		cur.Onboarding.GuestGone = cur.Onboarding.GuestGone || gone
		if factsEqual(old.Onboarding, cur.Onboarding) {
			return Change{}, errNoChange
		}
		return finish(old, cur, actorWorker, w.clock.Now(), w.dom), nil
	})
	if err != nil && !errors.Is(err, errNoChange) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("record accountEnabled: %w", err)
	}
	return nil
}

// deleteGuest deletes a guest by id, or by address when the invitation was
// still in flight. A guest or address another user holds by now (the same
// person signed up again) is left alone.
func (w *Worker) deleteGuest(ctx context.Context, j Job) error {
	var p deleteGuestPayload
	if err := decode(j, &p); err != nil {
		return err
	}
	if p.GuestID == "" && p.Email == "" {
		return nil
	}
	if p.Email != "" {
		page, err := w.store.ListUsers(ctx, Query{Filter: Eq(AttrEmailsValue, p.Email), Count: 20})
		if err != nil {
			return fmt.Errorf("list users by address: %w", err)
		}
		for _, v := range page.Items {
			if v.ID == j.Subject {
				continue
			}
			if p.GuestID == "" || v.Onboarding.GuestID == p.GuestID {
				w.log.InfoContext(ctx, "guest deletion skipped: held by another user", "job", j.ID, "user", v.ID)
				return nil
			}
		}
	}
	guestID := p.GuestID
	if guestID == "" {
		g, err := w.dir.FindGuestByEmail(ctx, p.Email)
		if ClassOf(err) == NotFound && err != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("look up guest: %w", err)
		}
		guestID = g.ID
	}
	if err := w.dir.DeleteUser(ctx, guestID); err != nil && ClassOf(err) != NotFound {
		return fmt.Errorf("delete guest: %w", err)
	}
	_, err := w.store.UpdateUser(ctx, j.Subject, func(cur *User) (Change, error) {
		if cur.Onboarding.GuestID != guestID || cur.Onboarding.GuestGone {
			return Change{}, errNoChange
		}
		old := *cur
		cur.Onboarding.GuestGone = true
		return finish(old, cur, actorWorker, w.clock.Now(), w.dom), nil
	})
	if err != nil && !errors.Is(err, errNoChange) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("record guest deletion: %w", err)
	}
	w.log.InfoContext(ctx, "guest deleted", "user", j.Subject, "guest", guestID, "reason", p.Reason)
	return nil
}

// seedProvision adds the guest to the SEED group.
func (w *Worker) seedProvision(ctx context.Context, j Job) error {
	var p seedPayload
	if err := decode(j, &p); err != nil {
		return err
	}
	u, ok, err := w.getUser(ctx, j.Subject)
	if err != nil || !ok {
		return err
	}
	s, o := u.Onboarding.Seed, u.Onboarding
	switch {
	case !u.SeedRequested || !s.Requested:
		return nil // withdrawn
	case s.ProvisionedAt != nil && !s.ProvisionedAt.Before(j.Created):
		return nil // done since this job was queued
	case o.GuestID == "" || o.GuestGone:
		return nil // the invitation queues provisioning when it lands
	case w.dom.Seed.GroupID == "":
		return permanentError{errors.New("seed.groupID is not configured")}
	}
	if p.Reprovision {
		if err := w.dir.RemoveGroupMember(ctx, w.dom.Seed.GroupID, o.GuestID); err != nil && ClassOf(err) != NotFound {
			return fmt.Errorf("remove from SEED group: %w", err)
		}
	}
	if err := w.dir.AddGroupMember(ctx, w.dom.Seed.GroupID, o.GuestID); err != nil {
		return fmt.Errorf("add to SEED group: %w", err)
	}
	_, err = w.store.UpdateUser(ctx, u.ID, func(cur *User) (Change, error) {
		cs := &cur.Onboarding.Seed
		if !cs.Requested || cur.Onboarding.GuestID != o.GuestID || (cs.ProvisionedAt != nil && !cs.ProvisionedAt.Before(j.Created)) {
			return Change{}, errNoChange
		}
		old := *cur
		now := w.clock.Now()
		t, exp := now, now.Add(w.dom.Seed.Validity)
		cs.ProvisionedAt, cs.ExpiresAt = &t, &exp
		return finish(old, cur, actorWorker, now, w.dom), nil
	})
	if err != nil && !errors.Is(err, errNoChange) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("record SEED provisioning: %w", err)
	}
	return nil
}

// groupSync mirrors a SCIM group: it creates the Entra security group (or
// maps it through GroupMap), records its id, then makes the memberships of
// passbridge's guests follow the group's members. Membership calls are
// idempotent, so a retry just repeats them.
func (w *Worker) groupSync(ctx context.Context, j Job) error {
	var p groupSyncPayload
	if err := decode(j, &p); err != nil {
		return err
	}
	g, err := w.store.GetGroup(ctx, j.Subject)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get group %s: %w", j.Subject, err)
	}
	entra := g.EntraID
	if entra == "" {
		if mapped, ok := w.dom.GroupMap[g.DisplayName]; ok && mapped != "" {
			entra = mapped
		} else {
			// TODO(engine): look the group up by mailNickname before a retry
			// creates it again after a lost answer (Directory has no lookup).
			entra, err = w.dir.CreateGroup(ctx, g.DisplayName, mailNickname(g.DisplayName, g.ID))
			if err != nil {
				return fmt.Errorf("create group: %w", err)
			}
		}
		_, err = w.store.UpdateGroup(ctx, g.ID, func(cur *Group) (Change, error) {
			if cur.EntraID != "" {
				entra = cur.EntraID
				return Change{}, errNoChange
			}
			cur.EntraID = entra
			cur.Modified = w.clock.Now()
			return Change{Events: []Event{{Subject: cur.ID, Type: "group.mirrored", Actor: actorWorker, At: cur.Modified,
				Data: eventData(map[string]any{"entraId": entra})}}}, nil
		})
		if err != nil && !errors.Is(err, errNoChange) {
			return fmt.Errorf("record group id: %w", err)
		}
	}
	for _, id := range g.Members {
		u, ok, err := w.getUser(ctx, id)
		if err != nil {
			return err
		}
		if !ok || u.Onboarding.GuestID == "" || u.Onboarding.GuestGone {
			continue // synced again once invited
		}
		if err := w.dir.AddGroupMember(ctx, entra, u.Onboarding.GuestID); err != nil {
			return fmt.Errorf("add group member: %w", err)
		}
	}
	for _, id := range p.Removed {
		if containsString(g.Members, id) {
			continue // added back since
		}
		u, ok, err := w.getUser(ctx, id)
		if err != nil {
			return err
		}
		if !ok || u.Onboarding.GuestID == "" {
			continue // a deleted user's guest is deleted with it
		}
		if err := w.dir.RemoveGroupMember(ctx, entra, u.Onboarding.GuestID); err != nil && ClassOf(err) != NotFound {
			return fmt.Errorf("remove group member: %w", err)
		}
	}
	return nil
}

// mailNickname derives the mailNickname Graph requires for a security group:
// ASCII letters and digits only, unique by the group's id suffix.
func mailNickname(displayName, id string) string {
	var b strings.Builder
	for _, r := range displayName {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
		if b.Len() >= 40 {
			break
		}
	}
	suffix := strings.ReplaceAll(id, "-", "")
	if len(suffix) > 8 {
		suffix = suffix[:8]
	}
	return "pb" + b.String() + suffix
}
