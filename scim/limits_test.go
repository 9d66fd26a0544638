package scim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/scim"
)

const urnUser = "urn:ietf:params:scim:schemas:core:2.0:User"

// limitUser is a valid user body that the case then changes.
func limitUser(n int) map[string]any {
	return map[string]any{
		"schemas":  []any{urnUser},
		"userName": fmt.Sprintf("limit%d@agency.gov.sg", n),
		"emails":   []any{map[string]any{"value": fmt.Sprintf("limit%d@agency.gov.sg", n), "type": "work", "primary": true}},
	}
}

func email(n int) string {
	local := fmt.Sprintf("x%d", n%10) // distinct case to case, for uniqueness
	return local + strings.Repeat("a", n-len(local)-len("@agency.gov.sg")) + "@agency.gov.sg"
}

func values(n int, f func(i int) any) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// wantLimit checks a 400 invalidValue whose detail names field and limit.
func wantLimit(t *testing.T, r resp, field string, limit int) {
	t.Helper()
	if r.status != 400 {
		t.Fatalf("just over the limit: %d, want 400: %.300s", r.status, r.body)
	}
	m := r.json(t)
	d, _ := m["detail"].(string)
	if m["scimType"] != "invalidValue" || !strings.HasPrefix(d, field+": ") || !strings.Contains(d, " "+strconv.Itoa(limit)+" ") {
		t.Fatalf("just over the limit: scimType %v, detail %q; want invalidValue naming %s and %d", m["scimType"], d, field, limit)
	}
}

// Each limit: at the limit a 201, one over a 400 naming the attribute and
// the limit.
func TestUserLimits(t *testing.T) {
	e := newEnv(t, connector.Options{})
	const urnEnt = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	cases := []struct {
		field string
		limit int
		set   func(u map[string]any, n int)
	}{
		{"userName", scim.MaxUserNameLen, func(u map[string]any, n int) { u["userName"] = email(n) }},
		{"emails[0].value", scim.MaxEmailLen, func(u map[string]any, n int) {
			u["emails"].([]any)[0].(map[string]any)["value"] = email(n)
		}},
		{"displayName", scim.MaxDisplayNameLen, func(u map[string]any, n int) { u["displayName"] = strings.Repeat("é", n) }},
		{"externalId", scim.MaxExternalIDLen, func(u map[string]any, n int) { u["externalId"] = strings.Repeat("e", n) }},
		{"name.givenName", scim.MaxNamePartLen, func(u map[string]any, n int) { u["name"] = map[string]any{"givenName": strings.Repeat("g", n)} }},
		{"name.familyName", scim.MaxNamePartLen, func(u map[string]any, n int) { u["name"] = map[string]any{"familyName": strings.Repeat("f", n)} }},
		{"name.formatted", scim.MaxNameFormattedLen, func(u map[string]any, n int) { u["name"] = map[string]any{"formatted": strings.Repeat("n", n)} }},
		{"title", scim.MaxStringLen, func(u map[string]any, n int) { u["title"] = strings.Repeat("t", n) }},
		{"phoneNumbers[0].value", scim.MaxStringLen, func(u map[string]any, n int) {
			u["phoneNumbers"] = []any{map[string]any{"value": strings.Repeat("1", n), "type": "work"}}
		}},
		{urnEnt + ":department", scim.MaxStringLen, func(u map[string]any, n int) {
			u["schemas"] = []any{urnUser, urnEnt}
			u[urnEnt] = map[string]any{"department": strings.Repeat("d", n)}
		}},
		{urnEnt + ":manager.value", scim.MaxStringLen, func(u map[string]any, n int) {
			u["schemas"] = []any{urnUser, urnEnt}
			u[urnEnt] = map[string]any{"manager": map[string]any{"value": strings.Repeat("m", n)}}
		}},
		{"emails", scim.MaxMultiValues, func(u map[string]any, n int) {
			u["emails"] = values(n, func(i int) any {
				return map[string]any{"value": fmt.Sprintf("m%d-%d@agency.gov.sg", n, i), "type": "work", "primary": i == 0}
			})
		}},
		{"phoneNumbers", scim.MaxMultiValues, func(u map[string]any, n int) {
			u["phoneNumbers"] = values(n, func(i int) any { return map[string]any{"value": fmt.Sprintf("+65 6000 %04d", i), "type": "work"} })
		}},
		{"addresses", scim.MaxMultiValues, func(u map[string]any, n int) {
			u["addresses"] = values(n, func(i int) any { return map[string]any{"streetAddress": fmt.Sprintf("%d Road", i), "type": "work"} })
		}},
	}
	for i, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			u := limitUser(2 * i)
			c.set(u, c.limit)
			if r := e.do("POST", "/scim/v2/Users", u); r.status != 201 {
				t.Fatalf("at the limit (%d): %d, want 201: %.300s", c.limit, r.status, r.body)
			}
			u = limitUser(2*i + 1)
			c.set(u, c.limit+1)
			wantLimit(t, e.do("POST", "/scim/v2/Users", u), c.field, c.limit)
		})
	}
}

