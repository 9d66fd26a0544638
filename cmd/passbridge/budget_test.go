package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/graph/graphsim"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/scim"
)

// Issue 14: the simulated tenant enforces its invitation limit; two
// replicas on one database push sign-ups at the same time, then one is
// restarted and pushes more at once. With a window per process the two
// together send twice the limit, and the restarted one starts with an empty
// window while the tenant still counts the previous sends: 429s. With the
// budget shared through the database: none, and every user is invited.
func TestInviteBudgetTwoReplicasAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("timed: several invitation windows")
	}
	const (
		limit  = 10
		window = time.Second
	)
	sim := graphsim.New(graphsim.WithInvitationRateLimit(limit, window))
	sc := &statusCounter{next: sim.Handler()}
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simSrv := &http.Server{Handler: sc, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = simSrv.Serve(simLn) }()
	defer simSrv.Close()
	simURL := "http://" + simLn.Addr().String()
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "pb.db")
	token, sum, err := config.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	type replica struct {
		scim testkit.SCIM
		stop func()
	}
	start := func() replica {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		cfg := config.Default()
		cfg.Database.URL = dbURL
		cfg.Graph.Endpoint = simURL
		cfg.SCIM.Tokens = []config.Token{{Name: "budget", SHA256: sum}}
		cfg.Invitation.RedirectURL = "https://myapps.microsoft.com"
		cfg.Policy.AllowedDomains = []string{"gov.sg", "*.gov.sg"}
		dir, err := graph.New(ctx, graph.Options{Endpoint: simURL, TokenCredential: simCredential(sim), Logger: log,
			// The tenant's limit, with the margin the default has for a
			// request's travel.
			InvitationLimit: limit, InvitationWindow: window + 100*time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		a, err := newApp(ctx, cfg, log, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		a.tweak = func(o *connector.Options) {
			o.Worker.PollInterval = 20 * time.Millisecond
			o.Worker.Concurrency = 4
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := a.serve(ctx, ln); err != nil {
				t.Errorf("serve: %v", err)
			}
		}()
		stop := func() { cancel(); <-done; a.Close() }
		t.Cleanup(func() {
			select {
			case <-done:
			default:
				stop()
			}
		})
		return replica{scim: testkit.SCIM{Base: "http://" + ln.Addr().String() + scim.Prefix, Token: token}, stop: stop}
	}
	next := 0
	push := func(r replica, n int) {
		t.Helper()
		for range n {
			email := fmt.Sprintf("budget-%d@agency.gov.sg", next)
			next++
			if res := r.scim.Do(t, "POST", "/Users", userBody(email, false)); res.Status != http.StatusCreated {
				t.Fatalf("create %s: %d %s", email, res.Status, res.Body)
			}
		}
	}
	waitInvited := func(n int) {
		t.Helper()
		deadline := time.Now().Add(time.Duration(n/limit+5) * window * 2)
		for len(sim.Invitations()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d invited (429s: %d)", len(sim.Invitations()), n, sc.s429.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	a, b := start(), start()
	push(a, 15)
	push(b, 15)
	waitInvited(30)
	// Restart a just after the last sends, and push more at once.
	a.stop()
	a2 := start()
	push(a2, 15)
	waitInvited(45)
	if n := sc.s429.Load(); n != 0 {
		t.Errorf("the tenant answered 429 %d times; the shared budget should keep both replicas and a restart under its limit", n)
	}
}
