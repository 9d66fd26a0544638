package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	rmetrics "runtime/metrics"
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
	background bool
	queued     bool
	ops        map[string]bool
	gogc       int
	memLimitMB int64
	out        io.Writer
	errw       io.Writer

	// External load (loadgen.go).
	target         string
	token          string
	targetPID      int
	watchWAL       string
	runs           int
	pause          time.Duration
	maxRequests    int64
	baselineListen string
	baselineFor    time.Duration
	preloadInto    string
	existingDB     string // start serves this database instead of a fresh one (tests)
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

External load (issue 14), for "passbridge serve" as a user runs it:

  --baseline-listen ADDR   serve only the minimal net/http handler on ADDR
  --preload-into sqlite:F  create the first --users count of users in the
                           SQLite file F (--preload-queued: pending, each
                           with its invitation queued), then exit
  --target URL --token T   drive a running server (serve, or the minimal
                           handler) at the SCIM base URL over loopback with
                           --conns closed loops per --ops phase, --runs times

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
	fs.BoolVar(&b.background, "background", false, "scim scenario: run the outbox worker and the reconciler against the Graph simulator (tenant limit 150 per 5 s) while measuring, as serve does; creates then queue real invitations")
	fs.BoolVar(&b.queued, "preload-queued", false, "scim scenario: preload users as SCIM creates them (through the service: pending, each with its invitation job queued and its user.created event) instead of already invited; without --background the jobs stay queued, a deep outbox")
	ops := fs.String("ops", "filter,id,create", "scim scenario: load phases to run, comma-separated (filter, id, create)")
	fs.IntVar(&b.gogc, "gogc", 0, "GOGC for the run, as runtime.gogc (0: GOGC from the environment, else serve's default)")
	fs.Int64Var(&b.memLimitMB, "memlimit-mb", 0, "soft memory limit in MiB, as runtime.memoryLimitMB (0: GOMEMLIMIT, else serve's default)")
	fs.StringVar(&b.target, "target", "", "external load: SCIM base URL of a running server on loopback (e.g. http://127.0.0.1:8080/scim/v2); the scenarios are not run")
	fs.StringVar(&b.token, "token", "", "external load: the SCIM bearer token of --target (default: PASSBRIDGE_BENCH_TOKEN)")
	fs.IntVar(&b.targetPID, "target-pid", 0, "external load: process id of the server, to report its resident memory")
	fs.StringVar(&b.watchWAL, "watch-wal", "", "external load: a SQLite -wal file whose size (after, and peak during) each run is reported")
	fs.IntVar(&b.runs, "runs", 1, "external load: runs of each phase (the median is printed too)")
	fs.DurationVar(&b.pause, "pause", 0, "external load: idle time between runs")
	fs.Int64Var(&b.maxRequests, "max-requests", 5_000_000, "requests per phase at most (warm-up included); the phase ends early when reached")
	fs.StringVar(&b.baselineListen, "baseline-listen", "", "serve the minimal net/http handler on this loopback address instead of measuring")
	fs.DurationVar(&b.baselineFor, "baseline-for", 30*time.Minute, "with --baseline-listen: stop serving after this long")
	fs.StringVar(&b.preloadInto, "preload-into", "", "preload the first --users count of users into this SQLite database (sqlite:/path/pb.db) and exit")
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
	b.ops = map[string]bool{}
	for _, o := range strings.Split(*ops, ",") {
		o = strings.TrimSpace(o)
		switch o {
		case "filter", "id", "create":
			b.ops[o] = true
		case "":
		default:
			fmt.Fprintf(stderr, "passbridge bench: --ops: unknown phase %q (filter, id, create)\n", o)
			return nil, 2
		}
	}
	if b.token == "" {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PASSBRIDGE_BENCH_TOKEN="); ok {
				b.token = v
			}
		}
	}
	if msg := b.checkTargetFlags(); msg != "" {
		fmt.Fprintf(stderr, "passbridge bench: %s\n", msg)
		return nil, 2
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
	if m := b.externalMode(); m != nil {
		if err := m(ctx, b); err != nil {
			fmt.Fprintf(stderr, "passbridge bench: %v\n", err)
			return 1
		}
		return 0
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
	applyRuntime(config.Runtime{GOGC: b.gogc, MemoryLimitMB: b.memLimitMB}, env, slog.New(slog.DiscardHandler))
	gogc := debug.SetGCPercent(-1)
	debug.SetGCPercent(gogc)
	fmt.Fprintf(stdout, "passbridge bench: %s, GOMAXPROCS=%d, %s, load %s, GOGC=%d, memory limit %s, background %v\n", b.db, runtime.GOMAXPROCS(0),
		runtime.Version(), loadAvg(), gogc, fmtMB(debug.SetMemoryLimit(-1)), b.background)
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
	dbURL, clean, err := b.existingDB, func() {}, error(nil)
	if dbURL == "" {
		dbURL, clean, err = b.freshDB(ctx, name)
	}
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
	return fanOut(ctx, n, conns, func(i int) (string, error) {
		u, err := st.CreateUser(ctx, user(i), connector.Change{})
		return u.ID, err
	})
}

// preloadQueued creates users 0..n-1 through svc, as a SCIM create does:
// each one pending with its invitation job and its user.created event, so
// that with the worker off the outbox is n jobs deep.
func preloadQueued(ctx context.Context, svc *connector.Service, n, conns int) ([]string, time.Duration, error) {
	return fanOut(ctx, n, conns, func(i int) (string, error) {
		email := benchEmail("bench", i)
		doc, _ := json.Marshal(map[string]any{
			"userName": email, "active": true,
			"name":        map[string]any{"givenName": "Bench", "familyName": "User"},
			"displayName": "Bench User",
			"emails":      []any{map[string]any{"value": email, "type": "work", "primary": true}},
		})
		u, err := svc.CreateUser(ctx, "bench", connector.User{UserName: email, Active: true, Emails: []string{email}, Doc: doc})
		return u.ID, err
	})
}

// fanOut runs create(0..n-1) on conns goroutines and returns the ids in
// order, stopping at the first error or when ctx ends.
func fanOut(ctx context.Context, n, conns int, create func(i int) (string, error)) ([]string, time.Duration, error) {
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
				id, err := create(i)
				if err != nil {
					errc <- fmt.Errorf("preload user %d: %w", i, err)
					return
				}
				ids[i] = id
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
	gcs      uint64 // garbage collections during the measured time
}

// gcPerSec is the collector's rate during the measured time.
func (r loadResult) gcPerSec() float64 { return float64(r.gcs) / r.dur.Seconds() }

// gcCycles reads the number of completed GC cycles.
func gcCycles() uint64 {
	s := []rmetrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	rmetrics.Read(s)
	if s[0].Value.Kind() != rmetrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
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
		sent     atomic.Int64
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
				if b.maxRequests > 0 && sent.Add(1) > b.maxRequests {
					break
				}
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
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	sleep := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-finished: // --max-requests reached
		}
	}
	sleep(b.warmup)
	measured.Store(true)
	t0, gc0 := time.Now(), gcCycles()
	sleep(b.duration)
	stop.Store(true)
	res.dur, res.gcs = time.Since(t0), gcCycles()-gc0
	<-finished
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
