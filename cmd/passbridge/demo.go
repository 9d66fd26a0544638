package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/graph/graphsim"
	"github.com/passbridge/passbridge/mail"
	"github.com/passbridge/passbridge/metrics"
	"github.com/passbridge/passbridge/scim"
)

// The demo tenant's agreements (ids are the simulator's, not a real tenant's).
var demoAgreements = []config.Agreement{
	{Name: "Privacy Policy", ID: "4f8c3a1e-6b2d-4c9e-8a7f-1d2e3f4a5b6c", RequiredWhen: config.RequiredAlways},
	{Name: "Terms of Use", ID: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", RequiredWhen: config.RequiredAlways},
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the SCIM server")
	walk := fs.Bool("walkthrough", true, "sign up a sample user and play that person's part until onboarded")
	exit := fs.Bool("exit", false, "exit after the walkthrough instead of serving on")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: passbridge demo [--listen ADDR] [--walkthrough=false] [--exit]

Runs passbridge with everything embedded: the SCIM server, the worker and the
reconciler, the Microsoft Graph simulator instead of a tenant, and SQLite in
a temporary folder. Prints the SCIM URL, a bearer token and curl lines to sign
someone up and to act as that person (redeem the invitation, register MFA,
accept the terms). By default it first walks a sample user to "onboarded".
passbridge mails the invitations itself (invitation.sendEmail false, as with
mail.smtp set); the demo keeps those mails instead of sending them and prints
each one, its redeem link redacted. Ctrl-C stops it and removes the
temporary folder.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	dirPath, err := os.MkdirTemp("", "passbridge-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "passbridge demo: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dirPath)

	// The Graph simulator, on a free loopback port.
	sim := graphsim.New()
	simAddr := make(chan net.Addr, 1)
	simErr := make(chan error, 1)
	go func() { simErr <- sim.Serve(ctx, "127.0.0.1:0", func(a net.Addr) { simAddr <- a }) }()
	var simURL string
	select {
	case a := <-simAddr:
		simURL = "http://" + a.String()
	case err := <-simErr:
		fmt.Fprintf(stderr, "passbridge demo: graph simulator: %v\n", err)
		return 1
	}

	token, sum, err := config.NewToken()
	if err != nil {
		fmt.Fprintf(stderr, "passbridge demo: %v\n", err)
		return 1
	}
	cfg := config.Default()
	cfg.Server.Listen = *listen
	cfg.Server.PublicURL = "http://" + *listen
	cfg.Log.Format, cfg.Log.Level = "text", "warn"
	cfg.Database.URL = "sqlite:" + filepath.Join(dirPath, "passbridge.db")
	cfg.Graph.Endpoint = simURL
	cfg.SCIM.Tokens = []config.Token{{Name: "demo", SHA256: sum}}
	cfg.Invitation.RedirectURL = "https://myapps.microsoft.com"
	cfg.Policy.AllowedDomains = []string{"gov.sg", "*.gov.sg"}
	cfg.Agreements = demoAgreements
	// passbridge mails the invitation itself, into memory (shown below).
	cfg.Invitation.SendEmail = false
	// A short pause between reconcile passes, so that changes show at once.
	cfg.Reconcile.Interval = config.Duration(2 * time.Second)
	cfg.Reconcile.Lease = config.Duration(10 * time.Second)
	if err := cfg.Validate(config.ForServe()); err != nil {
		// Only the reconcile interval is below the production minimum.
		if ps, ok := err.(*config.Problems); !ok || ps.Len() != 1 {
			fmt.Fprintf(stderr, "passbridge demo: %v\n", err)
			return 1
		}
	}
	log := newLogger(stderr, cfg.Log)

	m := metrics.New(metrics.Options{Logger: log})
	dir, err := graph.New(ctx, graph.Options{Endpoint: simURL, TokenCredential: simCredential(sim), Logger: log, HTTPClient: graphHTTPClient(m)})
	if err != nil {
		fmt.Fprintf(stderr, "passbridge demo: %v\n", err)
		return 1
	}
	mails, err := mail.NewMemory(nil, "demo.passbridge.invalid")
	if err != nil {
		fmt.Fprintf(stderr, "passbridge demo: %v\n", err)
		return 1
	}
	a, err := newApp(ctx, cfg, log, dir, nil, withMetrics(m), withMailer(mailerFor{mails}))
	if err != nil {
		fmt.Fprintf(stderr, "passbridge demo: %v\n", err)
		return 1
	}
	defer a.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "passbridge demo: %v (choose another address with --listen)\n", err)
		return 1
	}
	served := make(chan error, 1)
	go func() { served <- a.serve(ctx, ln) }()

	base := "http://" + ln.Addr().String() + scim.Prefix
	printDemoHelp(stdout, base, simURL, token)
	shown := 0
	if *walk {
		if err := walkthrough(ctx, stdout, base, token, sim, mails, &shown); err != nil {
			fmt.Fprintf(stderr, "passbridge demo: walkthrough: %v\n", err)
			cancel()
			<-served
			return 1
		}
	}
	if *exit {
		cancel()
		<-served
		return 0
	}
	fmt.Fprintln(stdout, "\nServing until Ctrl-C. Try the curl lines above with your own address.")
	go showMails(ctx, stdout, mails, shown)
	if err := <-served; err != nil {
		fmt.Fprintf(stderr, "passbridge demo: %v\n", err)
		return 1
	}
	return 0
}

