package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/graph/graphsim"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/metrics"
	"github.com/passbridge/passbridge/scim"
)

// stack is passbridge served over real HTTP with the Graph simulator
// behind it: SCIM in, graph.Client (the real SDK) out.
type stack struct {
	t     *testing.T
	sim   *graphsim.Sim
	root  string // server URL
	base  string // SCIM base URL
	token string
	app   *app
}

func newStack(t *testing.T, simOpts []graphsim.Option, tweak func(*config.Config, *connector.Options)) *stack {
	t.Helper()
	return buildStack(t, simOpts, tweak, nil)
}

// buildStack is newStack, wired as serve wires it when m is set: one
// Metrics shared by the Graph client's transport and the app.
func buildStack(t *testing.T, simOpts []graphsim.Option, tweak func(*config.Config, *connector.Options), m *metrics.Metrics) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sim, simSrv := graphsim.Start(simOpts...)
	token, sum, err := config.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Database.URL = "sqlite:" + filepath.Join(t.TempDir(), "pb.db")
	cfg.Graph.Endpoint = simSrv.URL
	cfg.SCIM.Tokens = []config.Token{{Name: "e2e", SHA256: sum}}
	cfg.Invitation.RedirectURL = "https://myapps.microsoft.com"
	cfg.Policy.AllowedDomains = []string{"gov.sg", "*.gov.sg"}
	cfg.Agreements = demoAgreements
	cfg.Reconcile.Interval = config.Duration(200 * time.Millisecond)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	gopts := graph.Options{Endpoint: simSrv.URL, TokenCredential: simCredential(sim), Logger: log}
	var appOpts []wireOption
	if m != nil {
		gopts.HTTPClient = graphHTTPClient(m)
		appOpts = append(appOpts, withMetrics(m))
	}
	dir, err := graph.New(ctx, gopts)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(ctx, cfg, log, dir, nil, appOpts...)
	if err != nil {
		t.Fatal(err)
	}
	a.tweak = func(o *connector.Options) {
		o.Worker.PollInterval = 20 * time.Millisecond
		o.Worker.BackoffBase = 50 * time.Millisecond
		o.Worker.BackoffMax = 2 * time.Second
		o.Reconcile.SweepInterval = 500 * time.Millisecond
		if tweak != nil {
			tweak(cfg, o)
		}
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
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
		simSrv.Close()
	})
	root := "http://" + ln.Addr().String()
	return &stack{t: t, sim: sim, root: root, base: root + scim.Prefix, token: token, app: a}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// do sends one SCIM request with the stack's token and returns the status
// and the body as an object (nil when it is not one).
func (s *stack) do(method, path, body string, headers ...string) (int, map[string]any) {
	s.t.Helper()
	r := testkit.SCIM{Base: s.base, Token: s.token}.Do(s.t, method, path, body, headers...)
	return r.Status, r.Object()
}

