package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

type budgetTaker interface {
	TakeInviteBudget(ctx context.Context, key string, n int, interval time.Duration, now time.Time) (time.Duration, error)
}

// RunInviteBudget checks the shared invitation budget (graph.InviteBudget,
// issue 14): open returns a new store on the same database at each call
// (the suite closes them). Real time: PostgreSQL times the budget by the
// database's clock.
//
//   - two stores on one database, three senders each, together never send
//     more than the limit in any window;
//   - a store opened after another has spent the budget (a restart) waits
//     for it instead of starting with an empty window;
//   - budgets of different keys (tenants) do not share.
func RunInviteBudget(t *testing.T, open func(t *testing.T) connector.Store) {
	ctx := context.Background()
	const (
		limit = 10
		// Long enough that scheduling jitter on a loaded machine (tens of
		// ms) stays well inside the slack below.
		period = time.Second
		sends  = 36 // a little over three windows
	)
	interval := period / limit
	take := func(t *testing.T, s connector.Store, key string, n int) time.Duration {
		t.Helper()
		bt, ok := s.(budgetTaker)
		if !ok {
			t.Fatalf("%T has no TakeInviteBudget", s)
		}
		d, err := bt.TakeInviteBudget(ctx, key, n, interval, time.Now())
		if err != nil {
			t.Fatalf("take: %v", err)
		}
		return d
	}
	closeStore := func(t *testing.T, s connector.Store) {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}

	t.Run("TwoStoresShareOneWindow", func(t *testing.T) {
		a, b := open(t), open(t)
		defer closeStore(t, a)
		defer closeStore(t, b)
		var (
			mu    sync.Mutex
			times []time.Time
			wg    sync.WaitGroup
			left  = sends
		)
		for i := range 6 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					if left == 0 {
						mu.Unlock()
						return
					}
					left--
					mu.Unlock()
					// The slot the budget gave, not when this goroutine woke
					// up: the wake-up is the scheduler's, the slot the budget's.
					d := take(t, s, "tenant-a", 1)
					slot := time.Now().Add(d)
					time.Sleep(d)
					mu.Lock()
					times = append(times, slot)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		slices.SortFunc(times, func(x, y time.Time) int { return x.Compare(y) })
		// The (limit+1)th send after any send is a whole period later; the
		// slack covers the time between a slot and its sender waking.
		const slack = period / 10
		for i := 0; i+limit < len(times); i++ {
			if gap := times[i+limit].Sub(times[i]); gap < period-slack {
				t.Fatalf("sends %d..%d span %v: more than %d in a window of %v", i, i+limit, gap, limit, period)
			}
		}
		// And they are not slower than the limit: the whole run takes about
		// sends*interval.
		if total := times[len(times)-1].Sub(times[0]); total > time.Duration(sends)*interval+period {
			t.Errorf("%d sends took %v; the limit allows them in %v", sends, total, time.Duration(sends)*interval)
		}
	})

	t.Run("RestartKeepsTheWindow", func(t *testing.T) {
		a := open(t)
		// a spends the whole window at once, then goes away.
		spent := time.Now()
		if d := take(t, a, "tenant-r", limit); d != 0 {
			t.Fatalf("first take of a fresh budget waits %v, want 0", d)
		}
		closeStore(t, a)
		b := open(t)
		defer closeStore(t, b)
		// What is left of a's window is the period less the time the
		// restart took (slow on a loaded machine), less a little slack.
		left := period - time.Since(spent)
		if d := take(t, b, "tenant-r", 1); d <= 0 || d < left-20*time.Millisecond {
			t.Errorf("a restarted store may send after %v; %v of the window a spent was left", d, left)
		}
		// Another tenant's budget is its own.
		if d := take(t, b, "tenant-other", 1); d != 0 {
			t.Errorf("another tenant waits %v, want 0", d)
		}
	})
}