func printDemoHelp(w io.Writer, base, simURL, token string) {
	fmt.Fprintf(w, `passbridge demo
  SCIM API:       %[1]s
  bearer token:   %[3]s
  Graph (sim):    %[2]s/v1.0

Sign someone up (an organisational address: gov.sg or *.gov.sg):
  curl -s -X POST %[1]s/Users -H "Authorization: Bearer %[3]s" -H "Content-Type: application/scim+json" \
    -d '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob@tech.gov.sg","emails":[{"value":"bob@tech.gov.sg","type":"work","primary":true}]}'
Watch the onboarding state:
  curl -s "%[1]s/Users?filter=userName+eq+%%22bob@tech.gov.sg%%22" -H "Authorization: Bearer %[3]s"
Act as that person in the tenant (the Graph simulator's control API):
  curl -s -X POST %[2]s/_sim/redeem -d '{"user":"bob@tech.gov.sg"}'
  curl -s -X POST %[2]s/_sim/mfa -d '{"user":"bob@tech.gov.sg","method":"microsoftAuthenticatorAuthenticationMethod"}'
  curl -s -X POST %[2]s/_sim/agreements -d '{"user":"bob@tech.gov.sg","agreementId":"%[4]s","agreementName":"%[5]s"}'
  curl -s -X POST %[2]s/_sim/agreements -d '{"user":"bob@tech.gov.sg","agreementId":"%[6]s","agreementName":"%[7]s"}'
`, base, simURL, token, demoAgreements[0].ID, demoAgreements[0].Name, demoAgreements[1].ID, demoAgreements[1].Name)
}