func userBody(email string, seed bool) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:techpass:2.0:User"],
		"userName":%q,"emails":[{"value":%q,"type":"work","primary":true}],
		"urn:ietf:params:scim:schemas:extension:techpass:2.0:User":{"seedRequested":%v}}`, email, email, seed)
}

func (s *stack) create(email string) string {
	s.t.Helper()
	st, m := s.do("POST", "/Users", userBody(email, false))
	if st != 201 {
		s.t.Fatalf("create %s: %d %v", email, st, m)
	}
	return m["id"].(string)
}

func ext(m map[string]any) map[string]any {
	tp, _ := m[scim.URNTechPass].(map[string]any)
	return tp
}

// wait polls the user until cond holds.
func (s *stack) wait(id, what string, limit time.Duration, cond func(u map[string]any) bool) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	var last map[string]any
	for time.Now().Before(deadline) {
		st, m := s.do("GET", "/Users/"+id, "")
		if st == 200 {
			last = m
			if cond(m) {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("user %s: not %s after %s; last: %v", id, what, limit, last)
	return nil
}

func (s *stack) waitState(id string, state connector.State) map[string]any {
	s.t.Helper()
	return s.wait(id, string(state), 20*time.Second, func(u map[string]any) bool { return ext(u)["onboardingState"] == string(state) })
}

func TestE2EOnboarding(t *testing.T) {
	s := newStack(t, nil, nil)
	const email = "alice@tech.gov.sg"
	id := s.create(email)

	u := s.waitState(id, connector.StateInvited)
	tp := ext(u)
	if tp["guestId"] == nil || tp["invitedAt"] == nil || tp["expiresAt"] == nil {
		t.Fatalf("invited without guestId/invitedAt/expiresAt: %v", tp)
	}
	inv, _ := time.Parse(time.RFC3339, tp["invitedAt"].(string))
	exp, _ := time.Parse(time.RFC3339, tp["expiresAt"].(string))
	if d := exp.Sub(inv); d != 720*time.Hour {
		t.Errorf("expiresAt - invitedAt = %s, want 720h", d)
	}
	if n := s.sim.InvitationCount(email); n != 1 {
		t.Fatalf("%d invitations for %s, want 1", n, email)
	}
	guest, ok := s.sim.User(email)
	if !ok || guest.ID != tp["guestId"] {
		t.Fatalf("sim guest %v does not match guestId %v", guest, tp["guestId"])
	}

	if err := s.sim.Redeem(email); err != nil {
		t.Fatal(err)
	}
	s.waitState(id, connector.StateRedeemed)
	if err := s.sim.RegisterMFA(email, "microsoftAuthenticatorAuthenticationMethod"); err != nil {
		t.Fatal(err)
	}
	u = s.waitState(id, connector.StateMFARegistered)
	if methods := fmt.Sprint(ext(u)["mfaMethods"]); !strings.Contains(methods, "microsoftAuthenticator") {
		t.Errorf("mfaMethods = %s", methods)
	}
	// One agreement is not enough.
	if err := s.sim.AcceptAgreement(email, demoAgreements[0].ID, demoAgreements[0].Name); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // a few reconcile passes
	if _, m := s.do("GET", "/Users/"+id, ""); ext(m)["onboardingState"] != string(connector.StateMFARegistered) {
		t.Fatalf("onboarded with one of two agreements: %v", ext(m))
	}
	if err := s.sim.AcceptAgreement(email, demoAgreements[1].ID, demoAgreements[1].Name); err != nil {
		t.Fatal(err)
	}
	u = s.waitState(id, connector.StateOnboarded)
	if ags, _ := ext(u)["agreements"].([]any); len(ags) != 2 || ext(u)["onboardedAt"] == nil {
		t.Fatalf("onboarded without both agreements or onboardedAt: %v", ext(u))
	}
	// Still exactly one invitation, and the event log tells the story.
	if n := s.sim.InvitationCount(email); n != 1 {
		t.Fatalf("%d invitations, want 1", n)
	}
	evs, err := s.app.store.ListEvents(context.Background(), id, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < 4 {
		t.Fatalf("only %d events: %v", len(evs), evs)
	}
}

func TestE2EPolicyRejections(t *testing.T) {
	s := newStack(t, nil, nil)
	cases := map[string]struct {
		body, detail string
	}{
		"fail/public-mail": {userBody("bob@gmail.com", false), "gov.sg"},
		"fail/litemail": {`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"carol@tech.gov.sg","emails":[{"value":"carol@tech.gov.sg"}],
			"urn:ietf:params:scim:schemas:extension:techpass:2.0:User":{"mailboxType":"LiteMail"}}`, "LiteMail"},
		"fail/not-an-address": {`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"dave","emails":[{"value":"dave at tech"}]}`, "email"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st, m := s.do("POST", "/Users", tc.body)
			if st != 400 || m["scimType"] != "invalidValue" || !strings.Contains(strings.ToLower(fmt.Sprint(m["detail"])), strings.ToLower(tc.detail)) {
				t.Fatalf("%d %v", st, m)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if n := s.sim.Calls("POST /invitations"); n != 0 {
		t.Fatalf("%d invitations sent for rejected users", n)
	}
}

func TestE2EDeactivateReactivateDelete(t *testing.T) {
	s := newStack(t, nil, nil)
	const email = "erin@tech.gov.sg"
	id := s.create(email)
	u := s.waitState(id, connector.StateInvited)
	guestID := ext(u)["guestId"].(string)

	st, m := s.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`)
	if st != 200 || m["active"] != false {
		t.Fatalf("deactivate: %d %v", st, m)
	}
	waitSim(t, "disabled", func() bool { g, _ := s.sim.User(guestID); return !g.AccountEnabled && !g.SessionsRevokedAt.IsZero() })

	st, _ = s.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"True"}]}`)
	if st != 200 {
		t.Fatalf("reactivate: %d", st)
	}
	waitSim(t, "re-enabled", func() bool { g, _ := s.sim.User(guestID); return g.AccountEnabled })
	s.waitState(id, connector.StateInvited)

	if st, _ := s.do("DELETE", "/Users/"+id, ""); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	waitSim(t, "deleted", func() bool { g, ok := s.sim.User(guestID); return !ok || g.Deleted })
	if n := s.sim.InvitationCount(email); n != 1 {
		t.Fatalf("%d invitations, want 1", n)
	}
}

func waitSim(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("tenant: not %s in time", what)
}

// Graph failing 20% of requests with 429 and 20% with 5xx: every user is
// still invited exactly once.
func TestE2EFaultsExactlyOnce(t *testing.T) {
	s := newStack(t, []graphsim.Option{graphsim.WithSeed(7)}, nil)
	s.sim.InjectFault(graphsim.Fault{Status: 429, RetryAfter: time.Second, Fraction: 0.2})
	s.sim.InjectFault(graphsim.Fault{Status: 503, Fraction: 0.25}) // 25% of the remaining 80% = 20% of all
	const n = 60
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ids[i] = s.create(fmt.Sprintf("user%03d@tech.gov.sg", i))
		}(i)
	}
	wg.Wait()
	// Each invitation now also looks the address up and reads the answer
	// back (provenance), so with 40% of calls failing the last of 60 users
	// takes about 70 s on 2 busy cores: the bound is liveness, not speed.
	for _, id := range ids {
		s.wait(id, "invited", 3*time.Minute, func(u map[string]any) bool {
			st := ext(u)["onboardingState"]
			return st == "invited"
		})
	}
	stats := s.sim.Stats()
	for i := 0; i < n; i++ {
		e := fmt.Sprintf("user%03d@tech.gov.sg", i)
		if c := stats.InvitationsByEmail[e]; c != 1 {
			t.Errorf("%s invited %d times", e, c)
		}
	}
	t.Logf("faults: %d users, POST /invitations answered %d times, %d invitations created; calls %v",
		n, s.sim.Calls("POST /invitations"), len(s.sim.Invitations()), stats.Calls)
}
