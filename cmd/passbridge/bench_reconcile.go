package main

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/graph/graphsim"
	"github.com/passbridge/passbridge/scim"
)

// --- scenario: reconcile ---

func benchReconcile(ctx context.Context, b *benchFlags) error {
	n := b.recUsers
	sim, dir, sc, stopSim, err := startSim(ctx, graph.Options{Logger: b.logger()})
	if err != nil {
		return err
	}
	defer stopSim()
	// graphsim's AddGuest is linear in the tenant's size, so only every
	// simEvery-th user has a guest in the simulator; the others have guest
	// ids a delta pass never asks about (that is the point of delta).
	changed := int(float64(n) * b.changed)
	simGuests := min(n, max(b.simGuests, changed+b.visibility))
	simEvery := n / simGuests
	guests := make([]string, n)
	tg := time.Now()
	for i := range n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if i%simEvery != 0 {
			guests[i] = fakeGUID(i)
			continue
		}
		id, err := sim.AddGuest(benchEmail("rec", i), "")
		if err != nil {
			return err
		}
		guests[i] = id
	}
	fmt.Fprintf(b.errw, "%d guests added to graphsim in %s\n", (n+simEvery-1)/simEvery, time.Since(tg).Round(time.Millisecond))
	interval := b.interval
	// The serve loop's reconciler must not run before the measured pass:
	// the bench holds its lease until then.
	env, err := b.start(ctx, "reconcile", dir, func(cfg *config.Config, o *connector.Options) {
		cfg.Reconcile.Interval = config.Duration(interval)
	}, func(st connector.Store) error {
		ok, err := st.AcquireLease(ctx, connector.LeaseReconciler, "bench", time.Now(), time.Hour)
		if err == nil && !ok {
			err = errors.New("reconciler lease taken")
		}
		return err
	})
	if err != nil {
		return err
	}
	defer env.stop()
	st := env.app.store
	opts := env.app.svc.Options()
	opts.Reconcile.Holder = "bench"
	opts.Reconcile.LeaseTTL = time.Hour

	now := time.Now().UTC()
	ids, took, err := preload(ctx, st, n, b.conns, func(i int) connector.User {
		return benchUser(benchEmail("rec", i), guests[i], now.Add(-time.Hour))
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(b.errw, "preloaded %d users and guests in %s\n", n, took.Round(time.Millisecond))

	// Steady state: a delta link from an earlier round, the last sweep just
	// done, the audit log read up to now.
	_, link, err := dir.GuestChanges(ctx, "")
	if err != nil {
		return fmt.Errorf("initial delta round: %w", err)
	}
	mark := sim.Now().Format(time.RFC3339Nano)
	for k, v := range map[string]string{connector.CursorDeltaLink: link, connector.CursorLastSweep: mark, connector.CursorAuditMark: mark} {
		if err := st.SetCursor(ctx, k, v); err != nil {
			return err
		}
	}
	// The changed users are spread evenly over the users with a guest.
	step := simEvery * max(1, simGuests/max(changed, 1))
	for k := range changed {
		if err := sim.Redeem(guests[k*step]); err != nil {
			return err
		}
	}
	// Latency on every HTTP request the reconciler makes; $batch
	// sub-requests are not delayed one by one (Graph runs them together).
	if b.latency > 0 {
		for _, route := range []string{"POST /$batch", "GET /users/delta", "GET /users", "GET /auditLogs/directoryAudits"} {
			sim.InjectFault(graphsim.Fault{Route: route, Latency: b.latency})
		}
	}
	rec := connector.NewReconciler(st, dir, opts)
	runtime.GC()
	resetPeakRSS()
	peak := startHeapPeak()
	req0 := sc.requests.Load()
	t0 := time.Now()
	rep, err := rec.RunOnce(ctx)
	wall := time.Since(t0)
	heapPeak := peak()
	reqs := sc.requests.Load() - req0
	if err != nil {
		return fmt.Errorf("reconcile pass: %w", err)
	}
	rss, hwm := procMem()
	budget := 2*((changed+19)/20) + rep.Pages
	fmt.Fprintf(b.out, "\n### Reconcile (%s, %d managed users, %d of them guests in graphsim, %d redeemed since the last pass, Graph latency %s)\n\n",
		b.db, n, (n+simEvery-1)/simEvery, changed, b.latency)
	fmt.Fprintln(b.out, "| Graph HTTP requests | by kind | per-user polling baseline | target 2×(changed/20)+pages | store pages | users changed | wall time | peak Go heap | RSS after / peak RSS (incl. graphsim) |")
	fmt.Fprintln(b.out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	fmt.Fprintf(b.out, "| %d | %s | %d | %d | %d | %d | %s | %s | %s / %s |\n", reqs, kinds(rep.GraphCalls), n+changed, budget, rep.Pages,
		rep.UsersChanged, wall.Round(time.Millisecond), fmtMB(heapPeak), fmtMB(rss), fmtMB(hwm))

	// Visibility: hand the lease over to the serve loop and time changes.
	if err := st.ReleaseLease(ctx, connector.LeaseReconciler, "bench"); err != nil {
		return err
	}
	client := b.httpClient()
	defer client.CloseIdleConnections()
	fmt.Fprintf(b.out, "\nTime from a change in the tenant to the SCIM resource showing it (%d users, reconcile.interval %s, Graph latency %s):\n\n", n, interval, b.latency)
	fmt.Fprintln(b.out, "| change | SCIM onboardingState | visible after |")
	fmt.Fprintln(b.out, "|---|---|---:|")
	for s := range b.visibility {
		i := (n - 1 - s*step) / simEvery * simEvery // has a guest; not among the redeemed above
		email, id := benchEmail("rec", i), ids[i]
		steps := []struct {
			name, want string
			act        func() error
		}{
			{"redeem", "redeemed", func() error { return sim.Redeem(guests[i]) }},
			{"MFA registered", "mfaRegistered", func() error { return sim.RegisterMFA(guests[i], "") }},
			{"terms accepted", "onboarded", func() error {
				for _, ag := range demoAgreements {
					if err := sim.AcceptAgreement(guests[i], ag.ID, ag.Name); err != nil {
						return err
					}
				}
				return nil
			}},
		}
		for _, stp := range steps {
			// Changes land at a random point of the reconcile cycle.
			time.Sleep(time.Duration(mrand.Int64N(int64(interval))))
			if err := stp.act(); err != nil {
				return err
			}
			t0 := time.Now()
			for {
				var res map[string]any
				if err := env.do(client, http.MethodGet, "/Users/"+id, "", http.StatusOK, &res); err != nil {
					return err
				}
				tp, _ := res[scim.URNTechPass].(map[string]any)
				if state, _ := tp["onboardingState"].(string); state == stp.want {
					break
				}
				if time.Since(t0) > 10*time.Minute {
					return fmt.Errorf("%s: %s not %s after 10 minutes", email, stp.name, stp.want)
				}
				time.Sleep(100 * time.Millisecond)
			}
			fmt.Fprintf(b.out, "| %s | %s | %s |\n", stp.name, stp.want, time.Since(t0).Round(100*time.Millisecond))
		}
	}
	return nil
}

func kinds(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
