package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAdminTokens(t *testing.T) {
	alice, scim := HashToken("alice"), HashToken("client")
	base := "invitation:\n  redirectURL: https://myapps.microsoft.com\nscim:\n  tokens:\n    - {name: techbiz, sha256: \"" + scim + "\"}\n"
	cfg, err := LoadValidated(writeFile(t, base+"admin:\n  tokens:\n    - {name: alice, sha256: \""+alice+"\"}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Admin.Tokens) != 1 || cfg.Admin.Tokens[0].Name != "alice" || cfg.Admin.SessionTTL.D() != 8*time.Hour {
		t.Errorf("admin = %+v", cfg.Admin)
	}
	// Off by default.
	if cfg, err := LoadValidated(writeFile(t, base), nil); err != nil || len(cfg.Admin.Tokens) != 0 {
		t.Errorf("default admin = %+v, %v", cfg.Admin, err)
	}
	// From the environment, like scim.tokens.
	cfg, err = LoadValidated(writeFile(t, base), []string{"PASSBRIDGE_ADMIN_TOKENS=bob:" + alice})
	if err != nil || len(cfg.Admin.Tokens) != 1 || cfg.Admin.Tokens[0].Name != "bob" {
		t.Errorf("from env: %+v, %v", cfg.Admin, err)
	}
	for _, tc := range []struct{ yaml, key string }{
		{"admin:\n  tokens:\n    - {name: a, sha256: nothex}\n", "admin.tokens[0].sha256"},
		{"admin:\n  tokens:\n    - {sha256: \"" + alice + "\"}\n", "admin.tokens[0].name"},
		{"admin:\n  tokens:\n    - {name: a, sha256: \"" + alice + "\"}\n    - {name: a, sha256: \"" + HashToken("x") + "\"}\n", "admin.tokens[1].name"},
		{"admin:\n  tokens:\n    - {name: a, sha256: \"" + scim + "\"}\n", "admin.tokens[0].sha256"},
		{"admin:\n  sessionTTL: 10s\n", "admin.sessionTTL"},
	} {
		_, err := LoadValidated(writeFile(t, base+tc.yaml), nil)
		var ps *Problems
		if !errors.As(err, &ps) || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: err = %v, want a problem at %s", tc.yaml, err, tc.key)
		}
	}
}
