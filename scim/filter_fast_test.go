package scim

import (
	"reflect"
	"testing"
)

// The fast path gives the same tree as the general parser.
func TestFastComparisonMatchesParser(t *testing.T) {
	for _, src := range []string{
		`userName eq "alice@agency.gov.sg"`, `USERNAME EQ "Bob"`, `externalId eq "0a21f0f2"`,
		`emails.value co "agency"`, `onboardingState eq "invited"`, `id ne "x"`, `userName sw "a b"`,
		`urn:ietf:params:scim:schemas:extension:techpass:2.0:User:onboardingState eq "pending"`,
		`userName gt "m"`, `displayName eq "Developers"`,
	} {
		for _, attrs := range []filterAttrs{userFilterAttrs, groupFilterAttrs} {
			fast := fastComparison(src, attrs)
			if fast == nil {
				continue
			}
			expr, err := parseExpr(src)
			if err != nil {
				t.Fatalf("%s: parser refuses what the fast path accepts: %v", src, err)
			}
			terms := 0
			slow, err := translate(expr, attrs, 0, &terms)
			if err != nil || !reflect.DeepEqual(fast, slow) {
				t.Errorf("%s: fast %+v, parser %+v (%v)", src, fast, slow, err)
			}
		}
	}
	for _, src := range []string{`active eq "true"`, `userName eq "a\"b"`, `userName eq "x" and id eq "y"`, `title eq "x"`} {
		if f := fastComparison(src, userFilterAttrs); f != nil {
			t.Errorf("%s: fast path took it: %+v", src, f)
		}
	}
}
