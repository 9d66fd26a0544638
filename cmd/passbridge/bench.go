package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	rpprof "runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/graph/graphsim"
	"github.com/passbridge/passbridge/scim"
)

// benchFlags are the options of "passbridge bench".
type benchFlags struct {
	db         string
	pgURL      string
	users      []int
	conns      int
	duration   time.Duration
	warmup     time.Duration
	scenarios  map[string]bool
	invites    int
	inviteWin  time.Duration
	recUsers   int
	simGuests  int
	changed    float64
	latency    time.Duration
	interval   time.Duration
	visibility int
	cpuProfile string
	pprofAddr  string
	dir        string
	verbose    bool
	out        io.Writer
	errw       io.Writer
}

const benchUsage = `usage: passbridge bench [flags]

Measures passbridge in this process, over loopback: it serves SCIM on a real
listener (SQLite or PostgreSQL) with the Microsoft Graph simulator behind,
preloads users through the store, then runs a closed-loop load generator.
Scenarios (--scenarios, comma-separated):

  scim       creates/s, GET-by-filter (userName eq)/s and GET-by-id/s with
             p50/p99 latency at each --users count; RSS and Go heap
  invite     invitation throughput against the simulator enforcing the
             tenant limit (150 per 5 s): rate, share of the limit, 429s
  reconcile  one reconcile pass at --reconcile-users managed users with
             --changed of them redeemed, Graph answering after --latency:
             Graph requests vs 1 GET per user, wall time, peak memory;
             then the time from a change in the tenant (redeem, MFA, terms)
             to the SCIM resource showing it, with the reconciler looping
             every --interval

Results are printed as Markdown table rows. Not for CI: a full run takes
several minutes and writes ~100 MB to --dir.

`

