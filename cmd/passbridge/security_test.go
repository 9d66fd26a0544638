package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/graph/graphsim"
	"github.com/passbridge/passbridge/internal/testkit"
)

// sentinel returns a unique marker: if it shows anywhere it should not, it
// came from exactly where the test planted it.
func sentinel(t *testing.T, what string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "SNTL" + what + hex.EncodeToString(b)
}

// secConfig writes a serve configuration. server and azure are extra lines
// for those sections (indented by two spaces); rest is appended.
func secConfig(t *testing.T, dir, name, listen, tokenSHA, dbURL, graphURL, server, azure, rest string) string {
	t.Helper()
	yaml := fmt.Sprintf(`server:
  listen: %q
%slog:
  level: debug
  format: json
scim:
  tokens:
    - name: security-test
      sha256: %s
database:
  url: %q
graph:
  endpoint: %q
azure:
%sinvitation:
  redirectURL: https://myapps.microsoft.com
policy:
  allowedDomains: ["gov.sg", "*.gov.sg"]
%s`, listen, server, tokenSHA, dbURL, graphURL, azure, rest)
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runPB runs one passbridge command to its end (at most a minute) and
// returns its combined output and exit code.
func runPB(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "PB_TEST_RUN_MAIN=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("passbridge %v did not end within a minute:\n%s", args, out.String())
	}
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("passbridge %v: %v", args, err)
	}
	return out.String(), code
}

// procLog returns what p has written so far. Read it before the process
// ends: startProc's unlocked Stdout (a *bytes.Buffer fed by io.Copy, i.e.
// bytes.Buffer.ReadFrom) truncates the shared buffer to its own empty view
// when the process exits.
func procLog(p *proc) string {
	if lw, ok := p.cmd.Stderr.(*lockedWriter); ok {
		lw.mu.Lock()
		defer lw.mu.Unlock()
	}
	return p.out.String()
}

// stopProc sends SIGTERM and returns everything p logged.
func stopProc(p *proc) string {
	before := procLog(p)
	p.kill(syscall.SIGTERM)
	if after := procLog(p); len(after) > len(before) {
		return after
	}
	return before
}

// assertNoSentinel fails for every sentinel found in text.
func assertNoSentinel(t *testing.T, where, text string, sentinels map[string]string) {
	t.Helper()
	for name, s := range sentinels {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 {
			t.Errorf("%s holds the %s: ...%s...", where, name, text[max(0, i-300):min(len(text), i+len(s)+100)])
		}
	}
}

