package scim

import (
	"testing"

	escim "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/schema"
	fp "github.com/scim2/filter-parser/v2"
)

// Hot paths of a SCIM request, for go test -bench (see BENCHMARKS.md).

func BenchmarkParseFilterUserNameEq(b *testing.B) {
	for b.Loop() {
		if _, err := parseFilter(`userName eq "Bench-42@Agency.gov.sg"`, userFilterAttrs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFilterComplex(b *testing.B) {
	const f = `(onboardingState eq "invited" or onboardingState eq "redeemed") and emails[value ew "@agency.gov.sg"] and active eq true`
	for b.Loop() {
		if _, err := parseFilter(f, userFilterAttrs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPatchApply(b *testing.B) {
	p := newPatcher(schema.CoreUserSchema(), schema.ExtensionEnterpriseUser(), techPassSchema())
	path := func(s string) *fp.Path {
		pp, err := fp.ParsePath([]byte(s))
		if err != nil {
			b.Fatal(err)
		}
		return &pp
	}
	ops := []escim.PatchOperation{
		{Op: "replace", Path: path("active"), Value: false},
		{Op: "replace", Path: path("name.familyName"), Value: "Lim"},
		{Op: "add", Path: path(`emails[type eq "work"].value`), Value: "bob@tech.gov.sg"},
		{Op: "replace", Value: map[string]any{"displayName": "Bob Lim", "title": "Engineer"}},
	}
	for b.Loop() {
		d := doc{
			"userName": "bob@tech.gov.sg", "active": true, "displayName": "Bob",
			"name":   map[string]any{"givenName": "Bob", "familyName": "Tan"},
			"emails": []any{map[string]any{"value": "bob@tech.gov.sg", "type": "work", "primary": true}},
		}
		if err := p.apply(d, ops); err != nil {
			b.Fatal(err)
		}
	}
}
