package graph

import (
	"context"
	"sync"
	"time"
)

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
