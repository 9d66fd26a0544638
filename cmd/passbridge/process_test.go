package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/graph/graphsim"
)

// The test binary doubles as passbridge: with PB_TEST_RUN_MAIN=1 it runs
// main, so process tests need no separate build of the (slow) binary.
func TestMain(m *testing.M) {
	if os.Getenv("PB_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// proc is a "passbridge serve" child process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	token  string
	out    *bytes.Buffer
	exited chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeConfig writes a serve configuration against the simulator at simURL
// and returns its path and the SCIM token.
func writeConfig(t *testing.T, dir, listen, dbURL, simURL string, extra string) (string, string) {
	t.Helper()
	token, sum, err := config.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`server:
  listen: %q
log:
  level: warn
  format: text
scim:
  tokens:
    - name: process-test
      sha256: %s
database:
  url: %q
graph:
  endpoint: %q
azure:
  credential: managed
invitation:
  redirectURL: https://myapps.microsoft.com
policy:
  allowedDomains: ["gov.sg", "*.gov.sg"]
%s`, listen, sum, dbURL, simURL, extra)
	path := filepath.Join(dir, fmt.Sprintf("passbridge-%s.yaml", strings.ReplaceAll(listen, ":", "_")))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, token
}

func startProc(t *testing.T, cfgPath, listen, token string, sim *graphsim.Sim, simURL string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "PB_TEST_RUN_MAIN=1",
		"IDENTITY_ENDPOINT="+graphsim.IdentityEndpoint(simURL), "IDENTITY_HEADER="+sim.IdentityHeader())
	out := &bytes.Buffer{}
	lw := &lockedWriter{w: out}
	cmd.Stdout, cmd.Stderr = lw, lw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, base: "http://" + listen + "/scim/v2", token: token, out: out, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get("http://" + listen + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("passbridge serve exited at start:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("passbridge serve not ready:\n%s", out)
		}
	}
}

func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func scimReq(ctx context.Context, method, url, token, body string) (int, map[string]any, error) {
	m, err := scimDo(ctx, method, url, token, body)
	if err != nil {
		if m != nil {
			return 400, m, nil
		}
		return 0, nil, err
	}
	return 200, m, nil
}

// A real "passbridge serve" killed with SIGKILL in the middle of a load of
// sign-ups, while Graph's answers to invitations are slow (the invitation
// exists before passbridge hears of it), then restarted: every user that got
// a 201 ends invited, and nobody is invited twice.
func TestCrashRestartExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	sim, simSrv := graphsim.Start(graphsim.WithSeed(11))
	defer simSrv.Close()
	sim.InjectFault(graphsim.Fault{Route: "POST /invitations", Latency: 40 * time.Millisecond, AfterHandling: true})
	dir := t.TempDir()
	listen := freeAddr(t)
	// A short lease: the killed worker's jobs come back 10 s after the crash.
	cfgPath, token := writeConfig(t, dir, listen, "sqlite:"+filepath.Join(dir, "pb.db"), simSrv.URL, "worker:\n  lease: 10s\n")
	p := startProc(t, cfgPath, listen, token, sim, simSrv.URL)

	const total = 1000
	var (
		mu     sync.Mutex
		acked  = map[string]string{} // email → id
		next   atomic.Int64
		killed atomic.Bool
		wg     sync.WaitGroup
	)
	ctx := context.Background()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= total || killed.Load() {
					return
				}
				time.Sleep(20 * time.Millisecond) // a steady stream, not a burst
				email := fmt.Sprintf("crash%04d@tech.gov.sg", i)
				m, err := scimDo(ctx, "POST", p.base+"/Users", token, userBody(email, false))
				if err != nil {
					continue // the process is gone: not acknowledged
				}
				mu.Lock()
				acked[email] = m["id"].(string)
				mu.Unlock()
			}
		}()
	}
	// Kill once the worker is busy inviting and sign-ups keep arriving.
	go func() {
		for !killed.Load() {
			if len(sim.Invitations()) >= 25 && next.Load() < total-20 {
				killed.Store(true)
				p.kill(syscall.SIGKILL)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	wg.Wait()
	if !killed.Load() {
		t.Fatal("the load finished before the kill")
	}
	before := len(sim.Invitations())
	t.Logf("killed with %d acknowledged users, %d invitations created so far", len(acked), before)

	p2 := startProc(t, cfgPath, listen, token, sim, simSrv.URL)
	for email, id := range acked {
		deadline := time.Now().Add(90 * time.Second)
		for {
			m, err := scimDo(ctx, "GET", p2.base+"/Users/"+id, token, "")
			if err == nil && ext(m)["onboardingState"] == "invited" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s (%s) not invited after restart: %v %v\n%s", email, id, m, err, p2.out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stats := sim.Stats()
	for email := range acked {
		if n := stats.InvitationsByEmail[email]; n != 1 {
			t.Errorf("%s: %d invitations, want 1", email, n)
		}
	}
	for email, n := range stats.InvitationsByEmail {
		if n > 1 {
			t.Errorf("%s (not acknowledged) invited %d times", email, n)
		}
	}
	t.Logf("after restart: %d acknowledged users all invited once; %d invitations in all (users committed but not acknowledged are invited too)",
		len(acked), len(sim.Invitations()))
	p2.kill(syscall.SIGTERM)
}