func parseBenchFlags(args []string, stdout, stderr io.Writer, env []string) (*benchFlags, int) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	b := &benchFlags{out: stdout, errw: stderr}
	pgDefault := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PASSBRIDGE_TEST_POSTGRES="); ok && v != "" {
			pgDefault = v
		}
	}
	fs.StringVar(&b.db, "db", "sqlite", "store: sqlite or postgres")
	fs.StringVar(&b.pgURL, "postgres-url", pgDefault, "PostgreSQL database for --db postgres (a fresh schema is created in it and dropped after)")
	users := fs.String("users", "1000,100000", "stored user counts for the scim scenario, comma-separated")
	fs.IntVar(&b.conns, "conns", 16, "concurrent connections of the load generator")
	fs.DurationVar(&b.duration, "duration", 10*time.Second, "measured time per load phase")
	fs.DurationVar(&b.warmup, "warmup", time.Second, "unmeasured load before each phase")
	scen := fs.String("scenarios", "scim,invite,reconcile", "scenarios to run")
	fs.IntVar(&b.invites, "invites", 1500, "users invited in the invite scenario")
	fs.DurationVar(&b.inviteWin, "invite-window", 0, "client-side invitation window of graph.Client (0: its default, 150 per 5s); the simulator keeps 150 per 5s")
	fs.IntVar(&b.recUsers, "reconcile-users", 100000, "managed users in the reconcile scenario")
	fs.IntVar(&b.simGuests, "sim-guests", 10000, "guests created in graphsim for the reconcile scenario (at least the changed users)")
	fs.Float64Var(&b.changed, "changed", 0.01, "share of managed users redeemed between two passes")
	fs.DurationVar(&b.latency, "latency", 50*time.Millisecond, "simulated Graph latency in the reconcile scenario")
	fs.DurationVar(&b.interval, "interval", 30*time.Second, "reconcile.interval for the visibility measurement")
	fs.IntVar(&b.visibility, "visibility-samples", 1, "users walked through redeem, MFA and terms for the visibility measurement")
	fs.StringVar(&b.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&b.pprofAddr, "pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060)")
	fs.BoolVar(&b.verbose, "v", false, "log passbridge's warnings to stderr")
	fs.StringVar(&b.dir, "dir", "", "folder for SQLite files (default: a temporary folder, removed after)")
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	for _, f := range strings.Split(*users, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "passbridge bench: --users: %q is not a positive number\n", f)
			return nil, 2
		}
		b.users = append(b.users, n)
	}
	b.scenarios = map[string]bool{}
	for _, s := range strings.Split(*scen, ",") {
		s = strings.TrimSpace(s)
		switch s {
		case "scim", "invite", "reconcile":
			b.scenarios[s] = true
		case "":
		default:
			fmt.Fprintf(stderr, "passbridge bench: --scenarios: unknown scenario %q (scim, invite, reconcile)\n", s)
			return nil, 2
		}
	}
	if b.db != "sqlite" && b.db != "postgres" {
		fmt.Fprintf(stderr, "passbridge bench: --db must be sqlite or postgres\n")
		return nil, 2
	}
	if b.conns < 1 || b.duration <= 0 || b.invites < 1 || b.recUsers < 1 || b.changed < 0 || b.changed > 1 {
		fmt.Fprintf(stderr, "passbridge bench: --conns, --duration, --invites and --reconcile-users must be positive, --changed in [0,1]\n")
		return nil, 2
	}
	return b, -1
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	b, code := parseBenchFlags(args, stdout, stderr, env)
	if b == nil {
		return code
	}
	if b.dir == "" {
		d, err := os.MkdirTemp("", "passbridge-bench-")
		if err != nil {
			fmt.Fprintf(stderr, "passbridge bench: %v\n", err)
			return 1
		}
		defer os.RemoveAll(d)
		b.dir = d
	}
	if b.pprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Addr: b.pprofAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		defer srv.Close()
	}
	if b.cpuProfile != "" {
		f, err := os.Create(b.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "passbridge bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := rpprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "passbridge bench: %v\n", err)
			return 1
		}
		defer rpprof.StopCPUProfile()
	}
	fmt.Fprintf(stdout, "passbridge bench: %s, GOMAXPROCS=%d, %s, load %s\n", b.db, runtime.GOMAXPROCS(0), runtime.Version(), loadAvg())
	steps := []struct {
		name string
		run  func(context.Context, *benchFlags) error
	}{
		{"scim", benchSCIM}, {"invite", benchInvite}, {"reconcile", benchReconcile},
	}
	for _, s := range steps {
		if !b.scenarios[s.name] {
			continue
		}
		if err := s.run(ctx, b); err != nil {
			fmt.Fprintf(stderr, "passbridge bench: %s: %v\n", s.name, err)
			return 1
		}
	}
	return 0
}

