package graph

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// limiter is what Client.do waits on before each request: a window in this
// process, or the tenant's shared budget.
type limiter interface {
	wait(ctx context.Context, cost int) error
}

// InviteBudget is the tenant's invitation budget shared by every process
// that invites into it (replicas on one database, and a restarted process
// after the one before it): Graph counts 150 invitations per 5 s per tenant,
// not per process, so a limiter per process lets two replicas send twice
// the limit and a restarted one start with an empty window while Graph
// still counts the previous one's sends. The directory budget (every other
// call, per application and tenant) has the same shape and is drawn from
// one of these too, a chunk at a time (chunkLimiter). The store implements
// it (graph must not import store; cmd wires it).
type InviteBudget interface {
	// Take reserves n sends and returns how long the caller must wait
	// before making them (0: now). The reservation is made whatever the
	// caller does next: a caller that gives up only wastes its slot, which
	// keeps every replica on the safe side.
	Take(ctx context.Context, n int) (wait time.Duration, err error)
}

// budgetLimiter waits on a shared InviteBudget.
type budgetLimiter struct {
	b     InviteBudget
	sleep func(ctx context.Context, d time.Duration) error
}

func (l budgetLimiter) wait(ctx context.Context, cost int) error {
	if cost < 1 {
		cost = 1
	}
	d, err := l.b.Take(ctx, cost)
	if err != nil {
		return budgetUnavailable(ctx, opInvite, "invitation", err)
	}
	if d <= 0 {
		return ctx.Err()
	}
	return l.sleep(ctx, d)
}

// budgetUnavailable is the error of a call whose shared budget could not be
// read (the database holding it is unreachable): nothing is sent, the job
// or the reconcile pass waits and tries again.
func budgetUnavailable(ctx context.Context, op, which string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &connector.DirectoryError{Class: connector.Transient, Op: op,
		Message: "the shared " + which + " budget is unavailable", Err: fmt.Errorf("graph: %s budget: %w", which, err)}
}

// DirectoryChunk is how many units of the shared directory budget a process
// reserves at a time: one $batch of 20 sub-requests.
const DirectoryChunk = 20

// chunkLimiter draws the directory budget (Graph's per application and
// tenant, shared by every replica like the invitation one) from a shared
// budget in chunks of DirectoryChunk units, so that a directory call,
// far more frequent than an invitation, does not cost a database write
// each. The units of a chunk are spent from its slot on; what is left of
// a chunk expires one window after its slot, so an idle process cannot
// save up a burst. At most one chunk per process above the limit in any
// window, far inside Graph's budget (docs/GRAPH.md).
type chunkLimiter struct {
	mu     sync.Mutex
	b      InviteBudget
	chunk  int
	expire time.Duration
	left   int
	slot   time.Time // when the units in left may be spent from
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
}

func (l *chunkLimiter) wait(ctx context.Context, cost int) error {
	if cost < 1 {
		cost = 1
	}
	// Held while sleeping: the callers behind wait for the same slot.
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.left > 0 && now.Sub(l.slot) > l.expire {
		l.left = 0
	}
	if cost > l.left {
		n := max(l.chunk, cost-l.left)
		d, err := l.b.Take(ctx, n)
		if err != nil {
			return budgetUnavailable(ctx, "", "directory", err)
		}
		l.slot, l.left = now.Add(max(0, d)), l.left+n
	}
	if d := l.slot.Sub(now); d > 0 {
		if err := l.sleep(ctx, d); err != nil {
			return err
		}
	}
	l.left -= cost
	return nil
}

// window is a sliding-window rate limiter: at most limit units in any
// period. It uses an injectable clock and sleeper, so tests need no real
// sleeps. Graph's invitation limit (150 requests per 5 s per tenant) is a
// window, so the same shape keeps us under it exactly.
// Source: https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits
type window struct {
	mu     sync.Mutex
	limit  int
	period time.Duration
	times  []time.Time
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
}

func newWindow(limit int, period time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *window {
	return &window{limit: limit, period: period, now: now, sleep: sleep}
}

// wait blocks until cost units fit in the window, then takes them. A cost
// above the limit is let through when the window is empty.
func (w *window) wait(ctx context.Context, cost int) error {
	if cost < 1 {
		cost = 1
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		w.mu.Lock()
		now := w.now()
		cut := now.Add(-w.period)
		i := 0
		for i < len(w.times) && !w.times[i].After(cut) {
			i++
		}
		w.times = w.times[i:]
		if len(w.times)+cost <= w.limit || len(w.times) == 0 {
			for range cost {
				w.times = append(w.times, now)
			}
			w.mu.Unlock()
			return nil
		}
		// Wait until enough of the oldest entries leave the window.
		need := len(w.times) + cost - w.limit
		if need > len(w.times) {
			need = len(w.times)
		}
		d := w.times[need-1].Add(w.period).Sub(now)
		w.mu.Unlock()
		if d <= 0 {
			d = time.Millisecond
		}
		if err := w.sleep(ctx, d); err != nil {
			return err
		}
	}
}
