package main

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
)

// External load (issue 14): "passbridge bench --target URL --token T" drives
// a server that is already running (passbridge serve as a user runs it, or
// the minimal handler of --baseline-listen) over loopback, so that the
// figures include everything serve does (worker, reconciler, access log,
// metrics) and none of the generator's own work shares the server's heap.
// --preload-into fills a SQLite file before serve opens it.

// maxTargetDuration and maxTargetRuns bound one external run in time.
const (
	maxTargetDuration = 5 * time.Minute
	maxTargetRuns     = 10
	maxBaselineFor    = time.Hour
)

// loopbackHost reports whether host (a name or an address, no port) is this
// machine: the external generator never loads another one.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkTargetFlags validates the external-load flags; "" when fine.
func (b *benchFlags) checkTargetFlags() string {
	if b.target != "" {
		u, err := url.Parse(b.target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !loopbackHost(u.Hostname()) {
			return "--target must be an http(s) URL on a loopback address (e.g. http://127.0.0.1:8080/scim/v2)"
		}
		if b.token == "" {
			return "--target needs --token (the SCIM bearer token; PASSBRIDGE_BENCH_TOKEN also works)"
		}
		if b.duration > maxTargetDuration || b.warmup > maxTargetDuration {
			return fmt.Sprintf("--duration and --warmup are at most %s with --target", maxTargetDuration)
		}
		if b.runs < 1 || b.runs > maxTargetRuns {
			return fmt.Sprintf("--runs must be 1..%d", maxTargetRuns)
		}
	}
	if b.baselineListen != "" {
		host, _, err := net.SplitHostPort(b.baselineListen)
		if err != nil || !loopbackHost(host) {
			return "--baseline-listen must be a loopback address (e.g. 127.0.0.1:8090)"
		}
		if b.baselineFor <= 0 || b.baselineFor > maxBaselineFor {
			return fmt.Sprintf("--baseline-for must be in (0, %s]", maxBaselineFor)
		}
	}
	if b.preloadInto != "" && !strings.HasPrefix(b.preloadInto, "sqlite:") {
		return "--preload-into takes a SQLite database URL (sqlite:/path/pb.db)"
	}
	if b.conns > 256 {
		return "--conns is at most 256"
	}
	return ""
}

// --- the minimal handler ---

// baselineHandler is the minimal net/http handler the issue asks every
// figure to be compared with: it answers each SCIM request the generator
// sends with a fixed, valid-looking body and no work.
func baselineHandler() http.Handler {
	list := []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"itemsPerPage":1,"startIndex":1,` +
		`"Resources":[{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"00000000-0000-4000-8000-000000000001","userName":"x@agency.gov.sg","active":true}]}`)
	user := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"00000000-0000-4000-8000-000000000001","userName":"x@agency.gov.sg","active":true}`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		switch {
		case r.Method == http.MethodPost:
			_, _ = r.Body.Read(make([]byte, 4096))
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(user)
		case strings.HasSuffix(r.URL.Path, "/Users"):
			_, _ = w.Write(list)
		default:
			_, _ = w.Write(user)
		}
	})
}

