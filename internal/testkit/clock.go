// Package testkit holds the helpers that tests in several packages share: a
// settable clock and the SCIM HTTP request helper. Only tests import it.
package testkit

import (
	"context"
	"sync"
	"time"
)

// Clock is a settable clock for tests. Sleep advances it instead of
// sleeping, and remembers each duration, so code that waits can be tested
// without waiting.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// Epoch is the start time tests use when any fixed instant will do.
var Epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t if t is later; a clock never runs backwards.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
}

// Sleep advances the clock by d and records d; it returns ctx.Err().
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

// Sleeps returns the durations Sleep was called with, oldest first.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}
