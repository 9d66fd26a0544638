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
// job, also across replicas), counts the attempt before calling out, hands
// the job to the handler of its kind (job_*.go) and records the result.
// Transient errors back off exponentially with jitter (or as long as Graph's
// Retry-After asks); terminal ones (IsTerminal), or too many attempts, fail
// the job and say why on the user.
type Worker struct {
	store    Store
	dom      Options // the domain options; opts is their Worker part
	opts     WorkerOptions
	clock    Clock
	log      *slog.Logger
	handlers map[JobKind]jobHandler

	mu  sync.Mutex // guards rng
	rng *rand.Rand
}

// jobHandler runs one kind of job. Its error decides the job's fate: nil
// completes it, a terminal error (IsTerminal) fails it for good, any other
// error retries it with backoff.
type jobHandler interface {
	handle(ctx context.Context, j Job) error
}

// jobEnv is what every handler shares; each handler adds only the part of
// the directory it calls.
type jobEnv struct {
	store Store
	opts  Options
	clock Clock
	log   *slog.Logger
}

const actorWorker = "worker"

// NewWorker returns a worker over store and dir, configured by
// opts.Worker and the domain options.
func NewWorker(store Store, dir Directory, opts Options) *Worker {
	opts = opts.withDefaults()
	env := jobEnv{store: store, opts: opts, clock: opts.Clock, log: opts.Logger.With("component", "worker")}
	w := &Worker{
		store: store, dom: opts, opts: opts.Worker, clock: env.clock, log: env.log,
		handlers: map[JobKind]jobHandler{
			JobInvite:        inviteHandler{env, dir},
			JobDisable:       enableHandler{env, dir, false},
			JobEnable:        enableHandler{env, dir, true},
			JobDeleteGuest:   deleteGuestHandler{env, dir},
			JobSeedProvision: seedHandler{env, dir},
			JobGroupSync:     groupSyncHandler{env, dir},
		},
		rng: rand.New(rand.NewPCG(uint64(opts.Worker.JitterSeed), 0x9e3779b97f4a7c15)),
	}
	w.handlers[JobGroupRemoveMember] = groupRemoveHandler{env, dir}
	w.handlers[JobGroupDelete] = groupDeleteHandler{env, dir}
	w.handlers[JobMail] = mailHandler{env, dir, opts.Mailer}
	return w
}

// Owner returns the lease owner id of this worker.
func (w *Worker) Owner() string { return w.opts.Owner }

// RunOnce claims up to Concurrency due jobs, runs them concurrently and
// returns how many it ran. Job failures are recorded on the jobs, not
// returned; the error is about the queue itself.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	claimed := time.Now()
	jobs, err := w.store.ClaimJobs(ctx, w.opts.Owner, w.clock.Now(), w.opts.ClaimTTL, w.opts.Concurrency)
	if err != nil {
		return 0, fmt.Errorf("claim jobs: %w", err)
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.process(ctx, j, claimed)
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
		claimed := time.Now()
		jobs, err := w.store.ClaimJobs(ctx, w.opts.Owner, w.clock.Now(), w.opts.ClaimTTL, 1)
		if err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "claim jobs failed", "err", err)
		}
		for _, j := range jobs {
			w.process(ctx, j, claimed)
		}
		if len(jobs) > 0 {
			t.Reset(0)
		} else {
			t.Reset(w.opts.PollInterval)
		}
	}
}

