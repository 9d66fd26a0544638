package store

import (
	"context"
	"fmt"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// budgetTaker is what both backends implement for Budget.
type budgetTaker interface {
	TakeInviteBudget(ctx context.Context, key string, n int, interval time.Duration, now time.Time) (time.Duration, error)
}

// Budget is one of the tenant's Graph budgets kept in the database (the
// invitations, and the directory calls): it implements graph.InviteBudget
// (by shape: store does not import graph), so every process on the
// database, and a process started after another, shares one budget of
// limit units per window. Units are spaced window/limit apart, so no window
// of that length holds more than limit. The rows live in the invite_budget
// table, one per key, whatever the budget.
type Budget struct {
	st       budgetTaker
	key      string
	interval time.Duration
	now      func() time.Time
}

// NewBudget returns the budget named key (which budget, of which tenant)
// in st, limit units per window. now is the caller's clock (SQLite times the budget by
// it; PostgreSQL by the database's); nil means time.Now.
func NewBudget(st connector.Store, key string, limit int, window time.Duration, now func() time.Time) (*Budget, error) {
	bt, ok := st.(budgetTaker)
	if !ok {
		return nil, fmt.Errorf("store: %T keeps no Graph budget", st)
	}
	if key == "" || limit < 1 || window <= 0 {
		return nil, fmt.Errorf("store: budget: a key, a positive limit and a positive window are required")
	}
	if now == nil {
		now = time.Now
	}
	// Rounded up to the microsecond the stores keep: never faster than the
	// limit.
	interval := ((window + time.Duration(limit) - 1) / time.Duration(limit)).Round(time.Microsecond)
	if interval*time.Duration(limit) < window {
		interval += time.Microsecond
	}
	return &Budget{st: bt, key: key, interval: interval, now: now}, nil
}

// Take reserves n sends and returns how long to wait before making them.
func (b *Budget) Take(ctx context.Context, n int) (time.Duration, error) {
	return b.st.TakeInviteBudget(ctx, b.key, n, b.interval, b.now())
}
