package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/graph/graphsim"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/mail/mailtest"
	"github.com/passbridge/passbridge/scim"
)

var redeemLinkRE = regexp.MustCompile(`https://login\.microsoftonline\.com/redeem\?rd=[^\s"<>]+`)

// TestServeMailsTheInvitationItself wires passbridge as serve does, with
// invitation.sendEmail false and mail.smtp pointing at an SMTP sink (a
// relay without STARTTLS, starttls false), against the Graph simulator over
// HTTP: the invitation mail carries the redeem link Graph returned, and the
// database, the logs (debug level), the events and SCIM do not.
func TestServeMailsTheInvitationItself(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sink := mailtest.Start(t, mailtest.Options{NoStartTLS: true})
	sim, simSrv := graphsim.Start()
	token, sum, err := config.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "pb.db")
	cfg := config.Default()
	cfg.Database.URL = "sqlite:" + dbPath
	cfg.Graph.Endpoint = simSrv.URL
	cfg.SCIM.Tokens = []config.Token{{Name: "e2e", SHA256: sum}}
	cfg.Invitation.RedirectURL = "https://myapps.microsoft.com"
	cfg.Invitation.SendEmail = false
	cfg.Invitation.Message = "Welcome to GovTech."
	cfg.Policy.AllowedDomains = []string{"gov.sg", "*.gov.sg"}
	cfg.Mail.From = "TechPass <noreply@tech.gov.sg>"
	cfg.Mail.SMTP.Host, cfg.Mail.SMTP.Port, cfg.Mail.SMTP.StartTLS = sink.Host, sink.Port, false
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir, err := graph.New(ctx, graph.Options{Endpoint: simSrv.URL, TokenCredential: simCredential(sim), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(ctx, cfg, log, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.tweak = func(o *connector.Options) { o.Worker.PollInterval = 20 * time.Millisecond }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = a.serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; a.Close(); simSrv.Close() })
	s := &stack{t: t, sim: sim, root: "http://" + ln.Addr().String(), token: token, app: a}
	s.base = s.root + scim.Prefix

	const email = "alice@tech.gov.sg"
	id := s.create(email)
	s.waitState(id, connector.StateInvited)
	deadline := time.Now().Add(20 * time.Second)
	for len(sink.Mails()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ms := sink.Mails()
	if len(ms) != 1 {
		t.Fatalf("sink got %d mails, want 1", len(ms))
	}
	parts, err := ms[0].Parts()
	if err != nil {
		t.Fatal(err)
	}
	link := redeemLinkRE.FindString(parts["text/plain"])
	if link == "" || !strings.Contains(parts["text/plain"], "Welcome to GovTech.") {
		t.Fatalf("the mail lacks the redeem link or the message:\n%s", parts["text/plain"])
	}
	// Two invitations, neither mailed by Microsoft; the second's link is
	// the one in the mail.
	invs := sim.Invitations()
	if len(invs) != 2 || invs[0].SendMessage || invs[1].SendMessage || sim.MailsSent(email) != 0 {
		t.Fatalf("invitations %+v, Microsoft mails %d", invs, sim.MailsSent(email))
	}
	ticket := link[strings.LastIndex(link, "ticket%3D")+len("ticket%3D"):]
	ticket, _, _ = strings.Cut(ticket, "%26")
	if len(ticket) < 16 {
		t.Fatalf("no ticket in %q", link)
	}

	// Give the worker the moment to record the mail sent.
	time.Sleep(200 * time.Millisecond)
	_, user := s.do("GET", "/Users/"+id, "")
	userJSON, _ := json.Marshal(user)
	evs, err := a.store.ListEvents(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	evJSON, _ := json.Marshal(evs)
	if !strings.Contains(string(evJSON), "mail.sent") {
		t.Errorf("no mail.sent event: %s", evJSON)
	}
	for what, text := range map[string]string{"database": dbText(t, dbPath), "logs": logs.String(), "events": string(evJSON), "SCIM": string(userJSON)} {
		if strings.Contains(text, ticket) || strings.Contains(text, "redeem?rd=") {
			t.Errorf("the redeem link is in the %s", what)
		}
	}
	if !strings.Contains(logs.String(), "mail sent") {
		t.Errorf("logs lack the mail:\n%s", logs.String())
	}
}

// dbText returns every value of every table of a SQLite database.
func dbText(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tbl := range tables {
		rs, err := db.Query(fmt.Sprintf(`SELECT * FROM %q`, tbl))
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rs.Close()
	}
	if !strings.Contains(b.String(), "alice@tech.gov.sg") {
		t.Fatalf("database scan sees no user (tables %v)", tables)
	}
	return b.String()
}

// TestDemoShowsItsMails runs the demo's walkthrough: it prints the
// invitation mail it kept, with the redeem link redacted.
func TestDemoShowsItsMails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out, errOut testkit.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if code := runDemo(ctx, []string{"--listen", addr, "--exit"}, &out, &errOut, nil); code != 0 {
		t.Fatalf("demo exit %d:\n%s\n%s", code, out.String(), errOut.String())
	}
	o := out.String()
	for _, want := range []string{"passbridge mailed alice@tech.gov.sg", "Subject: Your TechPass invitation", "https://…[redeem link]", "onboarded"} {
		if !strings.Contains(o, want) {
			t.Errorf("demo output lacks %q:\n%s", want, o)
		}
	}
	if strings.Contains(o, "redeem?rd=") || strings.Contains(o, "ticket") {
		t.Errorf("demo output shows a redeem link:\n%s", o)
	}
}

// TestConfigValidateNamesABrokenTemplate: `config validate` reports a
// broken override with its file name and the template error.
func TestConfigValidateNamesABrokenTemplate(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "invitation.txt"), []byte(`{{define "subject"}}x{{end}}{{.RedeemURL`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "passbridge.yaml")
	yaml := fmt.Sprintf("scim:\n  tokens:\n    - {name: a, sha256: %q}\ninvitation:\n  redirectURL: https://myapps.microsoft.com\nmail:\n  templates: %q\n",
		config.HashToken("x"), dir)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"config", "validate", "--config", cfgPath}, &out, &errOut, nil)
	if code == 0 || !strings.Contains(errOut.String(), filepath.Join(dir, "invitation.txt")) || !strings.Contains(errOut.String(), "mail.templates") {
		t.Fatalf("exit %d:\n%s\n%s", code, out.String(), errOut.String())
	}
}