var storedBytes = regexp.MustCompile(`stored as (\d+) bytes`)

// The stored document as a whole: each attribute within its limit, the
// whole over MaxDocBytes is refused; trimmed to exactly the limit, stored.
func TestUserDocSizeLimit(t *testing.T) {
	e := newEnv(t, connector.Options{})
	// big is a user of long addresses and phone numbers, trim characters
	// taken off the last phone numbers.
	big := func(trim int) map[string]any {
		u := limitUser(1)
		u["addresses"] = values(scim.MaxMultiValues, func(i int) any {
			return map[string]any{"formatted": fmt.Sprintf("%02d", i) + strings.Repeat("a", scim.MaxStringLen-2), "type": "work"}
		})
		lens := make([]int, scim.MaxMultiValues)
		for i := len(lens) - 1; i >= 0; i-- {
			cut := min(trim, scim.MaxStringLen-2)
			lens[i], trim = scim.MaxStringLen-cut, trim-cut
		}
		u["phoneNumbers"] = values(scim.MaxMultiValues, func(i int) any {
			return map[string]any{"value": fmt.Sprintf("%02d", i) + strings.Repeat("9", lens[i]-2), "type": "work"}
		})
		return u
	}
	r := e.do("POST", "/scim/v2/Users", big(0))
	wantLimit(t, r, "body", scim.MaxDocBytes)
	m := storedBytes.FindStringSubmatch(r.json(t)["detail"].(string))
	if m == nil {
		t.Fatalf("the detail does not say the size: %s", r.body)
	}
	n, _ := strconv.Atoi(m[1])
	over := n - scim.MaxDocBytes
	wantLimit(t, e.do("POST", "/scim/v2/Users", big(over-1)), "body", scim.MaxDocBytes)
	if r := e.do("POST", "/scim/v2/Users", big(over)); r.status != 201 {
		t.Fatalf("exactly %d bytes: %d, want 201: %.300s", scim.MaxDocBytes, r.status, r.body)
	}
}

// PUT and PATCH meet the same limits.
func TestUserLimitsOnReplaceAndPatch(t *testing.T) {
	e := newEnv(t, connector.Options{})
	r := e.do("POST", "/scim/v2/Users", limitUser(1))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	u := limitUser(1)
	u["displayName"] = strings.Repeat("p", scim.MaxDisplayNameLen+1)
	wantLimit(t, e.do("PUT", "/scim/v2/Users/"+id, u), "displayName", scim.MaxDisplayNameLen)
	patch := func(path string, v any) resp {
		return e.do("PATCH", "/scim/v2/Users/"+id, map[string]any{
			"schemas":    []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": path, "value": v}},
		})
	}
	wantLimit(t, patch("displayName", strings.Repeat("p", scim.MaxDisplayNameLen+1)), "displayName", scim.MaxDisplayNameLen)
	wantLimit(t, patch("phoneNumbers", values(scim.MaxMultiValues+1, func(i int) any {
		return map[string]any{"value": fmt.Sprint(i), "type": "work"}
	})), "phoneNumbers", scim.MaxMultiValues)
	if r := patch("displayName", strings.Repeat("p", scim.MaxDisplayNameLen)); r.status != 200 {
		t.Fatalf("PATCH at the limit: %d %s", r.status, r.body)
	}
}

