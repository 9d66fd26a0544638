package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// want is a problem a test expects: the key exactly, and substrings of the
// message and the hint.
type want struct {
	key, msg, hint string
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "passbridge.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// problemsOf returns the problems in err (nil for a nil error) and fails the
// test for any other error.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error is %T, not *Problems: %v", err, err)
	}
	return ps.List
}

// assertProblems checks that got holds exactly the wanted problems.
func assertProblems(t *testing.T, err error, wants []want) {
	t.Helper()
	got := problemsOf(t, err)
	for _, w := range wants {
		found := false
		for _, p := range got {
			if p.Key == w.key && strings.Contains(p.Message, w.msg) && strings.Contains(p.Hint, w.hint) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("missing problem key=%q msg~%q hint~%q; got:\n%v", w.key, w.msg, w.hint, err)
		}
	}
	if len(got) != len(wants) {
		t.Errorf("got %d problems, want %d:\n%v", len(got), len(wants), err)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := map[string]struct{ got, want any }{
		"server.listen":              {cfg.Server.Listen, ":8080"},
		"server.readHeaderTimeout":   {cfg.Server.ReadHeaderTimeout.D(), 5 * time.Second},
		"server.readTimeout":         {cfg.Server.ReadTimeout.D(), 30 * time.Second},
		"server.writeTimeout":        {cfg.Server.WriteTimeout.D(), 30 * time.Second},
		"server.idleTimeout":         {cfg.Server.IdleTimeout.D(), 120 * time.Second},
		"server.shutdownTimeout":     {cfg.Server.ShutdownTimeout.D(), 20 * time.Second},
		"server.maxBodyBytes":        {cfg.Server.MaxBodyBytes, int64(1048576)},
		"log.level":                  {cfg.Log.Level, "info"},
		"log.format":                 {cfg.Log.Format, "json"},
		"database.url":               {cfg.Database.URL, "sqlite:passbridge.db"},
		"graph.endpoint":             {cfg.Graph.Endpoint, "https://graph.microsoft.com"},
		"azure.credential":           {cfg.Azure.Credential, "default"},
		"invitation.sendEmail":       {cfg.Invitation.SendEmail, true},
		"invitation.validity":        {cfg.Invitation.Validity.D(), 720 * time.Hour},
		"policy.blockedMailboxTypes": {cfg.Policy.BlockedMailboxTypes, []string{"LiteMail"}},
		"seed.dueBusinessDays":       {cfg.Seed.DueBusinessDays, 3},
		"seed.validity":              {cfg.Seed.Validity.D(), 720 * time.Hour},
		"reconcile.interval":         {cfg.Reconcile.Interval.D(), time.Minute},
		"reconcile.lease":            {cfg.Reconcile.Lease.D(), 5 * time.Minute},
		"seed.timeZone":              {cfg.Seed.TimeZone, "Asia/Singapore"},
		"reconcile.batchSize":        {cfg.Reconcile.BatchSize, 200},
		"worker.concurrency":         {cfg.Worker.Concurrency, 4},
		"worker.lease":               {cfg.Worker.Lease.D(), 2 * time.Minute},
		"worker.maxAttempts":         {cfg.Worker.MaxAttempts, 20},
	}
	for key, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", key, c.got, c.want)
		}
	}
	// The defaults lack only what has no sensible default.
	assertProblems(t, cfg.Validate(ForServe()), []want{
		{key: "scim.tokens", msg: "no token", hint: "passbridge token new"},
		{key: "invitation.redirectURL", msg: "is required", hint: "https://myapps.microsoft.com"},
	})
	// Helpers used by the callers.
	if got := cfg.Graph.BaseURL(); got != "https://graph.microsoft.com/v1.0" {
		t.Errorf("BaseURL = %q", got)
	}
	if cfg.Database.Dialect() != "sqlite" || cfg.Database.SQLitePath() != "passbridge.db" {
		t.Errorf("Dialect/SQLitePath = %q/%q", cfg.Database.Dialect(), cfg.Database.SQLitePath())
	}
}

