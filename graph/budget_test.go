package graph_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/store"
	"github.com/passbridge/passbridge/store/sqlite"
)

// countingBudget passes every Take to the store's budget and counts them.
type countingBudget struct {
	b            *store.Budget
	takes, units atomic.Int64
}

func (c *countingBudget) Take(ctx context.Context, n int) (time.Duration, error) {
	c.takes.Add(1)
	c.units.Add(int64(n))
	return c.b.Take(ctx, n)
}

// Issue 14: Graph's directory budget is per application and tenant, so two
// replicas share it through the database like the invitation budget, drawn
// a chunk at a time (one database write per chunk, not per call).
func TestDirectoryBudgetShared(t *testing.T) {
	const (
		// The limit is well above the chunks two processes may hold, so that
		// a window per process (twice the limit together) shows.
		limit  = 200
		window = time.Second
		calls  = 300 // per client; a missing guest is two GETs (mail, otherMails)
	)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := setup(t, graph.Options{})
	newClient := func() (*graph.Client, *countingBudget) {
		t.Helper()
		b, err := store.NewBudget(st, "directory:test", limit, window, f.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		cb := &countingBudget{b: b}
		c, err := graph.New(ctx, graph.Options{Endpoint: f.url, TokenCredential: &simCred{sim: f.sim},
			Now: f.clock.Now, Sleep: f.clock.Sleep, RequestTimeout: 5 * time.Second,
			DirectoryLimit: limit, DirectoryWindow: window, DirectoryBudget: cb})
		if err != nil {
			t.Fatal(err)
		}
		return c, cb
	}
	a, ba := newClient()
	b, bb := newClient()

	start := f.clock.Now()
	var sent []time.Time // one entry per unit, at the (fake) time it was sent
	for i := range calls {
		for j, c := range []*graph.Client{a, b} {
			before := f.sim.Calls("GET /users")
			if _, err := c.FindGuestByEmail(ctx, fmt.Sprintf("nobody-%d-%d@agency.gov.sg", i, j)); err == nil {
				t.Fatal("found a guest that does not exist")
			}
			for range f.sim.Calls("GET /users") - before {
				sent = append(sent, f.clock.Now())
			}
		}
	}
	if len(sent) != 2*2*calls {
		t.Fatalf("%d GETs, want %d", len(sent), 4*calls)
	}
	// Shared: both together keep to the limit, give or take the chunk each
	// may hold, in any window and over the whole run.
	elapsed := f.clock.Now().Sub(start)
	minElapsed := time.Duration(len(sent)-limit-2*graph.DirectoryChunk) * window / limit
	if elapsed < minElapsed {
		t.Errorf("%d calls took %s of clock time; the shared budget of %d per %s allows no less than %s", len(sent), elapsed, limit, window, minElapsed)
	}
	for i, t0 := range sent {
		n := 0
		for _, t1 := range sent[i:] {
			if t1.Sub(t0) < window {
				n++
			}
		}
		if n > limit+2*graph.DirectoryChunk {
			t.Fatalf("%d calls within %s from %s; the shared budget allows %d (+ one chunk per process)", n, window, t0.Sub(start), limit)
		}
	}
	takes := ba.takes.Load() + bb.takes.Load()
	if units := ba.units.Load() + bb.units.Load(); takes > int64(len(sent))/graph.DirectoryChunk+2 || units < int64(len(sent)) {
		t.Errorf("%d takes for %d units (%d calls): the budget is drawn a chunk of %d at a time", takes, units, len(sent), graph.DirectoryChunk)
	}

	// What is left of a chunk expires after a window: an idle client takes
	// a new chunk rather than spending old units in a burst.
	before := ba.takes.Load()
	if _, err := a.FindGuestByEmail(ctx, "idle@agency.gov.sg"); err == nil {
		t.Fatal("found a guest that does not exist")
	}
	took := ba.takes.Load() - before
	f.clock.Advance(2 * window)
	if _, err := a.FindGuestByEmail(ctx, "idle2@agency.gov.sg"); err == nil {
		t.Fatal("found a guest that does not exist")
	}
	if got := ba.takes.Load() - before - took; got != 1 {
		t.Errorf("after idling %s a call took %d chunks, want 1 (the old chunk's units expired)", 2*window, got)
	}
}