// runBaseline serves the minimal handler on --baseline-listen until ctx
// ends or --baseline-for passed.
func runBaseline(ctx context.Context, b *benchFlags) error {
	ln, err := net.Listen("tcp", b.baselineListen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: baselineHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(b.out, "minimal handler serving at http://%s/scim/v2 for at most %s\n", ln.Addr(), b.baselineFor)
	ctx, cancel := context.WithTimeout(ctx, b.baselineFor)
	defer cancel()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// --- preload into a file ---

// runPreloadInto creates the first --users count of users in the SQLite
// database --preload-into, as the scim scenario preloads them, and exits.
func runPreloadInto(ctx context.Context, b *benchFlags) error {
	_, sum, err := config.NewToken()
	if err != nil {
		return err
	}
	cfg := config.Default()
	cfg.Database.URL = b.preloadInto
	cfg.SCIM.Tokens = []config.Token{{Name: "bench", SHA256: sum}}
	cfg.Invitation.RedirectURL = "https://myapps.microsoft.com"
	cfg.Policy.AllowedDomains = []string{"gov.sg", "*.gov.sg"}
	a, err := newApp(ctx, cfg, b.logger(), nil, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	n := b.users[0]
	var took time.Duration
	if b.queued {
		_, took, err = preloadQueued(ctx, a.svc, n, b.conns)
	} else {
		now := time.Now().UTC()
		_, took, err = preload(ctx, a.store, n, b.conns, func(i int) connector.User {
			return benchUser(benchEmail("bench", i), fakeGUID(i), now)
		})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "preloaded %d users (userName bench-<i>@agency.gov.sg, queued %v) into %s in %s\n", n, b.queued, b.preloadInto, took.Round(time.Millisecond))
	return nil
}

// --- the external generator ---

// runTarget runs the --ops phases against --target, --runs times each, and
// prints one row per run and the median of the runs.
func runTarget(ctx context.Context, b *benchFlags) error {
	env := &benchEnv{base: strings.TrimRight(b.target, "/"), token: b.token}
	client := b.httpClient()
	defer client.CloseIdleConnections()
	n := b.users[0]
	fmt.Fprintf(b.out, "\n### external load: %s, %d connections, %s per phase after %s warm-up, %d run(s), userNames bench-0..%d\n\n",
		env.base, b.conns, b.duration, b.warmup, b.runs, n-1)
	fmt.Fprintln(b.out, "| operation | run | load before | req/s | p50 | p99 | errors | server RSS | WAL after (peak) |")
	fmt.Fprintln(b.out, "|---|---|---|---:|---:|---:|---:|---:|---:|")
	rng := func() int { return int(mrand.Uint64N(uint64(n))) }
	var ids []string
	if b.ops["id"] {
		// GET by id needs ids: resolve a sample of stored userNames first.
		for i := 0; i < 1000 && len(ids) < min(n, 500); i++ {
			var lr struct {
				Resources []struct {
					ID string `json:"id"`
				} `json:"Resources"`
			}
			email := benchEmail("bench", rng())
			if err := env.do(client, http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "`+email+`"`), "", http.StatusOK, &lr); err != nil {
				return fmt.Errorf("resolve ids: %w", err)
			}
			if len(lr.Resources) == 1 {
				ids = append(ids, lr.Resources[0].ID)
			}
		}
		if len(ids) == 0 {
			return errors.New("resolve ids: no bench-<i>@agency.gov.sg user found (preload with --preload-into first)")
		}
	}
	phases := []struct {
		op, name string
		fn       func(c *http.Client, w, i int) error
	}{
		{"filter", "GET filter userName eq", func(c *http.Client, w, i int) error {
			return env.filterOne(c, rng())
		}},
		{"id", "GET by id", func(c *http.Client, w, i int) error {
			return env.do(c, http.MethodGet, "/Users/"+ids[mrand.IntN(len(ids))], "", http.StatusOK, nil)
		}},
		{"create", "POST create (durable)", nil},
	}
	for _, ph := range phases {
		if !b.ops[ph.op] {
			continue
		}
		var rates []float64
		var p50s, p99s []time.Duration
		for run := 1; run <= b.runs; run++ {
			fn := ph.fn
			if ph.op == "create" {
				tag := randHex(3)
				fn = func(c *http.Client, w, i int) error {
					return env.do(c, http.MethodPost, "/Users", createBody(benchEmail(fmt.Sprintf("ext-%s-%d", tag, w), i)), http.StatusCreated, nil)
				}
			}
			la := loadAvg()
			walPeak := b.startWALPeak()
			r := b.load(ctx, client, fn)
			peak := walPeak()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs := strconv.Itoa(r.errs)
			if r.firstErr != "" {
				errs += " (" + r.firstErr + ")"
			}
			fmt.Fprintf(b.out, "| %s | %d | %s | %.0f | %s | %s | %s | %s | %s |\n", ph.name, run, la, r.rate(),
				fmtDur(r.pct(0.50)), fmtDur(r.pct(0.99)), errs, b.serverRSS(), b.walSize()+walPeakNote(peak))
			rates, p50s, p99s = append(rates, r.rate()), append(p50s, r.pct(0.50)), append(p99s, r.pct(0.99))
			if b.pause > 0 && run < b.runs {
				time.Sleep(b.pause)
			}
		}
		if b.runs > 1 {
			slices.Sort(rates)
			slices.Sort(p50s)
			slices.Sort(p99s)
			m := len(rates) / 2
			fmt.Fprintf(b.out, "| **%s, median** | | | **%.0f** | %s | **%s** | | | |\n", ph.name, rates[m], fmtDur(p50s[m]), fmtDur(p99s[m]))
		}
	}
	return nil
}

// serverRSS is the resident memory of --target-pid ("" without it).
func (b *benchFlags) serverRSS() string {
	if b.targetPID <= 0 {
		return ""
	}
	rss, _ := procMemOf("/proc/" + strconv.Itoa(b.targetPID) + "/status")
	return fmtMB(rss)
}

// walSize is the size of --watch-wal ("" without it): a WAL that only grows
// under load means readers keep checkpoints from resetting it.
func (b *benchFlags) walSize() string {
	if b.watchWAL == "" {
		return ""
	}
	fi, err := os.Stat(b.watchWAL)
	if err != nil {
		return "-"
	}
	return fmtMB(fi.Size())
}

// startWALPeak samples the size of --watch-wal every 100 ms until the
// returned function is called, which returns the peak ("" without it).
func (b *benchFlags) startWALPeak() func() string {
	if b.watchWAL == "" {
		return func() string { return "" }
	}
	var peak int64
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if fi, err := os.Stat(b.watchWAL); err == nil && fi.Size() > peak {
				peak = fi.Size()
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() string {
		close(done)
		<-stopped
		return fmtMB(peak)
	}
}

func walPeakNote(peak string) string {
	if peak == "" {
		return ""
	}
	return " (" + peak + ")"
}

// externalMode is the run of --baseline-listen, --preload-into or --target,
// or nil for the in-process scenarios.
func (b *benchFlags) externalMode() func(context.Context, *benchFlags) error {
	switch {
	case b.baselineListen != "":
		return runBaseline
	case b.preloadInto != "":
		return runPreloadInto
	case b.target != "":
		return runTarget
	}
	return nil
}

// startOn serves SCIM (no worker, no reconciler) on an existing database.
func (b *benchFlags) startOn(ctx context.Context, dbURL string) (*benchEnv, error) {
	b.existingDB = dbURL
	return b.start(ctx, "ext", nil, nil, nil)
}