// A user stored before the limits (here: through the service) still takes
// Entra's PATCH active=false; what a PATCH writes meets the limits.
func TestLegacyOversizedUserPatch(t *testing.T) {
	e := newEnv(t, connector.Options{})
	doc, _ := json.Marshal(map[string]any{"displayName": strings.Repeat("L", 100000)})
	u, err := e.svc.CreateUser(context.Background(), "test", connector.User{
		UserName: "legacy@agency.gov.sg", Emails: []string{"legacy@agency.gov.sg"}, Active: true, Doc: doc})
	if err != nil {
		t.Fatal(err)
	}
	patch := func(path string, v any) resp {
		return e.do("PATCH", "/scim/v2/Users/"+u.ID, map[string]any{
			"schemas":    []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": path, "value": v}},
		})
	}
	if r := patch("active", "False"); r.status != 200 {
		t.Fatalf("PATCH active=false of a legacy user: %d %.300s", r.status, r.body)
	}
	// What a PATCH writes still meets the limits.
	wantLimit(t, patch("title", strings.Repeat("t", scim.MaxStringLen+1)), "title", scim.MaxStringLen)
	if r := patch("title", "Officer"); r.status != 200 {
		t.Fatalf("PATCH title of a legacy user: %d %.300s", r.status, r.body)
	}
}

func TestGroupLimits(t *testing.T) {
	e := newEnv(t, connector.Options{})
	ctx := context.Background()
	ids := make([]any, scim.MaxMembersPerRequest+1)
	for i := range ids {
		u, err := e.svc.CreateUser(ctx, "test", connector.User{
			UserName: fmt.Sprintf("member%d@agency.gov.sg", i), Emails: []string{fmt.Sprintf("member%d@agency.gov.sg", i)}, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = map[string]any{"value": u.ID}
	}
	group := func(name string, members []any) map[string]any {
		return map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": members}
	}
	wantLimit(t, e.do("POST", "/scim/v2/Groups", group(strings.Repeat("g", scim.MaxDisplayNameLen+1), nil)), "displayName", scim.MaxDisplayNameLen)
	if r := e.do("POST", "/scim/v2/Groups", group(strings.Repeat("g", scim.MaxDisplayNameLen), nil)); r.status != 201 {
		t.Fatalf("displayName at the limit: %d %.300s", r.status, r.body)
	}
	wantLimit(t, e.do("POST", "/scim/v2/Groups", group("too many", ids)), "members", scim.MaxMembersPerRequest)
	r := e.do("POST", "/scim/v2/Groups", group("at the limit", ids[:scim.MaxMembersPerRequest]))
	if r.status != 201 {
		t.Fatalf("%d members: %d %.300s", scim.MaxMembersPerRequest, r.status, r.body)
	}
	gid := r.json(t)["id"].(string)
	wantLimit(t, e.do("PUT", "/scim/v2/Groups/"+gid, group("at the limit", ids)), "members", scim.MaxMembersPerRequest)
	patch := func(members []any) resp {
		return e.do("PATCH", "/scim/v2/Groups/"+gid, map[string]any{
			"schemas":    []any{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "remove", "path": "members", "value": members}},
		})
	}
	wantLimit(t, patch(ids), "Operations", scim.MaxMembersPerRequest)
	if r := patch(ids[:scim.MaxMembersPerRequest]); r.status != 204 {
		t.Fatalf("PATCH of %d members: %d %.300s", scim.MaxMembersPerRequest, r.status, r.body)
	}
}

// A page is at most MaxPageSize, and ServiceProviderConfig says so.
func TestPageLimit(t *testing.T) {
	e := newEnv(t, connector.Options{})
	r := e.do("GET", "/scim/v2/ServiceProviderConfig", nil)
	if f, _ := r.json(t)["filter"].(map[string]any); f["maxResults"] != float64(scim.MaxPageSize) {
		t.Fatalf("filter.maxResults %v, want %d", f["maxResults"], scim.MaxPageSize)
	}
	ctx := context.Background()
	for i := range scim.MaxPageSize + 5 {
		if _, err := e.svc.CreateUser(ctx, "test", connector.User{
			UserName: fmt.Sprintf("page%d@agency.gov.sg", i), Emails: []string{fmt.Sprintf("page%d@agency.gov.sg", i)}, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"?count=1000", ""} {
		m := e.do("GET", "/scim/v2/Users"+q, nil).json(t)
		if got := len(m["Resources"].([]any)); got != scim.MaxPageSize || m["itemsPerPage"] != float64(scim.MaxPageSize) || m["totalResults"] != float64(scim.MaxPageSize+5) {
			t.Fatalf("GET /Users%s: %d resources, itemsPerPage %v, totalResults %v; want %d, %d, %d",
				q, got, m["itemsPerPage"], m["totalResults"], scim.MaxPageSize, scim.MaxPageSize, scim.MaxPageSize+5)
		}
	}
}
