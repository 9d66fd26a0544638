package connector

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errClaimLost stops an attempt whose claim this worker no longer holds,
// or can no longer be sure it holds.
var errClaimLost = errors.New("job claim lost")

// renewClaim renews j's claim every third of ClaimTTL until ctx ends (the
// attempt is over). valid is the local time until which the claim surely
// holds: a renewal that finds the job taken, or renewals failing until the
// claim may have run out, cancel the attempt through lose, so that no two
// workers call Graph for one job at once.
func (w *Worker) renewClaim(ctx context.Context, j Job, valid time.Time, lose context.CancelCauseFunc) {
	every := w.opts.ClaimTTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		err := w.store.RenewJob(ctx, j.ID, w.opts.Owner, w.clock.Now(), w.opts.ClaimTTL)
		switch {
		case err == nil:
			valid = start.Add(w.opts.ClaimTTL)
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrNotFound):
			lose(fmt.Errorf("%w: job %d is held elsewhere", errClaimLost, j.ID))
			return
		case time.Now().Add(every).After(valid):
			lose(fmt.Errorf("%w: job %d: renewal failed until the claim may have run out: %w", errClaimLost, j.ID, err))
			return
		default:
			w.log.WarnContext(ctx, "renew job claim failed", "job", j.ID, "err", err)
		}
	}
}
