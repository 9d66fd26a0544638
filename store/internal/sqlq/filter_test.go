package sqlq

import (
	"slices"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

func TestCompileBindsValues(t *testing.T) {
	tests := map[string]struct {
		f        *connector.Filter
		ph       func(int) string
		wantSQL  string
		wantArgs []any
	}{
		"eq folds": {connector.Eq(connector.AttrUserName, "Bob'; DROP TABLE users;--"), Question,
			"u.user_name_fold = ?", []any{"bob'; drop table users;--"}},
		"co escapes": {&connector.Filter{Op: connector.OpCo, Attr: connector.AttrExternalID, Value: "a%b_c!d"}, Dollar,
			"u.external_id LIKE $1 ESCAPE '!'", []any{"%a!%b!_c!!d%"}},
		"multi-valued": {&connector.Filter{Op: connector.OpSw, Attr: connector.AttrEmailsValue, Value: "X"}, Dollar,
			"(u.id IN (SELECT e.user_id FROM user_emails e WHERE e.value_fold LIKE $1 ESCAPE '!'))", []any{"x%"}},
		"logic": {&connector.Filter{Op: connector.OpNot, Left: connector.Or(connector.Eq(connector.AttrActive, true), connector.Eq(connector.AttrID, "i"))}, Dollar,
			"(NOT (u.active = $1 OR u.id = $2))", []any{true, "i"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := Args{Placeholder: tc.ph}
			got, err := Compile(tc.f, UserSchema, &a)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.wantSQL || !slices.Equal(a.Values, tc.wantArgs) {
				t.Errorf("Compile(%s) = %q %v, want %q %v", tc.f, got, a.Values, tc.wantSQL, tc.wantArgs)
			}
		})
	}
}