// walkthrough signs up a sample user over SCIM and plays that person's
// part in the simulated tenant, printing each onboarding state it sees.
func walkthrough(ctx context.Context, w io.Writer, base, token string, sim *graphsim.Sim, mails *mail.Memory, shown *int) error {
	const email = "alice@tech.gov.sg"
	fmt.Fprintf(w, "\nWalkthrough: signing up %s\n", email)
	body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"name":{"givenName":"Alice","familyName":"Tan"},"emails":[{"value":%q,"type":"work","primary":true}]}`, email, email)
	res, err := scimDo(ctx, http.MethodPost, base+"/Users", token, body)
	if err != nil {
		return err
	}
	id, _ := res["id"].(string)
	if id == "" {
		return fmt.Errorf("create: %v", res)
	}
	steps := []struct {
		want string
		act  func() error
		what string
	}{
		{"invited", nil, "passbridge invites her as a B2B guest through Microsoft Graph"},
		{"redeemed", func() error { return sim.Redeem(email) }, "she accepts the invitation"},
		{"mfaRegistered", func() error { return sim.RegisterMFA(email, "microsoftAuthenticatorAuthenticationMethod") }, "she registers Microsoft Authenticator"},
		{"onboarded", func() error {
			for _, ag := range demoAgreements {
				if err := sim.AcceptAgreement(email, ag.ID, ag.Name); err != nil {
					return err
				}
			}
			return nil
		}, "she accepts the Privacy Policy and the Terms of Use"},
	}
	fmt.Fprintf(w, "  %-14s SCIM user %s created (201)\n", "pending", id)
	for _, st := range steps {
		if st.act != nil {
			if err := st.act(); err != nil {
				return fmt.Errorf("%s: %w", st.what, err)
			}
		}
		state, err := waitState(ctx, base, token, id, st.want, 90*time.Second)
		if err != nil {
			return fmt.Errorf("waiting for %s (last state %q): %w", st.want, state, err)
		}
		fmt.Fprintf(w, "  %-14s %s\n", state, st.what)
		if st.want == "invited" {
			if err := waitMail(ctx, mails, *shown+1, 30*time.Second); err != nil {
				return fmt.Errorf("waiting for the invitation mail: %w", err)
			}
			for _, m := range mails.Sent()[*shown:] {
				printMail(w, m)
				*shown++
			}
		}
	}
	fmt.Fprintf(w, "Done: GET %s/Users/%s shows the whole story in the techpass extension.\n", base, id)
	return nil
}

func waitState(ctx context.Context, base, token, id, want string, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	state := ""
	for time.Now().Before(deadline) {
		res, err := scimDo(ctx, http.MethodGet, base+"/Users/"+id, token, "")
		if err != nil {
			return state, err
		}
		if tp, ok := res[scim.URNTechPass].(map[string]any); ok {
			state, _ = tp["onboardingState"].(string)
		}
		if state == want {
			return state, nil
		}
		if state == "failed" {
			return state, fmt.Errorf("onboarding failed: %v", res[scim.URNTechPass])
		}
		select {
		case <-ctx.Done():
			return state, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return state, fmt.Errorf("not %s after %s", want, limit)
}

func scimDo(ctx context.Context, method, url, token, body string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := demoClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s %s: HTTP %d, body not JSON: %w", method, url, res.StatusCode, err)
	}
	if res.StatusCode >= 400 {
		return m, fmt.Errorf("%s %s: HTTP %d: %v", method, url, res.StatusCode, m["detail"])
	}
	return m, nil
}

// demoClient bounds each request of the walkthrough, so that a stuck server
// shows as an error instead of a demo that waits for ever.
var demoClient = &http.Client{Timeout: 30 * time.Second}

// simCredential gets tokens from the simulator, as a managed identity
// would from Entra ID.
func simCredential(sim *graphsim.Sim) graph.TokenFunc {
	return func(_ context.Context, scope string) (string, time.Time, error) {
		tok, exp := sim.Token(scope)
		return tok, exp, nil
	}
}

// waitMail waits until mails holds n mails.
func waitMail(ctx context.Context, mails *mail.Memory, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for len(mails.Sent()) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("no mail after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// showMails prints the mails kept after the first shown ones as they come,
// until ctx ends.
func showMails(ctx context.Context, w io.Writer, mails *mail.Memory, shown int) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, m := range mails.Sent()[shown:] {
			printMail(w, m)
			shown++
		}
	}
}

// printMail shows a kept mail: who, subject and the text part, with the
// redeem link (a bearer link) redacted.
func printMail(w io.Writer, m mail.Rendered) {
	fmt.Fprintf(w, "  %-14s passbridge mailed %s (kept by the demo, not sent)\n", "", m.To)
	fmt.Fprintf(w, "  %-14s   Subject: %s\n", "", m.Subject)
	for line := range strings.SplitSeq(strings.TrimRight(mail.RedactLinks(m.Text), "\n"), "\n") {
		fmt.Fprintf(w, "  %-14s   |%s\n", "", strings.TrimRight(" "+line, " "))
	}
}