// logger discards passbridge's logs unless -v.
func (b *benchFlags) logger() *slog.Logger {
	w := io.Discard
	if b.verbose {
		w = b.errw
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// --- environment ---

// benchEnv is one fresh database with passbridge served over loopback.
type benchEnv struct {
	app     *app
	base    string // SCIM base URL
	token   string
	stop    func()
	cleanDB func()
}

// freshDB returns a database URL nobody used before and a function that
// removes it.
func (b *benchFlags) freshDB(ctx context.Context, name string) (string, func(), error) {
	if b.db == "sqlite" {
		dir, err := os.MkdirTemp(b.dir, name+"-")
		if err != nil {
			return "", nil, err
		}
		return "sqlite:" + filepath.Join(dir, "pb.db"), func() { os.RemoveAll(dir) }, nil
	}
	schema := "bench_" + name + "_" + randHex(4)
	conn, err := pgx.Connect(ctx, b.pgURL)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	u, err := url.Parse(b.pgURL)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := pgx.Connect(ctx, b.pgURL); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	}
	return u.String(), drop, nil
}

// start opens a fresh store and serves passbridge on a loopback port; dir
// nil serves SCIM only (no worker, no reconciler).
// prepare, when set, runs on the store before serving starts.
func (b *benchFlags) start(ctx context.Context, name string, dir connector.Directory, tweak func(*config.Config, *connector.Options),
	prepare func(connector.Store) error) (*benchEnv, error) {
	dbURL, clean, err := b.freshDB(ctx, name)
	if err != nil {
		return nil, err
	}
	token, sum, err := config.NewToken()
	if err != nil {
		clean()
		return nil, err
	}
	cfg := config.Default()
	cfg.Database.URL = dbURL
	cfg.SCIM.Tokens = []config.Token{{Name: "bench", SHA256: sum}}
	cfg.Invitation.RedirectURL = "https://myapps.microsoft.com"
	cfg.Policy.AllowedDomains = []string{"gov.sg", "*.gov.sg"}
	cfg.Agreements = demoAgreements
	a, err := newApp(ctx, cfg, b.logger(), dir, nil)
	if err != nil {
		clean()
		return nil, err
	}
	if tweak != nil {
		a.tweak = func(o *connector.Options) { tweak(cfg, o) }
	}
	if prepare != nil {
		if err := prepare(a.store); err != nil {
			a.Close()
			clean()
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		clean()
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.serve(sctx, ln) }()
	env := &benchEnv{app: a, base: "http://" + ln.Addr().String() + scim.Prefix, token: token, cleanDB: clean}
	env.stop = func() {
		cancel()
		<-done
		a.Close()
		clean()
	}
	return env, nil
}

// startSim serves a graph simulator on loopback with a status counter in
// front, and a graph.Client talking to it.
func startSim(ctx context.Context, gopts graph.Options, opts ...graphsim.Option) (*graphsim.Sim, *graph.Client, *statusCounter, func(), error) {
	sim := graphsim.New(opts...)
	sc := &statusCounter{next: sim.Handler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	srv := &http.Server{Handler: sc, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	simURL := "http://" + ln.Addr().String()
	gopts.Endpoint, gopts.TokenCredential = simURL, simCredential(sim)
	dir, err := graph.New(ctx, gopts)
	if err != nil {
		srv.Close()
		return nil, nil, nil, nil, err
	}
	return sim, dir, sc, func() { srv.Close() }, nil
}

// statusCounter counts Graph requests and answers by HTTP status.
type statusCounter struct {
	next     http.Handler
	requests atomic.Int64
	s429     atomic.Int64
}

func (c *statusCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1.0/") {
		c.requests.Add(1)
	}
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	c.next.ServeHTTP(sw, r)
	if sw.code == http.StatusTooManyRequests {
		c.s429.Add(1)
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// --- preload ---

func benchEmail(prefix string, i int) string { return fmt.Sprintf("%s-%d@agency.gov.sg", prefix, i) }

// benchUser is what the SCIM layer stores for a typical create, already
// invited (guestID set) so that nothing is queued.
func benchUser(email, guestID string, now time.Time) connector.User {
	doc, _ := json.Marshal(map[string]any{
		"userName": email, "active": true,
		"name":        map[string]any{"givenName": "Bench", "familyName": "User"},
		"displayName": "Bench User",
		"emails":      []any{map[string]any{"value": email, "type": "work", "primary": true}},
	})
	exp := now.Add(720 * time.Hour)
	inv := now
	return connector.User{
		UserName: email, Active: true, Emails: []string{email}, Doc: doc,
		Created: now, Modified: now,
		Onboarding: connector.Onboarding{State: connector.StateInvited, InviteEmail: email, GuestID: guestID, InvitedAt: &inv, ExpiresAt: &exp},
	}
}

// preload creates users 0..n-1 directly through the store, conns at a time,
// and returns their ids in order.
func preload(ctx context.Context, st connector.Store, n, conns int, user func(i int) connector.User) ([]string, time.Duration, error) {
	ids := make([]string, n)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				u, err := st.CreateUser(ctx, user(i), connector.Change{})
				if err != nil {
					errc <- fmt.Errorf("preload user %d: %w", i, err)
					return
				}
				ids[i] = u.ID
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	return ids, time.Since(start), nil
}

// --- load generator ---

type loadResult struct {
	ops      int
	errs     int
	firstErr string
	dur      time.Duration
	lat      []time.Duration
}

func (r loadResult) rate() float64 { return float64(r.ops) / r.dur.Seconds() }

func (r loadResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat)-1) * p)
	return r.lat[i]
}

// load runs conns closed loops of op for warmup+d and measures the last d.
// op gets the worker number and its iteration and returns an error for a
// wrong answer.
func (b *benchFlags) load(ctx context.Context, client *http.Client, op func(c *http.Client, w, i int) error) loadResult {
	var (
		mu       sync.Mutex
		res      loadResult
		measured atomic.Bool
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	for w := range b.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			ops, errs := 0, 0
			first := ""
			for i := 0; !stop.Load() && ctx.Err() == nil; i++ {
				t0 := time.Now()
				err := op(client, w, i)
				d := time.Since(t0)
				if !measured.Load() {
					continue
				}
				if err != nil {
					errs++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				ops++
				lat = append(lat, d)
			}
			mu.Lock()
			res.ops += ops
			res.errs += errs
			res.lat = append(res.lat, lat...)
			if res.firstErr == "" {
				res.firstErr = first
			}
			mu.Unlock()
		}()
	}
	time.Sleep(b.warmup)
	measured.Store(true)
	t0 := time.Now()
	time.Sleep(b.duration)
	stop.Store(true)
	res.dur = time.Since(t0)
	wg.Wait()
	slices.Sort(res.lat)
	return res
}

func (b *benchFlags) httpClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: b.conns, MaxIdleConnsPerHost: b.conns, MaxConnsPerHost: b.conns,
			IdleConnTimeout: time.Minute, DisableCompression: true,
		},
	}
}

