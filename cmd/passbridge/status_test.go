package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/store"
	"github.com/passbridge/passbridge/webhook"
)

// opsConfig writes a minimal configuration over a fresh SQLite database.
func opsConfig(t *testing.T) (cfgPath, dbURL string) {
	t.Helper()
	dir := t.TempDir()
	dbURL = "sqlite:" + filepath.Join(dir, "pb.db")
	cfgPath = filepath.Join(dir, "passbridge.yaml")
	yaml := "database:\n  url: " + dbURL + "\ninvitation:\n  redirectURL: https://myapps.microsoft.com\npolicy:\n  allowedDomains: [\"*.gov.sg\"]\n  blockedDomains: [blocked.gov.sg]\nlog:\n  level: warn\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dbURL
}

func TestStatusSaysWhatNeedsAnAdmin(t *testing.T) {
	cfgPath, dbURL := opsConfig(t)
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"status", "--config", cfgPath}, &out, &errb, nil); code != 0 {
		t.Fatalf("empty database: exit %d, want 0\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "Nothing needs an admin.") {
		t.Errorf("empty status:\n%s", out.String())
	}

	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string, active bool, o connector.Onboarding) {
		if _, err := st.CreateUser(ctx, connector.User{UserName: name, Active: active, Emails: []string{name}, Onboarding: o}, connector.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("ok@tech.gov.sg", true, connector.Onboarding{State: connector.StateOnboarded})
	mk("bad@tech.gov.sg", true, connector.Onboarding{State: connector.StateFailed, Failed: true, LastError: "403 missing permission"})
	mk("off@tech.gov.sg", false, connector.Onboarding{State: connector.StateInvited, GuestID: "g1"})
	st.Close()

	out.Reset()
	if code := run(ctx, []string{"status", "--config", cfgPath}, &out, &errb, nil); code != 1 {
		t.Fatalf("with a failed user: exit %d, want 1\n%s", code, out.String())
	}
	for _, want := range []string{"onboarded              1", "failed                 1", "total                  3",
		"Failures: 1 user(s)", "bad@tech.gov.sg  403 missing permission", "Pending deprovisioning: 1 user(s)", "off@tech.gov.sg  guest g1",
		"Needs an admin:", "1 failed user(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if code := run(ctx, []string{"status", "--json", "--config", cfgPath}, &out, &errb, nil); code != 1 {
		t.Fatalf("--json: exit %d", code)
	}
	var js struct {
		Users       map[string]int `json:"users"`
		Total       int            `json:"total"`
		FailedUsers struct {
			Total int `json:"total"`
			Items []struct {
				UserName, LastError string
			} `json:"items"`
		} `json:"failedUsers"`
		Pending struct {
			Users int `json:"users"`
		} `json:"pendingDeprovisioning"`
		NeedsAdmin []string `json:"needsAdmin"`
	}
	if err := json.Unmarshal(out.Bytes(), &js); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if js.Total != 3 || js.Users["failed"] != 1 || js.FailedUsers.Total != 1 || js.FailedUsers.Items[0].LastError != "403 missing permission" ||
		js.Pending.Users != 1 || len(js.NeedsAdmin) != 1 {
		t.Errorf("--json = %+v", js)
	}

	errb.Reset()
	if code := run(ctx, []string{"status", "--help"}, &out, &errb, nil); code != 2 || !strings.Contains(errb.String(), "Exit status") {
		t.Errorf("--help: exit %d\n%s", code, errb.String())
	}
}

func TestImportDryRunPrintsEachVerdictAndCreatesNothing(t *testing.T) {
	cfgPath, dbURL := opsConfig(t)
	csvPath := filepath.Join(t.TempDir(), "people.csv")
	csv := "email,givenName,familyName,seed,accountType\n" +
		"ann@tech.gov.sg,Ann,Tan,true,\n" +
		"bob@blocked.gov.sg,Bob,Lim,,\n" +
		"ann@TECH.gov.sg,Ann,Twice,,\n"
	if err := os.WriteFile(csvPath, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"import", "--csv", csvPath, "--dry-run", "--config", cfgPath}, &out, &errb, nil)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (rows refused)\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"2  ann@tech.gov.sg", "would create", "allowed", "matches the organisational domain *.gov.sg",
		"3  bob@blocked.gov.sg", "refused", "blocked.gov.sg is not accepted for sign-up",
		"4  ann@TECH.gov.sg", "duplicate", "the same address as line 2",
		"dry run (nothing created) of people.csv: 3 row(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := st.ListUsers(ctx, connector.Query{}); p.Total != 0 {
		t.Errorf("dry run created %d users", p.Total)
	}
	st.Close()

	out.Reset()
	if code := run(ctx, []string{"import", "--csv", csvPath, "--config", cfgPath}, &out, &errb, nil); code != 1 {
		t.Fatalf("import: exit %d\n%s", code, out.String())
	}
	st, _ = store.Open(ctx, dbURL)
	defer st.Close()
	p, _ := st.ListUsers(ctx, connector.Query{Count: 10})
	if p.Total != 1 || p.Items[0].UserName != "ann@tech.gov.sg" {
		t.Fatalf("import created %+v", p)
	}
	evs, _ := st.ListEvents(ctx, p.Items[0].ID, 0, 0)
	if len(evs) == 0 || evs[0].Actor != "import:people.csv" {
		t.Errorf("events %+v: want user.created by import:people.csv", evs)
	}

	errb.Reset()
	if code := run(ctx, []string{"import", "--config", cfgPath}, &out, &errb, nil); code != 2 || !strings.Contains(errb.String(), "--csv FILE is required") {
		t.Errorf("without --csv: exit %d\n%s", code, errb.String())
	}
}

