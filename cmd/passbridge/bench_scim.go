package main

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/graph/graphsim"
)

// --- scenario: SCIM ---

func benchSCIM(ctx context.Context, b *benchFlags) error {
	bg := "worker and reconciler off"
	if b.background {
		bg = "worker and reconciler on, Graph simulator at 150 invitations per 5 s"
	}
	if b.queued {
		bg += ", preloaded users pending with their invitations queued"
	}
	fmt.Fprintf(b.out, "\n### SCIM (%s, %d connections, %s per phase after %s warm-up, %s)\n\n", b.db, b.conns, b.duration, b.warmup, bg)
	fmt.Fprintln(b.out, "| stored users | operation | req/s | p50 | p99 | errors | GC/s | RSS after | peak RSS | Go heap in use | queued jobs |")
	fmt.Fprintln(b.out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, n := range b.users {
		if err := b.scimAt(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (b *benchFlags) scimAt(ctx context.Context, n int) error {
	runtime.GC()
	resetPeakRSS()
	var dir connector.Directory
	if b.background {
		_, gc, _, stopSim, err := startSim(ctx, graph.Options{Logger: b.logger()}, graphsim.WithInvitationRateLimit(150, 5*time.Second))
		if err != nil {
			return err
		}
		defer stopSim()
		dir = gc
	}
	env, err := b.start(ctx, fmt.Sprintf("scim%d", n), dir, nil, nil)
	if err != nil {
		return err
	}
	defer env.stop()
	now := time.Now().UTC()
	var ids []string
	var took time.Duration
	if b.queued {
		ids, took, err = preloadQueued(ctx, env.app.svc, n, b.conns)
	} else {
		ids, took, err = preload(ctx, env.app.store, n, b.conns, func(i int) connector.User {
			return benchUser(benchEmail("bench", i), fakeGUID(i), now)
		})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(b.errw, "preloaded %d users in %s (%.0f/s)\n", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	client := b.httpClient()
	defer client.CloseIdleConnections()

	row := func(name string, r loadResult) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, hwm := procMem()
		errs := strconv.Itoa(r.errs)
		if r.firstErr != "" {
			errs += " (" + r.firstErr + ")"
		}
		depth, _, _ := env.app.store.JobStats(ctx)
		fmt.Fprintf(b.out, "| %d | %s | %.0f | %s | %s | %s | %.1f | %s | %s | %s | %d |\n", n, name, r.rate(),
			fmtDur(r.pct(0.50)), fmtDur(r.pct(0.99)), errs, r.gcPerSec(), fmtMB(rss), fmtMB(hwm), fmtMB(int64(ms.HeapInuse)), depth)
	}

	// Filter GETs: a random stored userName, in another case (userName is
	// case-insensitive); exactly one result expected.
	rng := func(w, i int) int { return int(mrand.Uint64N(uint64(n))) }
	if b.ops["filter"] {
		r := b.load(ctx, client, func(c *http.Client, w, i int) error {
			return env.filterOne(c, rng(w, i))
		})
		row("GET filter userName eq", r)
	}
	if b.ops["id"] {
		r := b.load(ctx, client, func(c *http.Client, w, i int) error {
			return env.do(c, http.MethodGet, "/Users/"+ids[rng(w, i)], "", http.StatusOK, nil)
		})
		row("GET by id", r)
	}
	if b.ops["create"] {
		run := randHex(3)
		r := b.load(ctx, client, func(c *http.Client, w, i int) error {
			return env.do(c, http.MethodPost, "/Users", createBody(benchEmail(fmt.Sprintf("load-%s-%d", run, w), i)), http.StatusCreated, nil)
		})
		row("POST create (durable)", r)
	}
	return nil
}

// filterOne asks for stored user i by a filter in another letter case
// (userName is case-insensitive) and wants exactly one result.
func (e *benchEnv) filterOne(c *http.Client, i int) error {
	email := strings.ToUpper(benchEmail("bench", i))
	var lr struct {
		TotalResults int `json:"totalResults"`
	}
	if err := e.do(c, http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "`+email+`"`), "", http.StatusOK, &lr); err != nil {
		return err
	}
	if lr.TotalResults != 1 {
		return fmt.Errorf("filter %s: %d results", email, lr.TotalResults)
	}
	return nil
}
