package config

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzConfigLoad loads arbitrary YAML with an arbitrary small environment.
// Properties:
//   - Load and LoadValidated never panic;
//   - Load returns a Config with a nil or *Problems error, or a nil Config
//     with another error;
//   - no problem's text shows a secret: a value under a key named like
//     "secret" or "password", the password of database.url, or the value of
//     an environment variable named so or referred to from such a key.
//
// Secrets are recognised by the sentinel "SENTINEL" planted in the seeds, so
// that a secret the fuzzer shortens to a common word is not mistaken for a
// leak when a message happens to contain that word.
//
// The environment is given as "NAME=value" lines (at most 8).
func FuzzConfigLoad(f *testing.F) {
	example, err := os.ReadFile("passbridge.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	exampleEnv := "AZURE_CLIENT_SECRET=SENTINELAZ1\nPGPASSWORD=SENTINELPG2\nSIGNUP_PORTAL_TOKEN_SHA256=" + strings.Repeat("ab", 32)
	f.Add(example, exampleEnv)
	f.Add(example, "")
	f.Add(example, "PASSBRIDGE_AZURE_CLIENTSECRET=SENTINELENV3\nPASSBRIDGE_AZURE_CERTIFICATEPASSWORD=SENTINELENV4")
	for _, y := range []string{
		"",
		"azure:\n  credential: secret\n  clientSecret: SENTINELS3CR3T\n",
		"azure:\n  clientSecret: !!int SENTINELTAG1\n  certificatePassword: !!bool SENTINELTAG2\n",
		"azure:\n  clientSecret: [SENTINELLIST1]\n  certificatePassword: {a: SENTINELMAP1}\n",
		"azure:\n  clientSecret: \"${bad name SENTINELREF1}\"\n",
		"azure:\n  clientSecret: \"${SENTINELREF2\"\n",
		"azure:\n  clientSecret: \"pre${AZURE_CLIENT_SECRET}post\"\n",
		"azure:\n  clientSecret: &s SENTINELALIAS1\n  certificatePassword: *s\n  tenantID: *s\n",
		"azure:\n  clientSecret: SENTINELDUP1\n  clientSecret: SENTINELDUP2\n",
		"azure:\n  clientSecret: x\n  clientSecrets: SENTINELTYPO1\n",
		"database:\n  url: \"postgres://u:SENTINELDB1@db.internal:5432/pb\"\n",
		"database:\n  url: \"postgres://u:SENTINEL%zzDB2@db.internal/pb\"\n",
		"database:\n  url: \"postgres://u:SENTINELDB3@/pb?password=SENTINELDB4\"\n",
		"database:\n  url: \"mysql://u:SENTINELDB5@db/pb\"\n",
		"server:\n  listen: [1, 2]\n  maxBodyBytes: big\nlog: 7\nscim:\n  tokens:\n    - name: a\n      sha256: \"${MISSING}\"\n",
		"groups:\n  map:\n    a: b\n    a: c\n",
		"agreements:\n  - name: x\n    id: y\n    requiredWhen: sometimes\n    password: SENTINELEXTRA1\n",
		"seed:\n  holidays: 2026-01-01\n  validity: forever\n",
		"- a\n- b\n", "just text", "{", "a: &a [*a]\n", "? [a, b]\n: c\n",
	} {
		f.Add([]byte(y), "")
		f.Add([]byte(y), exampleEnv)
	}
	f.Add([]byte("azure:\n  credential: secret\n"), "PASSBRIDGE_AZURE_CLIENTSECRET=SENTINELENV5\nPASSBRIDGE_AZURE_CLIENTSECRETT=SENTINELENV6\nPASSBRIDGE_WORKER_CONCURRENCY=many\nPASSBRIDGE_DATABASE_URL=postgres://u:SENTINELENV7@db/pb\nPASSBRIDGE_SCIM_TOKENS=a:b:c,d")

	path := filepath.Join(f.TempDir(), "passbridge.yaml")
	f.Fuzz(func(t *testing.T, data []byte, envText string) {
		env := strings.Split(envText, "\n")
		if envText == "" {
			env = nil
		}
		if len(env) > 8 {
			env = env[:8]
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		secrets := secretTokens(data, env)

		cfg, err := Load(path, env)
		var ps *Problems
		switch {
		case err == nil && cfg == nil:
			t.Fatal("Load: nil Config and nil error")
		case err != nil && errors.As(err, &ps) && cfg == nil:
			t.Fatalf("Load: *Problems without a Config: %v", err)
		case err != nil && !errors.As(err, &ps) && cfg != nil:
			t.Fatalf("Load: a Config with a %T error: %v", err, err)
		case ps != nil && ps.Len() == 0:
			t.Fatal("Load: an empty *Problems error")
		}
		checkNoSecret(t, "Load", err, secrets)

		cfg2, err := LoadValidated(path, env)
		if err == nil && cfg2 == nil {
			t.Fatal("LoadValidated: nil Config and nil error")
		}
		checkNoSecret(t, "LoadValidated", err, secrets)
		if cfg2 != nil {
			// Redacted is what `config validate` prints next to the problems.
			checkRedacted(t, cfg2.Redacted(), secrets)
		}
	})
}

var sentinelRe = regexp.MustCompile(`(?i)sentinel[0-9a-z]*`)

// secretTokens returns the sentinels inside secret values of the YAML and
// the environment, minus any that also appear where a value is not secret
// (echoing those is fine).
func secretTokens(data []byte, env []string) []string {
	secret, public := map[string]bool{}, map[string]bool{}
	vars := envMap(env)
	addSecret := func(s string) {
		// ${NAME} names a variable (not secret); its value is secret.
		s = varRef.ReplaceAllStringFunc(s, func(ref string) string {
			name := ref[2 : len(ref)-1]
			for _, tok := range sentinelRe.FindAllString(vars[name], -1) {
				secret[tok] = true
			}
			return " "
		})
		for _, tok := range sentinelRe.FindAllString(s, -1) {
			secret[tok] = true
		}
	}
	addPublic := func(s string) {
		for _, tok := range sentinelRe.FindAllString(s, -1) {
			public[tok] = true
		}
	}
	urlPassword := func(s string) {
		// The password of a database URL is secret, the rest of it is not.
		addPublic(s)
		if u, err := url.Parse(s); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				addSecret(p)
			}
			for k, vs := range u.Query() {
				if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
					for _, v := range vs {
						addSecret(v)
					}
				}
			}
		}
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) == nil {
		var walk func(n *yaml.Node, underSecret bool, key string, depth int)
		walk = func(n *yaml.Node, underSecret bool, key string, depth int) {
			if n == nil || depth > 64 {
				return
			}
			switch n.Kind {
			case yaml.AliasNode:
				walk(n.Alias, underSecret, key, depth+1)
			case yaml.ScalarNode:
				switch {
				case underSecret:
					addSecret(n.Value)
				case strings.EqualFold(key, "url"):
					urlPassword(n.Value)
				default:
					addPublic(n.Value)
				}
			case yaml.MappingNode:
				for i := 0; i+1 < len(n.Content); i += 2 {
					k := n.Content[i]
					addPublic(k.Value)
					walk(n.Content[i+1], underSecret || secretName(k.Value), k.Value, depth+1)
				}
			default:
				for _, c := range n.Content {
					walk(c, underSecret, key, depth+1)
				}
			}
		}
		walk(&doc, false, "", 0)
	}
	for _, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		addPublic(name)
		switch {
		case secretName(name):
			addSecret(v)
		case strings.EqualFold(name, EnvPrefix+"DATABASE_URL"):
			urlPassword(v)
		default:
			addPublic(v)
		}
	}
	var out []string
	for tok := range secret {
		leaked := false
		for p := range public {
			if strings.Contains(strings.ToLower(p), strings.ToLower(tok)) {
				leaked = true // also written somewhere public
			}
		}
		if !leaked {
			out = append(out, tok)
		}
	}
	return out
}

var varRef = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

func secretName(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "secret") || strings.Contains(l, "password")
}

func checkNoSecret(t *testing.T, what string, err error, secrets []string) {
	t.Helper()
	var ps *Problems
	if !errors.As(err, &ps) {
		return
	}
	text := strings.ToLower(ps.Error())
	for _, s := range secrets {
		if strings.Contains(text, strings.ToLower(s)) {
			t.Errorf("%s: problems show the secret %q:\n%v", what, s, err)
		}
	}
}

func checkRedacted(t *testing.T, c Config, secrets []string) {
	t.Helper()
	text := strings.ToLower(c.Azure.ClientSecret + "\n" + c.Azure.CertificatePassword + "\n" + c.Database.URL)
	for _, s := range secrets {
		if strings.Contains(text, strings.ToLower(s)) {
			t.Errorf("Redacted shows the secret %q: clientSecret %q, certificatePassword %q, database.url %q",
				s, c.Azure.ClientSecret, c.Azure.CertificatePassword, c.Database.URL)
		}
	}
}
