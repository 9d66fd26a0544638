package config

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	guidA = "4b2e7c1a-9d3f-4e6b-8a1c-2f5d7e9b0c3a"
	guidB = "8f2d1c3e-0b4a-4e57-9c1d-2a6b3f4e5d60"
)

// validConfig returns a configuration that passes Validate(ForServe()).
func validConfig() *Config {
	c := Default()
	// Loopback: a plain-HTTP listener on the network is warned about.
	c.Server.Listen = "127.0.0.1:8080"
	c.SCIM.Tokens = []Token{{Name: "techbiz", SHA256: HashToken("a")}, {Name: "portal", SHA256: HashToken("b")}}
	c.Invitation.RedirectURL = "https://myapps.microsoft.com"
	c.Policy.AllowedDomains = []string{"gov.sg", "*.gov.sg"}
	return c
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		mutate  func(c *Config)
		noServe bool
		want    []want
	}{
		"ok/valid":       {mutate: func(c *Config) {}},
		"ok/listen-ipv6": {mutate: func(c *Config) { c.Server.Listen = "[::1]:8443" }},
		"ok/listen-host": {mutate: func(c *Config) { c.Server.Listen = "passbridge.internal:8080" }},
		"ok/public-url":  {mutate: func(c *Config) { c.Server.PublicURL = "https://passbridge.techpass.gov.sg/base" }},
		"ok/postgres": {mutate: func(c *Config) {
			c.Database.URL = "postgres://pb:p%40ss@db.internal:5432/passbridge?sslmode=verify-full"
		}},
		"ok/graph-simulator":     {mutate: func(c *Config) { c.Graph.Endpoint = "http://127.0.0.1:8081" }},
		"ok/graph-localhost":     {mutate: func(c *Config) { c.Graph.Endpoint = "http://localhost:8081/" }},
		"ok/redirect-loopback":   {mutate: func(c *Config) { c.Invitation.RedirectURL = "http://[::1]:3000/done" }},
		"ok/no-tokens-not-serve": {mutate: func(c *Config) { c.SCIM.Tokens = nil }, noServe: true},
		"ok/uppercase-guid":      {mutate: func(c *Config) { c.Azure.TenantID = strings.ToUpper(guidA) }},
		"ok/workload":            {mutate: func(c *Config) { c.Azure.Credential, c.Azure.TenantID, c.Azure.ClientID = "workload", guidA, guidB }},
		"ok/managed-no-ids":      {mutate: func(c *Config) { c.Azure.Credential = "managed" }},
		"ok/seed-agreement":      {mutate: func(c *Config) { c.Agreements = []Agreement{{"MDM AUP", guidA, "seed"}}; c.Seed.GroupID = guidB }},
		"ok/blocked-subdomain":   {mutate: func(c *Config) { c.Policy.BlockedDomains = []string{"ext.gov.sg"} }},
		"ok/zero-listen-port":    {mutate: func(c *Config) { c.Server.Listen = "127.0.0.1:0" }},
		"ok/empty-blocked-list":  {mutate: func(c *Config) { c.Policy.BlockedMailboxTypes = nil }},
		"ok/one-cc":              {mutate: func(c *Config) { c.Invitation.CCRecipients = []string{"ops@tech.gov.sg"} }},
		"fail/listen-not-hostport": {
			mutate: func(c *Config) { c.Server.Listen = "8080" },
			want:   []want{{key: "server.listen", msg: `"8080" is not a host:port address`, hint: `":8080"`}},
		},
		"fail/listen-port": {
			mutate: func(c *Config) { c.Server.Listen = ":99999" },
			want:   []want{{key: "server.listen", msg: "port number", hint: "host:port"}},
		},
		"fail/listen-empty": {
			mutate: func(c *Config) { c.Server.Listen = "" },
			want:   []want{{key: "server.listen", msg: "is required", hint: `":8080"`}},
		},
		"fail/public-url-relative": {
			mutate: func(c *Config) { c.Server.PublicURL = "passbridge.techpass.gov.sg" },
			want:   []want{{key: "server.publicURL", msg: "not an absolute URL", hint: "https://"}},
		},
		"fail/public-url-scheme": {
			mutate: func(c *Config) { c.Server.PublicURL = "ftp://passbridge.techpass.gov.sg" },
			want:   []want{{key: "server.publicURL", msg: "not an http(s) URL", hint: "https://"}},
		},
		"fail/timeouts": {
			mutate: func(c *Config) {
				c.Server.ReadTimeout = 0
				c.Server.ShutdownTimeout = Duration(-time.Second)
				c.Server.IdleTimeout = Duration(48 * time.Hour)
			},
			want: []want{
				{key: "server.readTimeout", msg: "must be a positive duration", hint: "default (30s)"},
				{key: "server.shutdownTimeout", msg: "is -1s; it must be a positive duration", hint: "default (20s)"},
				{key: "server.idleTimeout", msg: "must be at most 24h", hint: "default (2m0s)"},
			},
		},
		"fail/read-header-longer-than-read": {
			mutate: func(c *Config) { c.Server.ReadHeaderTimeout = Duration(time.Minute) },
			want:   []want{{key: "server.readHeaderTimeout", msg: "longer than server.readTimeout", hint: "shorter"}},
		},
		"fail/max-body": {
			mutate: func(c *Config) { c.Server.MaxBodyBytes = 10 },
			want:   []want{{key: "server.maxBodyBytes", msg: "is 10; it must be at least 1024", hint: "1048576"}},
		},
		"fail/log": {
			mutate: func(c *Config) { c.Log.Level, c.Log.Format = "verbose", "xml" },
			want: []want{
				{key: "log.level", msg: `is "verbose"; it must be one of "debug", "info", "warn", "error"`},
				{key: "log.format", msg: `must be one of "json", "text"`},
			},
		},
		"fail/no-tokens-for-serve": {
			mutate: func(c *Config) { c.SCIM.Tokens = nil },
			want:   []want{{key: "scim.tokens", msg: "no token is configured", hint: `run "passbridge token new"`}},
		},
		"fail/token-name": {
			mutate: func(c *Config) { c.SCIM.Tokens[1].Name = "" },
			want:   []want{{key: "scim.tokens[1].name", msg: "is required", hint: "techbiz"}},
		},
		"fail/token-name-duplicate": {
			mutate: func(c *Config) { c.SCIM.Tokens[1].Name = "techbiz" },
			want:   []want{{key: "scim.tokens[1].name", msg: `"techbiz" is already the name of scim.tokens[0]`, hint: "distinct"}},
		},
		"fail/token-sha256-short": {
			mutate: func(c *Config) { c.SCIM.Tokens[1].SHA256 = "abc123" },
			want:   []want{{key: "scim.tokens[1].sha256", msg: "want 64 hex characters, got 6 characters", hint: `run "passbridge token new"`}},
		},
		"fail/token-sha256-uppercase": {
			mutate: func(c *Config) { c.SCIM.Tokens[0].SHA256 = strings.ToUpper(HashToken("a")) },
			want:   []want{{key: "scim.tokens[0].sha256", msg: "lowercase", hint: "passbridge token new"}},
		},
		"fail/token-sha256-is-token": {
			mutate: func(c *Config) { tok, _, _ := NewToken(); c.SCIM.Tokens[0].SHA256 = tok },
			want:   []want{{key: "scim.tokens[0].sha256", msg: "looks like the token itself", hint: "passbridge token new"}},
		},
		"fail/token-sha256-missing": {
			mutate: func(c *Config) { c.SCIM.Tokens[0].SHA256 = "" },
			want:   []want{{key: "scim.tokens[0].sha256", msg: "is required", hint: "passbridge token new"}},
		},
		"fail/token-sha256-duplicate": {
			mutate: func(c *Config) { c.SCIM.Tokens[1].SHA256 = c.SCIM.Tokens[0].SHA256 },
			want:   []want{{key: "scim.tokens[1].sha256", msg: "same token as scim.tokens[0]", hint: "own token"}},
		},
		"fail/database-scheme": {
			mutate: func(c *Config) { c.Database.URL = "mysql://u:hunter2@db/x" },
			want:   []want{{key: "database.url", msg: `scheme "mysql"; only sqlite: and postgres://`, hint: "sqlite:"}},
		},
		"fail/database-postgres-no-db": {
			mutate: func(c *Config) { c.Database.URL = "postgres://u:hunter2@db:5432" },
			want:   []want{{key: "database.url", msg: "without a database name", hint: "postgres://"}},
		},
		"fail/database-sqlite-no-path": {
			mutate: func(c *Config) { c.Database.URL = "sqlite:" },
			want:   []want{{key: "database.url", msg: "missing the file path"}},
		},
		"fail/graph-http": {
			mutate: func(c *Config) { c.Graph.Endpoint = "http://graph.microsoft.com" },
			want:   []want{{key: "graph.endpoint", msg: "uses http; only https is allowed, except for localhost", hint: "simulator"}},
		},
		"fail/graph-version": {
			mutate: func(c *Config) { c.Graph.Endpoint = "https://graph.microsoft.com/v1.0/" },
			want:   []want{{key: "graph.endpoint", msg: `ends with the API version "/v1.0"`, hint: "passbridge appends /v1.0"}},
		},
		"fail/graph-missing": {
			mutate: func(c *Config) { c.Graph.Endpoint = "" },
			want:   []want{{key: "graph.endpoint", msg: "is required", hint: "https://graph.microsoft.com"}},
		},
		"fail/azure-credential": {
			mutate: func(c *Config) { c.Azure.Credential = "password" },
			want:   []want{{key: "azure.credential", msg: `must be one of "default", "secret", "certificate", "workload", "managed"`}},
		},
		"fail/azure-secret-needs": {
			mutate: func(c *Config) { c.Azure.Credential = "secret" },
			want: []want{
				{key: "azure.tenantID", msg: `is required when azure.credential is "secret"`, hint: "Directory (tenant) ID"},
				{key: "azure.clientID", msg: `is required when azure.credential is "secret"`, hint: "Application (client) ID"},
				{key: "azure.clientSecret", msg: `is required when azure.credential is "secret"`, hint: "${AZURE_CLIENT_SECRET}"},
			},
		},
		"fail/azure-certificate-needs": {
			mutate: func(c *Config) { c.Azure.Credential, c.Azure.TenantID, c.Azure.ClientID = "certificate", guidA, guidB },
			want:   []want{{key: "azure.certificatePath", msg: `required when azure.credential is "certificate"`, hint: "PEM"}},
		},
		"fail/azure-ids-not-guid": {
			mutate: func(c *Config) { c.Azure.TenantID, c.Azure.ClientID = "contoso.onmicrosoft.com", "1234" },
			want: []want{
				{key: "azure.tenantID", msg: `"contoso.onmicrosoft.com" is not a GUID`, hint: "Directory (tenant) ID"},
				{key: "azure.clientID", msg: `"1234" is not a GUID`, hint: "Application (client) ID"},
			},
		},
		"fail/azure-authority-http": {
			mutate: func(c *Config) { c.Azure.AuthorityHost = "http://login.microsoftonline.us/" },
			want:   []want{{key: "azure.authorityHost", msg: "only https is allowed", hint: "Azure Government"}},
		},
		"fail/redirect-missing": {
			mutate: func(c *Config) { c.Invitation.RedirectURL = "" },
			want:   []want{{key: "invitation.redirectURL", msg: "is required", hint: "https://myapps.microsoft.com"}},
		},
		"fail/redirect-http": {
			mutate: func(c *Config) { c.Invitation.RedirectURL = "http://myapps.microsoft.com" },
			want:   []want{{key: "invitation.redirectURL", msg: "uses http", hint: "https://myapps.microsoft.com"}},
		},
		"fail/cc-two": {
			mutate: func(c *Config) { c.Invitation.CCRecipients = []string{"a@tech.gov.sg", "b@tech.gov.sg"} },
			want:   []want{{key: "invitation.ccRecipients", msg: "has 2 entries; it may have at most 1", hint: "only one"}},
		},
		"fail/cc-not-email": {
			mutate: func(c *Config) { c.Invitation.CCRecipients = []string{"ops at tech.gov.sg"} },
			want:   []want{{key: "invitation.ccRecipients[0]", msg: `"ops at tech.gov.sg" is not an e-mail address`, hint: "onboarding@tech.gov.sg"}},
		},
		"fail/language": {
			mutate: func(c *Config) { c.Invitation.Language = "English please" },
			want:   []want{{key: "invitation.language", msg: "not a language tag", hint: "en-US"}},
		},
		"fail/invitation-validity": {
			mutate: func(c *Config) { c.Invitation.Validity = 0 },
			want:   []want{{key: "invitation.validity", msg: "positive duration", hint: "720h"}},
		},
		"fail/domains": {
			mutate: func(c *Config) {
				c.Policy.AllowedDomains = []string{"gov.sg", "user@gov.sg", "https://gov.sg", "gov.*.sg", "localhost", "-bad-.sg"}
			},
			want: []want{
				{key: "policy.allowedDomains[1]", msg: "is an e-mail address, not a domain", hint: `"*.gov.sg"`},
				{key: "policy.allowedDomains[2]", msg: "is a URL", hint: `"gov.sg"`},
				{key: "policy.allowedDomains[3]", msg: "wildcard", hint: `"gov.sg"`},
				{key: "policy.allowedDomains[4]", msg: `"localhost" is not a domain name`, hint: `"gov.sg"`},
				{key: "policy.allowedDomains[5]", msg: "is not a domain name", hint: `"gov.sg"`},
			},
		},
		"fail/blocked-domain": {
			mutate: func(c *Config) { c.Policy.BlockedDomains = []string{"GOV.SG", "mail..com"} },
			want: []want{
				{key: "policy.blockedDomains[0]", msg: "also in policy.allowedDomains", hint: "one of the two"},
				{key: "policy.blockedDomains[1]", msg: "not a domain name", hint: "example.com"},
			},
		},
		"fail/blocked-mailbox-empty": {
			mutate: func(c *Config) { c.Policy.BlockedMailboxTypes = []string{"LiteMail", ""} },
			want:   []want{{key: "policy.blockedMailboxTypes[1]", msg: "is an empty entry", hint: "remove the empty entry"}},
		},
		"fail/agreements": {
			mutate: func(c *Config) {
				c.Agreements = []Agreement{
					{Name: "Terms of Use", ID: guidA, RequiredWhen: "always"},
					{Name: "Terms of Use", ID: strings.ToUpper(guidA), RequiredWhen: "sometimes"},
					{Name: "", ID: "tou-1", RequiredWhen: ""},
				}
			},
			want: []want{
				{key: "agreements[1].name", msg: `"Terms of Use" is already the name of agreements[0]`, hint: "distinct"},
				{key: "agreements[1].id", msg: "already the id of agreements[0]", hint: "once"},
				{key: "agreements[1].requiredWhen", msg: `is "sometimes"; it must be one of "always", "seed"`, hint: `"always"`},
				{key: "agreements[2].name", msg: "is required", hint: "Terms of Use"},
				{key: "agreements[2].id", msg: `"tou-1" is not a GUID`, hint: "Identity Governance"},
				{key: "agreements[2].requiredWhen", msg: "is required", hint: `"always"`},
			},
		},
		"fail/seed-group-required": {
			mutate: func(c *Config) { c.Agreements = []Agreement{{"MDM AUP", guidA, "seed"}} },
			want:   []want{{key: "seed.groupID", msg: `required when an agreement has requiredWhen "seed"`, hint: "object ID"}},
		},
		"fail/seed": {
			mutate: func(c *Config) {
				c.Seed.GroupID = "SEED Devices"
				c.Seed.DueBusinessDays = 0
				c.Seed.Holidays = []string{"2026-08-10", "10/08/2026", "2026-02-30"}
				c.Seed.Validity = 0
			},
			want: []want{
				{key: "seed.groupID", msg: "not a GUID", hint: "object ID"},
				{key: "seed.dueBusinessDays", msg: "is 0; it must be at least 1", hint: "3 business days"},
				{key: "seed.holidays[1]", msg: `"10/08/2026" is not a date written YYYY-MM-DD`, hint: "2026-08-10"},
				{key: "seed.holidays[2]", msg: "not a date", hint: "2026-08-10"},
				{key: "seed.validity", msg: "positive duration", hint: "720h"},
			},
		},
		"fail/seed-due-too-late": {
			mutate: func(c *Config) { c.Seed.DueBusinessDays = 31 },
			want:   []want{{key: "seed.dueBusinessDays", msg: "at most 30"}},
		},
		"fail/groups-map": {
			mutate: func(c *Config) { c.Groups.Map = map[string]string{"Engineering": "eng-group", "": guidA} },
			want: []want{
				{key: "groups.map[Engineering]", msg: `"eng-group" is not a GUID`, hint: "object ID"},
				{key: "groups.map[]", msg: "empty name", hint: "before the colon"},
			},
		},
		"fail/reconcile": {
			mutate: func(c *Config) { c.Reconcile.Interval = Duration(500 * time.Millisecond); c.Reconcile.BatchSize = 1001 },
			want: []want{
				{key: "reconcile.interval", msg: "is 500ms; it must be at least 1s", hint: `"1m"`},
				{key: "reconcile.batchSize", msg: "is 1001; it must be at most 1000", hint: "default (200)"},
			},
		},
		"fail/trusted-proxy": {
			mutate: func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "lb.internal"} },
			want:   []want{{key: "server.trustedProxies[1]", msg: "", hint: "address range"}},
		},
		"fail/reconcile-lease-short": {
			mutate: func(c *Config) {
				c.Reconcile.Interval = Duration(time.Minute)
				c.Reconcile.Lease = Duration(90 * time.Second)
			},
			want: []want{{key: "reconcile.lease", msg: "shorter than twice reconcile.interval", hint: "at least twice"}},
		},
		"fail/seed-timezone": {
			mutate: func(c *Config) { c.Seed.TimeZone = "Mars/Olympus" },
			want:   []want{{key: "seed.timeZone", msg: "", hint: "IANA"}},
		},
		"fail/reconcile-batch-zero": {
			mutate: func(c *Config) { c.Reconcile.BatchSize = 0 },
			want:   []want{{key: "reconcile.batchSize", msg: "at least 1", hint: "200"}},
		},
		"fail/worker": {
			mutate: func(c *Config) { c.Worker = Worker{Concurrency: 0, Lease: Duration(time.Second), MaxAttempts: 0} },
			want: []want{
				{key: "worker.concurrency", msg: "at least 1", hint: "default (4)"},
				{key: "worker.lease", msg: "is 1s; it must be at least 10s", hint: "default (2m0s)"},
				{key: "worker.maxAttempts", msg: "at least 1", hint: "default (20)"},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			var opts []ValidateOption
			if !tc.noServe {
				opts = append(opts, ForServe())
			}
			assertProblems(t, c.Validate(opts...), tc.want)
		})
	}
}