// do sends one SCIM request and checks the status; body is read whole.
func (e *benchEnv) do(c *http.Client, method, path, body string, want int, into any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if into == nil {
		_, err = io.Copy(io.Discard, res.Body)
	} else {
		err = json.NewDecoder(res.Body).Decode(into)
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d", method, path, res.StatusCode)
	}
	return err
}

func createBody(email string) string {
	return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + email +
		`","name":{"givenName":"Load","familyName":"User"},"displayName":"Load User","emails":[{"value":"` + email +
		`","type":"work","primary":true}]}`
}

// --- scenario: SCIM ---

func benchSCIM(ctx context.Context, b *benchFlags) error {
	fmt.Fprintf(b.out, "\n### SCIM (%s, %d connections, %s per phase after %s warm-up)\n\n", b.db, b.conns, b.duration, b.warmup)
	fmt.Fprintln(b.out, "| stored users | operation | req/s | p50 | p99 | errors | RSS after | peak RSS | Go heap in use |")
	fmt.Fprintln(b.out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|")
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
	env, err := b.start(ctx, fmt.Sprintf("scim%d", n), nil, nil, nil)
	if err != nil {
		return err
	}
	defer env.stop()
	now := time.Now().UTC()
	ids, took, err := preload(ctx, env.app.store, n, b.conns, func(i int) connector.User {
		return benchUser(benchEmail("bench", i), fakeGUID(i), now)
	})
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
		fmt.Fprintf(b.out, "| %d | %s | %.0f | %s | %s | %s | %s | %s | %s |\n", n, name, r.rate(),
			fmtDur(r.pct(0.50)), fmtDur(r.pct(0.99)), errs, fmtMB(rss), fmtMB(hwm), fmtMB(int64(ms.HeapInuse)))
	}

	// Filter GETs: a random stored userName, in another case (userName is
	// case-insensitive); exactly one result expected.
	rng := func(w, i int) int { return int(mrand.Uint64N(uint64(n))) }
	r := b.load(ctx, client, func(c *http.Client, w, i int) error {
		email := strings.ToUpper(benchEmail("bench", rng(w, i)))
		var lr struct {
			TotalResults int `json:"totalResults"`
		}
		if err := env.do(c, http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "`+email+`"`), "", http.StatusOK, &lr); err != nil {
			return err
		}
		if lr.TotalResults != 1 {
			return fmt.Errorf("filter %s: %d results", email, lr.TotalResults)
		}
		return nil
	})
	row("GET filter userName eq", r)

	r = b.load(ctx, client, func(c *http.Client, w, i int) error {
		return env.do(c, http.MethodGet, "/Users/"+ids[rng(w, i)], "", http.StatusOK, nil)
	})
	row("GET by id", r)

	run := randHex(3)
	r = b.load(ctx, client, func(c *http.Client, w, i int) error {
		return env.do(c, http.MethodPost, "/Users", createBody(benchEmail(fmt.Sprintf("load-%s-%d", run, w), i)), http.StatusCreated, nil)
	})
	row("POST create (durable)", r)
	return nil
}

// --- scenario: invitations ---

func benchInvite(ctx context.Context, b *benchFlags) error {
	const limit, window = 150, 5 * time.Second
	sim, dir, sc, stopSim, err := startSim(ctx, graph.Options{InvitationWindow: b.inviteWin, Logger: b.logger()}, graphsim.WithInvitationRateLimit(limit, window))
	if err != nil {
		return err
	}
	defer stopSim()
	env, err := b.start(ctx, "invite", dir, nil, nil)
	if err != nil {
		return err
	}
	defer env.stop()
	client := b.httpClient()
	defer client.CloseIdleConnections()

	// Sign everyone up at once, conns at a time.
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, b.conns)
	t0 := time.Now()
	for range b.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.invites {
					return
				}
				if err := env.do(client, http.MethodPost, "/Users", createBody(benchEmail("invite", i)), http.StatusCreated, nil); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	signedUp := time.Since(t0)
	ideal := window * time.Duration((b.invites+limit-1)/limit-1)
	deadline := time.Now().Add(3*ideal + time.Minute)
	for len(sim.Invitations()) < b.invites && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	invs := sim.Invitations()
	if len(invs) == 0 {
		return fmt.Errorf("no invitation sent")
	}
	first, last := invs[0].At, invs[0].At
	perEmail := map[string]int{}
	for _, inv := range invs {
		if inv.At.Before(first) {
			first = inv.At
		}
		if inv.At.After(last) {
			last = inv.At
		}
		perEmail[strings.ToLower(inv.Email)]++
	}
	dups := len(invs) - len(perEmail)
	perSec := make([]int, int(last.Sub(first)/time.Second)+1)
	for _, inv := range invs {
		perSec[int(inv.At.Sub(first)/time.Second)]++
	}
	fmt.Fprintf(b.errw, "invitations per second from the first: %v\n", perSec)
	// With a sliding window, k invitations take at least
	// window*(ceil(k/limit)-1) from the first to the last: the rate over
	// last-first+window is the tenant limit exactly when nothing is lost.
	rate := float64(len(invs)) / (last.Sub(first) + window).Seconds()
	maxRate := float64(limit) / window.Seconds()
	clientWin := "default"
	if b.inviteWin > 0 {
		clientWin = fmt.Sprintf("%d per %s", limit, b.inviteWin)
	}
	fmt.Fprintf(b.out, "\n### Invitations (%s, limit %d per %s enforced by graphsim, graph.Client window %s)\n\n", b.db, limit, window, clientWin)
	fmt.Fprintln(b.out, "| users signed up | SCIM sign-up time | invitations | first→last | ideal first→last | rate | share of limit | HTTP 429 | duplicates |")
	fmt.Fprintln(b.out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	fmt.Fprintf(b.out, "| %d | %s | %d | %s | %s | %.1f/s | %.1f%% | %d | %d |\n", b.invites, signedUp.Round(time.Millisecond),
		len(invs), last.Sub(first).Round(time.Millisecond), ideal, rate, 100*rate/maxRate, sc.s429.Load(), dups)
	return nil
}

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

// --- measurements ---

// procMem returns VmRSS and VmHWM from /proc/self/status, in bytes (0 where
// unavailable).
func procMem() (rss, hwm int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// resetPeakRSS resets VmHWM to the current RSS (Linux: clear_refs 5).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// startHeapPeak samples the live heap every 20 ms until the returned
// function is called, which returns the peak.
func startHeapPeak() func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(stopped)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := int64(sample[0].Value.Uint64()); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func fmtMB(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

func fmtDur(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fakeGUID is a stable guest id for a preloaded user whose guest the
// scenario never asks Graph about.
func fakeGUID(i int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
}