func TestConsoleMountsWhereTheConfigurationSays(t *testing.T) {
	for _, withTokens := range []bool{true, false} {
		cfg := config.Default()
		cfg.Database.URL = "sqlite:" + filepath.Join(t.TempDir(), "pb.db")
		if withTokens {
			cfg.Admin.Tokens = []config.Token{{Name: "alice", SHA256: config.HashToken("tok")}}
		}
		var logs bytes.Buffer
		a, err := newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for name, h := range map[string]http.Handler{"all-in-one": a.handler(), "adminListen": a.adminHandler(), "scim-only": a.scimHandler()} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/login", nil))
			want := http.StatusNotFound
			if withTokens && name != "scim-only" {
				want = http.StatusOK
			}
			if rec.Code != want {
				t.Errorf("tokens %v, %s: GET /admin/login = %d, want %d", withTokens, name, rec.Code, want)
			}
		}
		if !withTokens && !strings.Contains(logs.String(), "admin console off") {
			t.Errorf("no log line says the console is off:\n%s", logs.String())
		}
		a.Close()
	}
}

// A webhook receiver that keeps failing is listed by status (table and
// --json) with its pending deliveries, and makes the exit code 1.
func TestStatusListsWebhookReceivers(t *testing.T) {
	ctx := context.Background()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	cfgPath, dbURL := opsConfig(t)
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "webhooks:\n  - name: siem\n    url: %s/hook\n    secret: %q\n  - name: quiet\n    url: %s/other\n    secret: %q\n    events: [\"group.*\"]\n",
		down.URL, secret, down.URL, secret)
	f.Close()

	var out, errb bytes.Buffer
	if code := run(ctx, []string{"status", "--config", cfgPath}, &out, &errb, nil); code != 0 {
		t.Fatalf("receivers with nothing sent yet: exit %d, want 0\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "Webhook receivers: 2") || !strings.Contains(out.String(), "Nothing needs an admin.") {
		t.Errorf("status:\n%s", out.String())
	}

	// Fail three attempts of one delivery to siem, as serve's dispatcher would.
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Now().Add(-2 * time.Hour))
	d, err := webhook.New(st.(webhook.Store), webhook.Options{Receivers: []webhook.Receiver{
		{Name: "siem", URL: down.URL + "/hook", Secret: secret},
		{Name: "quiet", URL: down.URL + "/other", Secret: secret, Events: []string{"group.*"}}}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, connector.User{UserName: "hook@tech.gov.sg", Active: true, Emails: []string{"hook@tech.gov.sg"},
		Onboarding: connector.Onboarding{State: connector.StateOnboarded}}, connector.Change{Events: []connector.Event{{Type: "user.created", Actor: "test"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Minute)
	}
	st.Close()

	out.Reset()
	errb.Reset()
	if code := run(ctx, []string{"status", "--config", cfgPath}, &out, &errb, nil); code != 1 {
		t.Fatalf("failing receiver: exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"siem                      1 pending", "FAILING (3 attempts in a row): answered 503 Service Unavailable",
		"quiet                     0 pending", "webhook receiver siem keeps failing (3 attempts in a row; 1 pending)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if code := run(ctx, []string{"status", "--json", "--config", cfgPath}, &out, &errb, nil); code != 1 {
		t.Fatalf("--json: exit %d", code)
	}
	var js struct {
		Webhooks []struct {
			Name                    string  `json:"name"`
			Pending                 int     `json:"pending"`
			OldestPendingAgeSeconds float64 `json:"oldestPendingAgeSeconds"`
			Failing                 bool    `json:"failing"`
			LastError               string  `json:"lastError"`
		} `json:"webhooks"`
		NeedsAdmin []string `json:"needsAdmin"`
	}
	if err := json.Unmarshal(out.Bytes(), &js); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if len(js.Webhooks) != 2 || js.Webhooks[0].Name != "siem" || js.Webhooks[0].Pending != 1 || !js.Webhooks[0].Failing ||
		js.Webhooks[0].OldestPendingAgeSeconds < 3600 || js.Webhooks[0].LastError == "" ||
		js.Webhooks[1].Name != "quiet" || js.Webhooks[1].Failing || js.Webhooks[1].Pending != 0 || len(js.NeedsAdmin) != 1 {
		t.Errorf("--json = %+v", js)
	}
}