func TestValidate_ReportsEveryProblem(t *testing.T) {
	c := validConfig()
	c.Server.Listen = "localhost"                                // 1
	c.SCIM.Tokens[0].SHA256 = "not-a-hash"                       // 2
	c.Graph.Endpoint = "http://graph.microsoft.com"              // 3
	c.Invitation.CCRecipients = []string{"a@gov.sg", "b@gov.sg"} // 4
	c.Reconcile.Interval = Duration(time.Millisecond)            // 5
	err := c.Validate(ForServe())
	got := problemsOf(t, err)
	keys := make([]string, len(got))
	for i, p := range got {
		keys[i] = p.Key
	}
	want := []string{"server.listen", "scim.tokens[0].sha256", "graph.endpoint", "invitation.ccRecipients", "reconcile.interval"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %q, want %q (in section order)", keys, want)
	}
	if !strings.HasPrefix(err.Error(), "configuration has 5 problems:\n") {
		t.Errorf("error text:\n%v", err)
	}
	for _, k := range want {
		if !strings.Contains(err.Error(), "\n  "+k+": ") {
			t.Errorf("error text lacks %s:\n%v", k, err)
		}
	}
}

func TestExample(t *testing.T) {
	env := []string{
		"PGPASSWORD=correct-horse",
		"AZURE_CLIENT_SECRET=Abc8Q~not-a-real-secret",
		"SIGNUP_PORTAL_TOKEN_SHA256=" + HashToken("portal-token"),
		"WEBHOOK_SIEM_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}
	cfg, err := LoadValidated("passbridge.example.yaml", env, ForServe())
	if err != nil {
		t.Fatalf("example does not validate:\n%v", err)
	}
	if ws := cfg.Warnings(); len(ws) != 0 {
		t.Errorf("example has warnings: %v", ws)
	}
	if cfg.Azure.ClientSecret != "Abc8Q~not-a-real-secret" || !strings.Contains(cfg.Database.URL, "correct-horse") {
		t.Errorf("references not expanded: %q %q", cfg.Azure.ClientSecret, cfg.Database.URL)
	}

	// Without the environment, every reference is reported with its variable.
	_, err = LoadValidated("passbridge.example.yaml", nil, ForServe())
	assertProblems(t, err, []want{
		{key: "scim.tokens[1].sha256", msg: "${SIGNUP_PORTAL_TOKEN_SHA256}"},
		{key: "database.url", msg: "${PGPASSWORD}"},
		{key: "azure.clientSecret", msg: "${AZURE_CLIENT_SECRET}"},
		{key: "webhooks[0].secret", msg: "${WEBHOOK_SIEM_SECRET}"},
	})

	// The example shows every key.
	data, err := os.ReadFile("passbridge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := joinKey(key, n.Content[i].Value)
				have[k] = true
				if key != "groups.map" {
					walk(n.Content[i+1], k)
				}
			}
		case yaml.SequenceNode:
			for _, e := range n.Content {
				walk(e, key)
			}
		}
	}
	walk(doc.Content[0], "")
	var missing []string
	for _, k := range envKeys() {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	for _, k := range append(fieldKeys(reflect.TypeFor[Token]()), "") {
		if k != "" && !have["scim.tokens."+k] {
			missing = append(missing, "scim.tokens."+k)
		}
	}
	for _, k := range fieldKeys(reflect.TypeFor[Agreement]()) {
		if !have["agreements."+k] {
			missing = append(missing, "agreements."+k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("example lacks keys: %v", missing)
	}
}

func TestWarnings(t *testing.T) {
	c := Default()
	c.Azure.ClientSecret = "x"
	c.Azure.CertificatePath = "/etc/passbridge/cert.pem"
	keys := map[string]bool{}
	for _, w := range c.Warnings() {
		keys[w.Key] = true
	}
	for _, k := range []string{"scim.tokens", "azure.clientSecret", "azure.certificatePath", "policy.allowedDomains"} {
		if !keys[k] {
			t.Errorf("no warning for %s; got %v", k, c.Warnings())
		}
	}
	if ws := validConfig().Warnings(); len(ws) != 0 {
		t.Errorf("valid config has warnings: %v", ws)
	}
}

func TestRedacted(t *testing.T) {
	tests := map[string]struct {
		url, want string
	}{
		"ok/sqlite":         {url: "sqlite:/var/lib/passbridge.db", want: "sqlite:/var/lib/passbridge.db"},
		"ok/postgres-user":  {url: "postgres://pb:hunter2@db:5432/passbridge?sslmode=verify-full", want: "postgres://pb:[redacted]@db:5432/passbridge?sslmode=verify-full"},
		"ok/postgres-query": {url: "postgres://db/passbridge?user=pb&password=hunter2", want: "postgres://db/passbridge?password=[redacted]&user=pb"},
		"ok/no-password":    {url: "postgres://pb@db/passbridge", want: "postgres://pb@db/passbridge"},
		"ok/unparsable":     {url: "postgres://pb:hunter2%zz@db/x", want: "[redacted]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			c.Database.URL = tc.url
			c.Azure.ClientSecret = "hunter2-secret"
			c.Azure.CertificatePassword = "hunter2-cert"
			r := c.Redacted()
			if r.Database.URL != tc.want {
				t.Errorf("database.url = %q, want %q", r.Database.URL, tc.want)
			}
			if r.Azure.ClientSecret != "[redacted]" || r.Azure.CertificatePassword != "[redacted]" {
				t.Errorf("azure = %+v", r.Azure)
			}
			if c.Azure.ClientSecret != "hunter2-secret" || c.Database.URL != tc.url {
				t.Error("Redacted changed the original")
			}

			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
			out := buf.String()
			if strings.Contains(out, "hunter2") {
				t.Errorf("log has a secret: %s", out)
			}
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			logged := m["config"].(map[string]any)
			if got := logged["azure"].(map[string]any)["clientSecret"]; got != "[redacted]" {
				t.Errorf("logged clientSecret = %v", got)
			}
			if got := logged["reconcile"].(map[string]any)["interval"]; got != "1m0s" {
				t.Errorf("logged interval = %v", got)
			}
		})
	}
	// Empty secrets stay empty, so the log shows they are not set.
	if r := Default().Redacted(); r.Azure.ClientSecret != "" {
		t.Errorf("empty secret became %q", r.Azure.ClientSecret)
	}
}

func TestLogLevel(t *testing.T) {
	tests := map[string]struct {
		level string
		want  slog.Level
	}{
		"ok/debug":   {"debug", slog.LevelDebug},
		"ok/warn":    {"warn", slog.LevelWarn},
		"ok/unknown": {"loud", slog.LevelInfo},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := (Log{Level: tc.level}).SlogLevel(); got != tc.want {
				t.Errorf("SlogLevel(%q) = %v", tc.level, got)
			}
		})
	}
}