// A slowloris against the real process: connections that send their
// headers a byte at a time, or nothing, are closed after
// server.readHeaderTimeout, a body dribbled slower than server.readTimeout
// is cut off, and meanwhile /healthz and SCIM answer at once.
func TestSecuritySlowloris(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	sim, simSrv := graphsim.Start()
	defer simSrv.Close()
	token, sum, err := config.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listen := freeAddr(t)
	cfg := secConfig(t, dir, "slowloris", listen, sum, "sqlite:"+filepath.Join(dir, "pb.db"), simSrv.URL,
		"  readHeaderTimeout: 1s\n  readTimeout: 2s\n", "  credential: managed\n", "")
	p := startProc(t, cfg, listen, token, sim, simSrv.URL)

	const (
		dribblers = 60 // headers a byte every 100 ms: 30 s to finish, were they let
		silent    = 30 // connect and say nothing
		slowBody  = 10 // headers at once, then a body byte every 100 ms
	)
	type result struct {
		kind   string
		closed time.Duration // -1: never closed
	}
	results := make(chan result, dribblers+silent+slowBody)
	start := time.Now()
	headers := "POST /scim/v2/Users HTTP/1.1\r\nHost: " + listen + "\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/scim+json\r\nX-Pad: " + strings.Repeat("a", 250) + "\r\n"
	for i := range dribblers + silent + slowBody {
		kind := "dribble"
		switch {
		case i >= dribblers+silent:
			kind = "slow-body"
		case i >= dribblers:
			kind = "silent"
		}
		go func() {
			c, err := net.DialTimeout("tcp", listen, 5*time.Second)
			if err != nil {
				results <- result{kind, 0}
				return
			}
			defer c.Close()
			t0 := time.Now()
			_ = c.SetDeadline(t0.Add(10 * time.Second)) // bounded whatever the server does
			done := make(chan time.Duration, 1)
			go func() {
				// The server ends the connection: EOF, a reset, or a 408.
				_, _ = io.Copy(io.Discard, c)
				done <- time.Since(t0)
			}()
			var payload string
			switch kind {
			case "dribble":
				payload = headers + "\r\n"
			case "slow-body":
				if _, err := io.WriteString(c, headers+"Content-Length: 300\r\n\r\n"); err != nil {
					results <- result{kind, time.Since(t0)}
					return
				}
				payload = strings.Repeat("x", 300)
			}
			for j := 0; j < len(payload); j++ {
				select {
				case d := <-done:
					results <- result{kind, d}
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := c.Write([]byte{payload[j]}); err != nil {
					break
				}
			}
			select {
			case d := <-done:
				results <- result{kind, d}
			case <-time.After(10 * time.Second):
				results <- result{kind, -1}
			}
		}()
	}

	// While they hang on, the server answers.
	time.Sleep(300 * time.Millisecond) // let the attackers connect
	probe := func(when string) {
		t.Helper()
		client := &http.Client{Timeout: 5 * time.Second}
		for _, path := range []string{"/healthz", "/readyz", "/scim/v2/Users?count=1"} {
			req, _ := http.NewRequest("GET", "http://"+listen+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			t0 := time.Now()
			res, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: GET %s: %v", when, path, err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if d := time.Since(t0); res.StatusCode != 200 || d > time.Second {
				t.Fatalf("%s: GET %s: %d in %s; want 200 within 1s", when, path, res.StatusCode, d)
			}
		}
	}
	probe("during the slowloris")
	if st, m, err := scimReq(context.Background(), "POST", p.base+"/Users", token, userBody("slow@tech.gov.sg", false)); err != nil || st != 200 {
		t.Fatalf("during the slowloris: POST /Users: %d %v %v", st, m, err)
	}

	counts := map[string][]time.Duration{}
	for range dribblers + silent + slowBody {
		r := <-results
		counts[r.kind] = append(counts[r.kind], r.closed)
	}
	limits := map[string]time.Duration{"dribble": 3 * time.Second, "silent": 3 * time.Second, "slow-body": 4 * time.Second}
	for kind, ds := range counts {
		var worst time.Duration
		for _, d := range ds {
			if d < 0 {
				t.Fatalf("%s: a connection was never closed by the server", kind)
			}
			if d < 500*time.Millisecond {
				t.Errorf("%s: closed after %s: before the timeout, so not by it (could not connect?)", kind, d)
			}
			worst = max(worst, d)
		}
		if worst > limits[kind] {
			t.Errorf("%s: the slowest was closed after %s, want within %s", kind, worst, limits[kind])
		}
		t.Logf("slowloris %s: %d connections, all closed by the server, the last after %s", kind, len(ds), worst.Round(10*time.Millisecond))
	}
	probe("after the slowloris")
	t.Logf("whole slowloris test: %s", time.Since(start).Round(10*time.Millisecond))
	p.kill(syscall.SIGTERM)
}

// simRecorder wraps the Graph simulator and keeps every bearer secret it
// hands out: invitation redeem URLs (and their tickets) and access tokens.
type simRecorder struct {
	h       http.Handler
	mu      sync.Mutex
	secrets map[string]string
	redeems int
}

func (rc *simRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := &teeWriter{ResponseWriter: w}
	rc.h.ServeHTTP(cw, r)
	var v any
	if json.Unmarshal(cw.buf.Bytes(), &v) != nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.walk(v)
}

func (rc *simRecorder) walk(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			s, _ := e.(string)
			switch {
			case strings.EqualFold(k, "inviteRedeemUrl") && s != "":
				rc.redeems++
				n := fmt.Sprint(rc.redeems)
				rc.secrets["inviteRedeemUrl "+n] = s
				if u, err := url.Parse(s); err == nil {
					inner := u.Query().Get("rd")
					rc.secrets["inviteRedeemUrl (inner) "+n] = inner
					if iu, err := url.Parse(inner); err == nil {
						rc.secrets["redeem ticket "+n] = iu.Query().Get("ticket")
					}
				}
			case strings.EqualFold(k, "access_token") && s != "":
				rc.secrets[fmt.Sprintf("access token %d", len(rc.secrets))] = s
			default:
				rc.walk(e)
			}
		}
	case []any:
		for _, e := range x {
			rc.walk(e)
		}
	}
}

