package connector

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// Deprovisioning is never dropped (ARCHITECTURE.md, "Authority"): the
// policy below is the only place that says how the worker treats a job that
// takes access away. Keep it apart from the claim and lease code.

// DeprovisionBackoffMax caps the wait between two attempts of a
// deprovisioning job (WorkerOptions.BackoffMax applies when lower), so that a
// disable Graph refused for hours is tried again within minutes once Graph
// accepts it. No configuration key: the longer an account that should be
// closed stays open, the worse, whatever the operator would choose.
const DeprovisionBackoffMax = 15 * time.Minute

// deprovisioningKinds are the job kinds that take access away: they retry
// until Graph confirms, whatever WorkerOptions.MaxAttempts says, and are
// counted by /metrics while queued. A new kind that removes access is added
// here. JobGroupDelete is not one: deleting a group passbridge created takes
// no guest's access beyond the removals, and needs Group.ReadWrite.All,
// which a tenant may choose not to grant.
var deprovisioningKinds = []JobKind{JobDisable, JobDeleteGuest, JobGroupRemoveMember}

// Deprovisions reports whether jobs of kind k take access away (disable and
// revoke sessions, delete the guest, remove a membership): they are never
// given up.
func (k JobKind) Deprovisions() bool { return slices.Contains(deprovisioningKinds, k) }

// DeprovisioningKinds returns the job kinds for which Deprovisions is true
// (a new slice each call).
func DeprovisioningKinds() []JobKind { return slices.Clone(deprovisioningKinds) }

// outcomeOf names what process does with an attempt of j that returned err.
func (w *Worker) outcomeOf(j Job, err error) string {
	if err == nil || !j.Kind.Deprovisions() {
		return jobOutcome(err, j.Attempts, w.opts.MaxAttempts)
	}
	if IsTerminal(err) {
		return JobOutcomeRefused
	}
	return JobOutcomeRetry
}

// retryDeprovision queues a deprovisioning job that did not succeed again,
// with the backoff capped at DeprovisionBackoffMax. A refusal (a terminal
// error: a missing permission, a guest Graph will not change) is not given up
// either, since giving up leaves a person able to sign in: it is logged at
// error level, counted (outcome JobOutcomeRefused) and written to the user's
// lastError; so is a transient failure that outlasted MaxAttempts. The
// attempt that finally succeeds clears it.
func (w *Worker) retryDeprovision(ctx context.Context, log *slog.Logger, j Job, err error) {
	ceiling := min(w.opts.BackoffMax, DeprovisionBackoffMax)
	delay := w.backoffCapped(j.Attempts, RetryAfterOf(err), ceiling)
	refused, overdue := IsTerminal(err), j.Attempts >= w.opts.MaxAttempts
	msg := err.Error()
	switch {
	case refused:
		msg = readable(j.Kind, err, false, j.Attempts) + "; still retrying"
		log.ErrorContext(ctx, "deprovisioning refused: retrying until Graph accepts", "in", delay, "err", err)
	case overdue:
		msg = readable(j.Kind, err, true, j.Attempts) + "; still retrying"
		lvl := slog.LevelWarn
		if j.Attempts == w.opts.MaxAttempts {
			lvl = slog.LevelError // once, when it would have been given up
		}
		log.Log(ctx, lvl, "deprovisioning not done: retrying until Graph accepts", "in", delay, "err", err)
	default:
		log.InfoContext(ctx, "job retry", "in", delay, "err", err)
	}
	if refused || overdue {
		w.noteDeprovisionTrouble(ctx, j, msg)
	}
	if rerr := w.store.RetryJob(ctx, j.ID, w.opts.Owner, w.clock.Now().Add(delay), msg); rerr != nil {
		log.WarnContext(ctx, "retry job failed", "err", rerr)
	}
}

// noteDeprovisionTrouble tells the user (lastError, one event) that its
// deprovisioning is held up; nothing is written when it already says so.
func (w *Worker) noteDeprovisionTrouble(ctx context.Context, j Job, msg string) {
	w.noteOnUser(ctx, j, msg, "deprovisioning.delayed", func(o *Onboarding) bool { return o.LastError != msg })
}