// process runs one claimed job (claimed at the local time claimed) and
// records its outcome.
func (w *Worker) process(ctx context.Context, j Job, claimed time.Time) {
	log := w.log.With("job", j.ID, "kind", j.Kind, "subject", j.Subject, "attempt", j.Attempts)
	start := time.Now()
	// An attempt's calls are bounded by half of Lease; meanwhile the claim,
	// much shorter, is renewed, and losing it stops the attempt.
	tctx, cancel := context.WithTimeout(ctx, w.opts.Lease/2)
	jctx, lose := context.WithCancelCause(tctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		w.renewClaim(jctx, j, claimed.Add(w.opts.ClaimTTL), lose)
	}()
	err := w.handle(jctx, j)
	lost := context.Cause(jctx)
	lose(nil)
	<-renewed
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the lease brings the job back
	}
	if errors.Is(lost, errClaimLost) {
		// Another worker may hold the job now: whatever this attempt did,
		// its outcome is not ours to record.
		log.WarnContext(ctx, "job stopped", "err", lost)
		return
	}
	if w.opts.OnJob != nil {
		defer func() { w.opts.OnJob(j.Kind, w.outcomeOf(j, err), time.Since(start)) }()
	}
	switch {
	case err == nil:
		if cerr := w.store.CompleteJob(ctx, j.ID, w.opts.Owner); cerr != nil {
			log.WarnContext(ctx, "complete job failed", "err", cerr)
		}
		log.DebugContext(ctx, "job done")
	case j.Kind.Deprovisions():
		w.retryDeprovision(ctx, log, j, err)
	case IsTerminal(err):
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

// handle hands j to the handler of its kind.
func (w *Worker) handle(ctx context.Context, j Job) error {
	h, ok := w.handlers[j.Kind]
	if !ok {
		return Terminal(fmt.Errorf("unknown job kind %q", j.Kind))
	}
	return h.handle(ctx, j)
}

// jobOutcome names what process does with an attempt that returned err.
func jobOutcome(err error, attempts, maxAttempts int) string {
	switch {
	case err == nil:
		return JobOutcomeDone
	case IsTerminal(err):
		return JobOutcomeFailed
	case attempts >= maxAttempts:
		return JobOutcomeGaveUp
	}
	return JobOutcomeRetry
}

// backoff is base·2^(attempt-1), capped, with equal jitter so that jobs
// failing together do not retry together; Graph's Retry-After wins when longer.
func (w *Worker) backoff(attempt int, retryAfter time.Duration) time.Duration {
	return w.backoffCapped(attempt, retryAfter, w.opts.BackoffMax)
}

func (w *Worker) backoffCapped(attempt int, retryAfter, ceiling time.Duration) time.Duration {
	d := w.opts.BackoffBase
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	w.mu.Lock()
	j := time.Duration(w.rng.Int64N(int64(d/2) + 1))
	w.mu.Unlock()
	d = d/2 + j
	return max(d, retryAfter)
}

// fail moves the job out of the queue and tells the user why.
func (w *Worker) fail(ctx context.Context, j Job, cause error, gaveUp bool) {
	msg := readable(j.Kind, cause, gaveUp, j.Attempts)
	if j.Kind.onUser() {
		w.noteOnUser(ctx, j, msg, "job.failed", func(o *Onboarding) bool {
			o.Attempts = j.Attempts
			if j.Kind == JobInvite && o.InvitedAt == nil {
				o.Failed = true
			}
			return true
		})
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
		JobGroupRemoveMember: "removing a group member", JobGroupDelete: "deleting the group",
		JobMail: "mailing the user",
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

// decode reads a job's payload into v; a payload that does not decode never
// will, so the error is terminal.
func decode(j Job, v any) error {
	if len(j.Payload) == 0 || string(j.Payload) == "null" {
		return nil
	}
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return Terminal(fmt.Errorf("job %d payload: %w", j.ID, err))
	}
	return nil
}

// getUser reads the job's user; ok is false when it is gone.
func (e jobEnv) getUser(ctx context.Context, id string) (User, bool, error) {
	u, err := e.store.GetUser(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, true, nil
}

// updateUser records what a handler (or the reconciler) learned on the
// user: fn returns errNoChange to leave the user as it is. A user deleted
// meanwhile, or a change that changes nothing, is not an error: changed
// says whether a change was committed.
func updateUser(ctx context.Context, st UserStore, id string, fn func(u *User) (Change, error)) (changed bool, err error) {
	_, err = st.UpdateUser(ctx, id, fn)
	switch {
	case errors.Is(err, errNoChange), errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// onUser reports whether a job of kind k is about the user its Subject
// names, so that its failure belongs in that user's lastError. Group jobs
// name a group; a guest deletion's user may be gone (its tombstone stays).
func (k JobKind) onUser() bool {
	switch k {
	case JobGroupSync, JobGroupRemoveMember, JobGroupDelete, JobDeleteGuest:
		return false
	}
	return true
}

// noteOnUser writes msg as j's user's lastError with an event of type typ
// and j's details; mutate may change more facts and returns false when
// nothing needs writing.
func (w *Worker) noteOnUser(ctx context.Context, j Job, msg, typ string, mutate func(o *Onboarding) bool) {
	_, err := updateUser(ctx, w.store, j.Subject, func(u *User) (Change, error) {
		old := *u
		if !mutate(&u.Onboarding) {
			return Change{}, errNoChange
		}
		now := w.clock.Now()
		u.Onboarding.LastError = msg
		ch, err := finish(old, u, actorWorker, now, w.dom)
		if err != nil {
			return Change{}, err
		}
		ev, err := newEvent(u.ID, typ, actorWorker, now,
			map[string]any{"job": j.ID, "kind": j.Kind, "attempts": j.Attempts, "error": msg})
		if err != nil {
			return Change{}, err
		}
		ch.Events = append(ch.Events, ev)
		return ch, nil
	})
	if err != nil {
		w.log.WarnContext(ctx, "record "+typ+" failed", "job", j.ID, "err", err)
	}
}