func (rc *simRecorder) snapshot() (map[string]string, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]string, len(rc.secrets))
	for k, v := range rc.secrets {
		out[k] = v
	}
	return out, rc.redeems
}

type teeWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if t.buf.Len() < 1<<20 {
		t.buf.Write(b)
	}
	return t.ResponseWriter.Write(b)
}

// httpDo sends one request and returns the whole answer as text.
func httpDo(t *testing.T, method, url, auth, body string) (int, string) {
	t.Helper()
	var b any
	if body != "" {
		b = body
	}
	var headers []string
	if auth != "" {
		headers = []string{"Authorization", auth}
	}
	r := testkit.SCIM{Client: &http.Client{Timeout: 20 * time.Second}}.Do(t, method, url, b, headers...)
	return r.Status, fmt.Sprintf("%d %v %s", r.Status, r.Header, r.Body)
}

// The real serve process, at debug level, with a sentinel SCIM token and a
// sentinel (unused) client secret, driven through refused credentials, bad
// bodies and Graph faults while invitations are sent: neither they, nor the
// redeem URLs and access tokens Graph hands out, show in the log or in any
// SCIM answer.
func TestSecuritySentinelsServe(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	scimToken := sentinel(t, "scimtoken")
	clientSecret := sentinel(t, "clientsecret")
	presented := sentinel(t, "presented")
	sim := graphsim.New(graphsim.WithSeed(3))
	rec := &simRecorder{h: sim.Handler(), secrets: map[string]string{}}
	simSrv := httptest.NewServer(rec)
	defer simSrv.Close()
	sim.InjectFault(graphsim.Fault{Route: "POST /invitations", Status: 503, Times: 2})
	sim.InjectFault(graphsim.Fault{Route: "POST /invitations", Status: 429, RetryAfter: time.Second, Times: 1})
	sim.InjectFault(graphsim.Fault{Route: "POST /invitations", Status: 500, AfterHandling: true, Times: 1})
	sim.InjectFault(graphsim.Fault{Route: "GET /users", Status: 500, Times: 2})

	dir := t.TempDir()
	listen := freeAddr(t)
	cfg := secConfig(t, dir, "sentinels", listen, config.HashToken(scimToken), "sqlite:"+filepath.Join(dir, "pb.db"), simSrv.URL, "",
		"  credential: managed\n  clientSecret: "+clientSecret+"\n", "reconcile:\n  interval: 1s\nworker:\n  lease: 10s\n")
	p := startProc(t, cfg, listen, scimToken, sim, simSrv.URL)

	var answers strings.Builder
	keep := func(st int, a string) { answers.WriteString(a + "\n") }
	good := "Bearer " + scimToken
	// Refused credentials (fewer than the limiter allows: the address stays usable).
	for _, h := range []string{"Bearer " + presented, "Basic " + presented, presented, "Bearer  " + scimToken, "Bearer " + scimToken + "x"} {
		keep(httpDo(t, "GET", p.base+"/Users", h, ""))
	}
	// Bad bodies and requests with the right token.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/Users", `{not json ` + presented},
		{"POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"pw@tech.gov.sg","emails":[{"value":"pw@tech.gov.sg"}],"password":"` + presented + `"}`},
		{"PATCH", "/Users/nope", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"password","value":"` + presented + `"}]}`},
		{"PUT", "/Users/nope", strings.Repeat("[", 5000)},
		{"POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@gmail.com","emails":[{"value":"x@gmail.com"}]}`},
		{"POST", "/Users", strings.Repeat("x", 2<<20)},
	} {
		keep(httpDo(t, c.method, p.base+c.path, good, c.body))
	}
	// Sign-ups invited through the faults.
	const n = 6
	ids := make([]string, 0, n)
	for i := range n {
		st, a := httpDo(t, "POST", p.base+"/Users", good, userBody(fmt.Sprintf("sentinel%d@tech.gov.sg", i), false))
		keep(st, a)
		if st != 201 {
			t.Fatalf("create: %s", a)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(a[strings.Index(a, "{"):]), &m)
		ids = append(ids, fmt.Sprint(m["id"]))
	}
	deadline := time.Now().Add(45 * time.Second)
	for _, id := range ids {
		for {
			st, a := httpDo(t, "GET", p.base+"/Users/"+id, good, "")
			keep(st, a)
			if strings.Contains(a, `"onboardingState":"invited"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("user %s not invited in time: %s\n%s", id, a, procLog(p))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	keep(httpDo(t, "GET", p.base+"/Users?count=100", good, ""))
	// Last, a flood of bad tokens: the limiter is on in the real process.
	var saw429 bool
	for i := range 12 {
		st, a := httpDo(t, "GET", p.base+"/Users", fmt.Sprintf("Bearer %s-%d", presented, i), "")
		keep(st, a)
		saw429 = saw429 || st == 429
	}
	if !saw429 {
		t.Error("12 bad tokens from one address were never answered 429")
	}
	logs := stopProc(p)

	secrets, redeems := rec.snapshot()
	// One invitation's answer is lost (the AfterHandling fault): the retry
	// finds the guest by e-mail and sends no second one.
	if redeems < n-1 {
		t.Fatalf("graphsim handed out %d redeem URLs for %d users: the check would prove little", redeems, n)
	}
	secrets["SCIM token"] = scimToken
	secrets["client secret"] = clientSecret
	if !strings.Contains(logs, `"level":"DEBUG"`) && !strings.Contains(logs, "scim request") {
		t.Fatalf("the process logged next to nothing; the check would prove nothing:\n%s", logs)
	}
	assertNoSentinel(t, "the serve log", logs, secrets)
	assertNoSentinel(t, "a SCIM answer", answers.String(), secrets)
	// Presented credentials are refused, not repeated.
	assertNoSentinel(t, "the serve log", logs, map[string]string{"presented credential": presented})
	for _, line := range strings.Split(answers.String(), "\n") {
		if strings.Contains(line, presented) {
			t.Errorf("an answer echoes a presented value: ...%s...", line[max(0, strings.Index(line, presented)-150):min(len(line), strings.Index(line, presented)+60)])
		}
	}
	t.Logf("checked %d bytes of log and %d of answers against %d sentinels (%d redeem URLs)", len(logs), answers.Len(), len(secrets)+1, redeems)
}

// A forward proxy that refuses everything and notes where it was asked to
// go: with HTTPS_PROXY pointing at it, a child process that tries to reach
// Entra gets a failure without any traffic leaving the machine (requests to
// loopback addresses are never proxied).
type refusingProxy struct {
	mu      sync.Mutex
	targets []string
}

func (p *refusingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.targets = append(p.targets, r.Method+" "+r.Host)
	p.mu.Unlock()
	http.Error(w, "refused by the test proxy", http.StatusForbidden)
}

func (p *refusingProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// azure.credential secret with a sentinel client secret, and Entra
// unreachable: the worker's failures are logged without the secret.
func TestSecuritySentinelsCredentialFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	scimToken := sentinel(t, "scimtoken")
	clientSecret := sentinel(t, "clientsecret")
	proxy := &refusingProxy{}
	proxySrv := httptest.NewServer(proxy)
	defer proxySrv.Close()
	t.Setenv("HTTPS_PROXY", proxySrv.URL)
	t.Setenv("HTTP_PROXY", proxySrv.URL)
	t.Setenv("NO_PROXY", "")
	sim, simSrv := graphsim.Start()
	defer simSrv.Close()
	dir := t.TempDir()
	listen := freeAddr(t)
	cfg := secConfig(t, dir, "credfail", listen, config.HashToken(scimToken), "sqlite:"+filepath.Join(dir, "pb.db"), simSrv.URL, "",
		"  credential: secret\n  tenantID: 5e3d3c5a-7d53-4b8e-9a55-0a1b2c3d4e5f\n  clientID: 0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\n  clientSecret: "+clientSecret+"\n", "")
	p := startProc(t, cfg, listen, scimToken, sim, simSrv.URL)
	st, a := httpDo(t, "POST", p.base+"/Users", "Bearer "+scimToken, userBody("cred@tech.gov.sg", false))
	if st != 201 {
		t.Fatalf("create: %s", a)
	}
	// Wait until the worker has tried Entra and logged its failure (the
	// SDK retries the unreachable sign-in endpoint for about half a minute).
	deadline := time.Now().Add(50 * time.Second)
	for len(proxy.seen()) == 0 || !strings.Contains(procLog(p), "access token") {
		if time.Now().After(deadline) {
			t.Fatalf("no credential failure logged within 50 s (proxy saw %d requests):\n%s", len(proxy.seen()), procLog(p))
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, a2 := httpDo(t, "GET", p.base+"/Users?count=10", "Bearer "+scimToken, "")
	logs := stopProc(p)
	for _, target := range proxy.seen() {
		if !strings.Contains(target, "login.microsoftonline.com") {
			t.Errorf("the process asked the proxy for %q", target)
		}
	}
	secrets := map[string]string{"client secret": clientSecret, "SCIM token": scimToken}
	assertNoSentinel(t, "the serve log", logs, secrets)
	assertNoSentinel(t, "a SCIM answer", a+a2, secrets)
	t.Logf("Entra asked for %d times through the proxy; %d bytes of log checked", len(proxy.seen()), len(logs))
}

// knownTokenEcho marks a leak found by this test and owned elsewhere (see
// the skip in TestSecuritySentinelsConfigAndDatabase).
const knownTokenEcho = false

// The database password, the client secret and the SCIM token do not show
// when the database is unreachable at start (serve, reconcile), nor when
// "config validate" finds a configuration wrong, however it is wrong.
func TestSecuritySentinelsConfigAndDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dbPassword := sentinel(t, "dbpassword")
	clientSecret := sentinel(t, "clientsecret")
	scimToken := sentinel(t, "scimtoken")
	secrets := map[string]string{"database password": dbPassword, "client secret": clientSecret, "SCIM token": scimToken}
	dir := t.TempDir()
	closed := freeAddr(t) // nothing listens there
	_, closedPort, _ := net.SplitHostPort(closed)
	sum := config.HashToken(scimToken)
	secretAzure := "  credential: secret\n  tenantID: 5e3d3c5a-7d53-4b8e-9a55-0a1b2c3d4e5f\n  clientID: 0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\n  clientSecret: " + clientSecret + "\n"
	pg := "postgres://passbridge:" + dbPassword + "@127.0.0.1:" + closedPort + "/passbridge?sslmode=disable"

	// The database is unreachable: serve and reconcile fail at start.
	unreachable := secConfig(t, dir, "unreachable", freeAddr(t), sum, pg, "https://graph.microsoft.com", "", secretAzure, "")
	for _, args := range [][]string{{"serve", "--config", unreachable}, {"reconcile", "--config", unreachable}} {
		out, code := runPB(t, nil, args...)
		if code == 0 {
			t.Errorf("passbridge %s with an unreachable database: exit 0:\n%s", args[0], out)
		}
		if !strings.Contains(out, "127.0.0.1:"+closedPort) {
			t.Errorf("passbridge %s: the failure does not say where the database was looked for:\n%s", args[0], out)
		}
		assertNoSentinel(t, "passbridge "+args[0]+" output", out, secrets)
	}
	if out, code := runPB(t, nil, "config", "validate", "--config", unreachable); code != 0 || !strings.Contains(out, "OK") {
		t.Errorf("config validate of a valid configuration: exit %d:\n%s", code, out)
	} else {
		assertNoSentinel(t, "config validate output", out, secrets)
	}

	// Wrong configurations, each carrying the secrets.
	cases := map[string]struct {
		db, azure, rest string
		env             []string
	}{
		"bad-port":               {db: "postgres://passbridge:" + dbPassword + "@127.0.0.1:notaport/pb", azure: secretAzure},
		"bad-percent":            {db: "postgres://passbridge:" + dbPassword + "%zz@127.0.0.1:5432/pb", azure: secretAzure},
		"bad-scheme":             {db: "mysql://passbridge:" + dbPassword + "@127.0.0.1/pb", azure: secretAzure},
		"password-in-query":      {db: "postgres://127.0.0.1:" + closedPort + "/pb?password=" + dbPassword + "&sslmode=bogus", azure: secretAzure},
		"keyword-dsn":            {db: "host=127.0.0.1 port=" + closedPort + " password=" + dbPassword, azure: secretAzure},
		"secret-missing-ids":     {db: pg, azure: "  credential: secret\n  clientSecret: " + clientSecret + "\n"},
		"secret-as-map":          {db: pg, azure: "  credential: secret\n  clientSecret: {" + clientSecret + ": 1}\n"},
		"secret-as-list":         {db: pg, azure: "  credential: secret\n  clientSecret: [" + clientSecret + "]\n"},
		"secret-tagged":          {db: pg, azure: "  credential: secret\n  clientSecret: !!binary " + clientSecret + "\n"},
		"secret-bad-ref":         {db: pg, azure: "  credential: secret\n  clientSecret: \"${" + clientSecret + "-x}\"\n"},
		"secret-unterminated":    {db: pg, azure: "  credential: secret\n  clientSecret: \"" + clientSecret + "\n"},
		"secret-key-typo":        {db: pg, azure: "  credential: secret\n  clientSecrett: " + clientSecret + "\n"},
		"secret-twice":           {db: pg, azure: "  credential: secret\n  clientSecret: " + clientSecret + "\n  clientSecret: " + clientSecret + "\n"},
		"env-database-url":       {db: "sqlite:" + filepath.Join(dir, "x.db"), azure: secretAzure, env: []string{"PASSBRIDGE_DATABASE_URL=postgres://u:" + dbPassword + "@127.0.0.1:99999999/x"}},
		"env-client-secret":      {db: pg, azure: "  credential: secret\n", env: []string{"PASSBRIDGE_AZURE_CLIENTSECRET={" + clientSecret}},
		"env-token-as-sha256":    {db: pg, azure: secretAzure, env: []string{"PASSBRIDGE_SCIM_TOKENS=techbiz:" + scimToken}},
		"env-token-alone":        {db: pg, azure: secretAzure, env: []string{"PASSBRIDGE_SCIM_TOKENS=" + scimToken}},
		"token-as-sha256":        {db: pg, azure: secretAzure},
		"token-instead-of-sha":   {db: pg, azure: secretAzure},
		"unknown-section-secret": {db: pg, azure: secretAzure, rest: "secrets:\n  clientSecret: " + clientSecret + "\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if name == "env-token-alone" && knownTokenEcho {
				t.Skip("known leak, config/load.go setRecord: PASSBRIDGE_SCIM_TOKENS=<the token itself> is quoted back in the problem (\"has 1 fields, want name:sha256\" after the quoted value); set knownTokenEcho false once fixed")
			}
			path := secConfig(t, dir, name, "127.0.0.1:8080", sum, c.db, "https://graph.microsoft.com", "", c.azure, c.rest)
			switch name {
			case "token-as-sha256": // the token pasted where its hash belongs
				raw, _ := os.ReadFile(path)
				_ = os.WriteFile(path, bytes.Replace(raw, []byte("sha256: "+sum), []byte("sha256: "+scimToken), 1), 0o600)
			case "token-instead-of-sha":
				raw, _ := os.ReadFile(path)
				_ = os.WriteFile(path, bytes.Replace(raw, []byte("sha256: "+sum), []byte("token: "+scimToken), 1), 0o600)
			}
			// Some are only found wrong when serve opens the database.
			out, _ := runPB(t, c.env, "config", "validate", "--config", path)
			assertNoSentinel(t, "config validate output", out, secrets)
			out, code := runPB(t, c.env, "serve", "--config", path)
			if code == 0 {
				t.Fatalf("serve accepted it:\n%s", out)
			}
			assertNoSentinel(t, "serve output", out, secrets)
		})
	}
}