func TestLoad(t *testing.T) {
	const sha = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
	tests := map[string]struct {
		yaml  string // "" means no file
		env   []string
		check func(t *testing.T, c *Config)
		want  []want
	}{
		"ok/yaml-overrides-defaults": {
			yaml: `
server:
  listen: "127.0.0.1:9090"
  readTimeout: 45s
log:
  format: text
scim:
  tokens:
    - name: techbiz
      sha256: ` + sha + `
invitation:
  sendEmail: false
  validity: 168h
policy:
  blockedMailboxTypes: []
groups:
  map:
    Engineering: 5e8c3a1f-2b9d-4f7e-a6c4-1d0b9e8f7a6c
`,
			check: func(t *testing.T, c *Config) {
				if c.Server.Listen != "127.0.0.1:9090" || c.Server.ReadTimeout.D() != 45*time.Second {
					t.Errorf("server = %+v", c.Server)
				}
				if c.Server.WriteTimeout.D() != 30*time.Second {
					t.Errorf("writeTimeout lost its default: %v", c.Server.WriteTimeout)
				}
				if c.Log.Format != "text" || c.Log.Level != "info" {
					t.Errorf("log = %+v", c.Log)
				}
				if len(c.SCIM.Tokens) != 1 || !reflect.DeepEqual(c.SCIM.Tokens[0], Token{Name: "techbiz", SHA256: sha}) {
					t.Errorf("tokens = %+v", c.SCIM.Tokens)
				}
				if c.Invitation.SendEmail || c.Invitation.Validity.D() != 168*time.Hour {
					t.Errorf("invitation = %+v", c.Invitation)
				}
				if len(c.Policy.BlockedMailboxTypes) != 0 {
					t.Errorf("blockedMailboxTypes = %v, want empty", c.Policy.BlockedMailboxTypes)
				}
				if c.Groups.Map["Engineering"] != "5e8c3a1f-2b9d-4f7e-a6c4-1d0b9e8f7a6c" {
					t.Errorf("groups.map = %v", c.Groups.Map)
				}
			},
		},
		"ok/empty-file": {
			yaml:  "# nothing\n",
			check: func(t *testing.T, c *Config) { assertEqualConfig(t, c, Default()) },
		},
		"ok/env-overrides-yaml": {
			yaml: "server:\n  listen: \":9090\"\ndatabase:\n  url: sqlite:/data/a.db\n",
			env: []string{
				"PASSBRIDGE_SERVER_LISTEN=:7070",
				"passbridge_database_url=sqlite:/data/b.db", // case-insensitive
				"PASSBRIDGE_INVITATION_VALIDITY=48h",
				"PASSBRIDGE_INVITATION_SENDEMAIL=false",
				"PASSBRIDGE_WORKER_CONCURRENCY=8",
				"PASSBRIDGE_SERVER_MAXBODYBYTES=2097152",
				"PASSBRIDGE_AZURE_CLIENTSECRET=s3cr3t",
				"HOME=/root",
			},
			check: func(t *testing.T, c *Config) {
				if c.Server.Listen != ":7070" {
					t.Errorf("listen = %q", c.Server.Listen)
				}
				if c.Database.URL != "sqlite:/data/b.db" {
					t.Errorf("database.url = %q", c.Database.URL)
				}
				if c.Invitation.Validity.D() != 48*time.Hour || c.Invitation.SendEmail {
					t.Errorf("invitation = %+v", c.Invitation)
				}
				if c.Worker.Concurrency != 8 || c.Server.MaxBodyBytes != 2097152 {
					t.Errorf("worker.concurrency = %d, maxBodyBytes = %d", c.Worker.Concurrency, c.Server.MaxBodyBytes)
				}
				if c.Azure.ClientSecret != "s3cr3t" {
					t.Errorf("clientSecret = %q", c.Azure.ClientSecret)
				}
			},
		},
		"ok/env-lists-records-maps": {
			env: []string{
				"PASSBRIDGE_POLICY_ALLOWEDDOMAINS=gov.sg, *.gov.sg,",
				"PASSBRIDGE_INVITATION_CCRECIPIENTS=ops@tech.gov.sg",
				"PASSBRIDGE_SCIM_TOKENS=techbiz:" + sha + ",portal:" + HashToken("x"),
				"PASSBRIDGE_AGREEMENTS=Terms of Use:6a3f8d2e-7b1c-4e9a-8d5f-3c2b1a0e9f8d:always",
				"PASSBRIDGE_GROUPS_MAP=Engineering=5e8c3a1f-2b9d-4f7e-a6c4-1d0b9e8f7a6c, Vendors = 7b1d4f9e-8c2a-4e6b-9f3d-5a7c2e1b0d9f",
				"PASSBRIDGE_SEED_HOLIDAYS=2026-08-10,2026-12-25",
			},
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.Policy.AllowedDomains, []string{"gov.sg", "*.gov.sg"}) {
					t.Errorf("allowedDomains = %q", c.Policy.AllowedDomains)
				}
				if !reflect.DeepEqual(c.Invitation.CCRecipients, []string{"ops@tech.gov.sg"}) {
					t.Errorf("ccRecipients = %q", c.Invitation.CCRecipients)
				}
				wantTokens := []Token{{Name: "techbiz", SHA256: sha}, {Name: "portal", SHA256: HashToken("x")}}
				if !reflect.DeepEqual(c.SCIM.Tokens, wantTokens) {
					t.Errorf("tokens = %+v", c.SCIM.Tokens)
				}
				wantAg := []Agreement{{"Terms of Use", "6a3f8d2e-7b1c-4e9a-8d5f-3c2b1a0e9f8d", "always"}}
				if !reflect.DeepEqual(c.Agreements, wantAg) {
					t.Errorf("agreements = %+v", c.Agreements)
				}
				if len(c.Groups.Map) != 2 || c.Groups.Map["Vendors"] != "7b1d4f9e-8c2a-4e6b-9f3d-5a7c2e1b0d9f" {
					t.Errorf("groups.map = %v", c.Groups.Map)
				}
				if len(c.Seed.Holidays) != 2 {
					t.Errorf("holidays = %v", c.Seed.Holidays)
				}
			},
		},
		"ok/expand": {
			yaml: `
database:
  url: "postgres://passbridge:${PGPASSWORD}@db:5432/passbridge"
azure:
  clientSecret: ${AZURE_CLIENT_SECRET}
  certificatePassword: "pa$$word with $ sign and $HOME"
invitation:
  message: "Hello from ${AGENCY}, ${AGENCY}!"
`,
			env: []string{"PGPASSWORD=pg-pw", "AZURE_CLIENT_SECRET=abc~123", "AGENCY=GovTech"},
			check: func(t *testing.T, c *Config) {
				if c.Database.URL != "postgres://passbridge:pg-pw@db:5432/passbridge" {
					t.Errorf("database.url = %q", c.Database.URL)
				}
				if c.Azure.ClientSecret != "abc~123" {
					t.Errorf("clientSecret = %q", c.Azure.ClientSecret)
				}
				if c.Azure.CertificatePassword != "pa$word with $ sign and $HOME" {
					t.Errorf("certificatePassword = %q", c.Azure.CertificatePassword)
				}
				if c.Invitation.Message != "Hello from GovTech, GovTech!" {
					t.Errorf("message = %q", c.Invitation.Message)
				}
			},
		},
		"ok/env-values-are-literal": {
			yaml: "azure:\n  clientSecret: ${UNSET_SECRET}\n",
			env:  []string{"PASSBRIDGE_AZURE_CLIENTSECRET=a${B}$$c"},
			check: func(t *testing.T, c *Config) {
				if c.Azure.ClientSecret != "a${B}$$c" {
					t.Errorf("clientSecret = %q", c.Azure.ClientSecret)
				}
			},
		},
		"ok/reserved-env": {
			env:   []string{"PASSBRIDGE_CONFIG=/etc/passbridge.yaml"},
			check: func(t *testing.T, c *Config) {},
		},
		"fail/missing-var": {
			yaml: "azure:\n  clientSecret: \"${AZURE_CLIENT_SECRET}\"\n",
			want: []want{{key: "azure.clientSecret", msg: "${AZURE_CLIENT_SECRET}, which is not set", hint: "set AZURE_CLIENT_SECRET"}},
		},
		"fail/missing-var-in-list": {
			yaml: "scim:\n  tokens:\n    - name: a\n      sha256: ${TOKEN_A_SHA}\n",
			want: []want{{key: "scim.tokens[0].sha256", msg: "${TOKEN_A_SHA}", hint: "set TOKEN_A_SHA"}},
		},
		"fail/bad-reference": {
			yaml: "invitation:\n  message: \"cost ${1X} and ${OPEN\"\n",
			want: []want{{key: "invitation.message", msg: "not a variable name", hint: `"$$"`}},
		},
		"fail/unknown-key": {
			yaml: "server:\n  listn: \":8080\"\n",
			want: []want{{key: "server.listn", msg: `unknown key (did you mean "listen"?)`}},
		},
		"fail/unknown-key-case": {
			yaml: "server:\n  publicUrl: https://a.gov.sg\n",
			want: []want{{key: "server.publicUrl", msg: `did you mean "publicURL"?`}},
		},
		"fail/unknown-section": {
			yaml: "servr:\n  listen: \":8080\"\n",
			want: []want{{key: "servr", msg: `did you mean "server"?`}},
		},
		"fail/unknown-key-in-list": {
			yaml: "agreements:\n  - name: ToU\n    id: 6a3f8d2e-7b1c-4e9a-8d5f-3c2b1a0e9f8d\n    required: always\n",
			want: []want{{key: "agreements[0].required", msg: `did you mean "requiredWhen"?`}},
		},
		"fail/unknown-key-no-suggestion": {
			yaml: "log:\n  colour: true\n",
			want: []want{{key: "log.colour", msg: "unknown key", hint: "keys allowed here: level, format"}},
		},
		"fail/wrong-types": {
			yaml: `
server: ":8080"
worker:
  concurrency: many
reconcile:
  interval: 60
invitation:
  sendEmail: sometimes
  ccRecipients: ops@tech.gov.sg
`,
			want: []want{
				{key: "server", msg: "expected a mapping of keys"},
				{key: "worker.concurrency", msg: `expected a whole number, found "many"`},
				{key: "reconcile.interval", msg: `"60" is not a duration`},
				{key: "invitation.sendEmail", msg: "expected true or false"},
				{key: "invitation.ccRecipients", msg: "expected a list", hint: "- item"},
			},
		},
		"fail/duplicate-key": {
			yaml: "log:\n  level: info\n  level: debug\n",
			want: []want{{key: "log.level", msg: "more than once"}},
		},
		"fail/unknown-env": {
			env:  []string{"PASSBRIDGE_SERVER_LISTN=:1", "PASSBRIDGE_NOTHING_LIKE_IT=1"},
			want: []want{{key: "PASSBRIDGE_SERVER_LISTN", msg: "did you mean PASSBRIDGE_SERVER_LISTEN?"}, {key: "PASSBRIDGE_NOTHING_LIKE_IT", msg: "unknown variable", hint: "PASSBRIDGE_<SECTION>_<KEY>"}},
		},
		"fail/env-bad-values": {
			env: []string{
				"PASSBRIDGE_WORKER_CONCURRENCY=four",
				"PASSBRIDGE_RECONCILE_INTERVAL=10",
				"PASSBRIDGE_INVITATION_SENDEMAIL=maybe",
				"PASSBRIDGE_SCIM_TOKENS=onlyaname",
				"PASSBRIDGE_GROUPS_MAP=Engineering",
			},
			want: []want{
				{key: "PASSBRIDGE_WORKER_CONCURRENCY", msg: "worker.concurrency"},
				{key: "PASSBRIDGE_RECONCILE_INTERVAL", msg: "not a duration"},
				{key: "PASSBRIDGE_INVITATION_SENDEMAIL", msg: "not true or false"},
				{key: "PASSBRIDGE_SCIM_TOKENS", msg: "want name:sha256"},
				{key: "PASSBRIDGE_GROUPS_MAP", msg: "not name=value"},
			},
		},
		"fail/all-load-problems-at-once": {
			yaml: "server:\n  listn: x\nlog:\n  levl: x\ndatabase:\n  url: ${NOPE}\n",
			env:  []string{"PASSBRIDGE_LOG_LEVL=x"},
			want: []want{
				{key: "server.listn", msg: "unknown key"},
				{key: "log.levl", msg: "unknown key"},
				{key: "database.url", msg: "${NOPE}"},
				{key: "PASSBRIDGE_LOG_LEVL", msg: "unknown variable"},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = writeFile(t, tc.yaml)
			}
			cfg, err := Load(path, tc.env)
			if cfg == nil {
				t.Fatalf("Load returned no config: %v", err)
			}
			assertProblems(t, err, tc.want)
			if tc.check != nil {
				tc.check(t, cfg)
			}
		})
	}
}

