package config

import (
	"reflect"
	"testing"
)

// scim.tokens[].scopes and .ownUsersOnly: the defaults, the file form,
// validation of scope names, and the environment form that keeps working.
func TestTokenScopes(t *testing.T) {
	sha := HashToken("techbiz")
	portal := HashToken("portal")
	base := "invitation:\n  redirectURL: https://myapps.microsoft.com\n"
	tests := map[string]struct {
		yaml  string
		env   []string
		check func(t *testing.T, c *Config)
		want  []want
	}{
		"ok/default-all-scopes": {
			yaml: base + "scim:\n  tokens:\n    - name: techbiz\n      sha256: " + sha + "\n",
			check: func(t *testing.T, c *Config) {
				tk := c.SCIM.Tokens[0]
				if !reflect.DeepEqual(tk.EffectiveScopes(), []string{"users:read", "users:write", "users:delete", "groups"}) || tk.OwnUsersOnly {
					t.Errorf("token = %+v, scopes %v", tk, tk.EffectiveScopes())
				}
			},
		},
		"ok/portal": {
			yaml: base + "scim:\n  tokens:\n    - name: portal\n      sha256: " + portal + "\n      scopes: [users:read, users:write]\n      ownUsersOnly: true\n",
			check: func(t *testing.T, c *Config) {
				tk := c.SCIM.Tokens[0]
				if !reflect.DeepEqual(tk.EffectiveScopes(), []string{"users:read", "users:write"}) || !tk.OwnUsersOnly {
					t.Errorf("token = %+v", tk)
				}
			},
		},
		"ok/env-name-sha256-keeps-defaults": {
			yaml: base,
			env:  []string{"PASSBRIDGE_SCIM_TOKENS=techbiz:" + sha + ",portal:" + portal},
			check: func(t *testing.T, c *Config) {
				want := []Token{{Name: "techbiz", SHA256: sha}, {Name: "portal", SHA256: portal}}
				if !reflect.DeepEqual(c.SCIM.Tokens, want) {
					t.Errorf("tokens = %+v", c.SCIM.Tokens)
				}
				if got := c.SCIM.Tokens[1].EffectiveScopes(); len(got) != 4 {
					t.Errorf("scopes = %v", got)
				}
			},
		},
		"fail/unknown-scope": {
			yaml: base + "scim:\n  tokens:\n    - name: portal\n      sha256: " + portal + "\n      scopes: [users:read, user:write, admin]\n",
			want: []want{
				{key: "scim.tokens[0].scopes[1]", msg: `"user:write" is not a scope (did you mean "users:write"?)`, hint: "users:delete"},
				{key: "scim.tokens[0].scopes[2]", msg: `"admin" is not a scope`, hint: "groups"},
			},
		},
		"fail/empty-scopes": {
			yaml: base + "scim:\n  tokens:\n    - name: portal\n      sha256: " + portal + "\n      scopes: []\n",
			want: []want{{key: "scim.tokens[0].scopes", msg: "is an empty list", hint: "remove the key"}},
		},
		"fail/ownUsersOnly-not-bool": {
			yaml: base + "scim:\n  tokens:\n    - name: portal\n      sha256: " + portal + "\n      ownUsersOnly: sometimes\n",
			want: []want{{key: "scim.tokens[0].ownUsersOnly"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := LoadValidated(writeFile(t, tc.yaml), tc.env, ForServe())
			if tc.want != nil {
				assertProblems(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