func assertEqualConfig(t *testing.T, got, want *Config) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config = %+v\nwant %+v", got, want)
	}
}

func TestLoad_ErrorText(t *testing.T) {
	_, err := Load(writeFile(t, "server:\n  listn: \":8080\"\n"), nil)
	if err == nil || !strings.Contains(err.Error(), `server.listn: unknown key (did you mean "listen"?) (line 2)`) {
		t.Errorf("error = %v", err)
	}
}

func TestLoad_FileErrors(t *testing.T) {
	tests := map[string]struct {
		path func(t *testing.T) string
		is   error
	}{
		"fail/missing-file": {path: func(t *testing.T) string { return filepath.Join(t.TempDir(), "none.yaml") }, is: fs.ErrNotExist},
		"fail/not-yaml":     {path: func(t *testing.T) string { return writeFile(t, "server: [\n") }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(tc.path(t), nil)
			if err == nil || cfg != nil {
				t.Fatalf("Load = %v, %v; want an error and no config", cfg, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			var ps *Problems
			if errors.As(err, &ps) {
				t.Errorf("error is a *Problems: %v", err)
			}
		})
	}
}

func TestLoadValidated_NoDoubleReport(t *testing.T) {
	// An unset ${NAME} in database.url is reported once, not also as a bad URL.
	path := writeFile(t, "database:\n  url: postgres://u:${PGPASSWORD}@db/x\ninvitation:\n  redirectURL: https://myapps.microsoft.com\n")
	cfg, err := LoadValidated(path, nil)
	if cfg == nil {
		t.Fatal("no config")
	}
	assertProblems(t, err, []want{{key: "database.url", msg: "${PGPASSWORD}"}})
}

func TestResolvePath(t *testing.T) {
	t.Chdir(t.TempDir())
	tests := map[string]struct {
		flag, file, want string
	}{
		"ok/flag-wins":       {flag: "/etc/passbridge/passbridge.yaml", file: DefaultPath, want: "/etc/passbridge/passbridge.yaml"},
		"ok/default-present": {file: DefaultPath, want: DefaultPath},
		"ok/default-absent":  {want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_ = os.Remove(DefaultPath)
			if tc.file != "" {
				if err := os.WriteFile(tc.file, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ResolvePath(tc.flag)
			if err != nil || got != tc.want {
				t.Errorf("ResolvePath(%q) = %q, %v; want %q", tc.flag, got, err, tc.want)
			}
		})
	}
}

// reconcile.lease left out follows reconcile.interval: the larger of 5m
// and twice the interval, so a cron-like interval of 1h validates (issue
// 10); written out, it is checked as written.
func TestReconcileLeaseDefaultFollowsInterval(t *testing.T) {
	for _, tc := range []struct {
		yaml    string
		env     []string
		want    time.Duration
		wantErr bool
	}{
		{yaml: "reconcile:\n  interval: 1h\n", want: 2 * time.Hour},
		{yaml: "reconcile:\n  interval: 24h\n", want: 48 * time.Hour},
		{yaml: "reconcile:\n  interval: 10s\n", want: 5 * time.Minute},
		{yaml: "", env: []string{"PASSBRIDGE_RECONCILE_INTERVAL=90m"}, want: 3 * time.Hour},
		{yaml: "reconcile:\n  interval: 1h\n  lease: 5m\n", want: 5 * time.Minute, wantErr: true},
	} {
		cfg, err := LoadValidated(writeFile(t, tc.yaml), tc.env)
		if cfg == nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if got := cfg.Reconcile.Lease.D(); got != tc.want {
			t.Errorf("%q %v: reconcile.lease = %s, want %s", tc.yaml, tc.env, got, tc.want)
		}
		if hasLeaseProblem := err != nil && strings.Contains(err.Error(), "reconcile.lease"); hasLeaseProblem != tc.wantErr {
			t.Errorf("%q %v: err = %v, want a reconcile.lease problem: %v", tc.yaml, tc.env, err, tc.wantErr)
		}
	}
}
