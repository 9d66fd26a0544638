package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/scim"
	"github.com/passbridge/passbridge/store/sqlite"
)

const patchURN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

// Tests of issue 15: multi-valued attributes (RFC 7643 §2.4), PATCH targets
// (RFC 7644 §3.5.2), $ref resolution and the optional query forms.

func userBody(name string, extra map[string]any) map[string]any {
	b := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": name,
		"emails":   []any{map[string]any{"type": "work", "value": name, "primary": true}},
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func createUser(t *testing.T, e *env, name string, extra map[string]any) map[string]any {
	t.Helper()
	r := e.do("POST", "/scim/v2/Users", userBody(name, extra))
	if r.status != 201 {
		t.Fatalf("create %s: %d %s", name, r.status, r.body)
	}
	return r.json(t)
}

func wantError(t *testing.T, r resp, status int, scimType, detailHas string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	m := r.json(t)
	if m["scimType"] != scimType {
		t.Errorf("scimType %v, want %q: %s", m["scimType"], scimType, r.body)
	}
	if d := fmt.Sprint(m["detail"]); !strings.Contains(d, detailHas) {
		t.Errorf("detail %q does not contain %q", d, detailHas)
	}
}

func primaries(u map[string]any, attr string) (n int, which []string) {
	list, _ := u[attr].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		if m["primary"] == true {
			n++
			which = append(which, fmt.Sprint(m["value"]))
		}
	}
	return n, which
}

func TestMultiValuedTwoPrimaryRefused(t *testing.T) {
	e := newEnv(t, connector.Options{})
	cases := map[string]struct {
		attr  string
		value []any
	}{
		"emails": {"emails", []any{
			map[string]any{"type": "work", "value": "a@agency.gov.sg", "primary": true},
			map[string]any{"type": "home", "value": "a@home.example", "primary": true},
		}},
		"phoneNumbers": {"phoneNumbers", []any{
			map[string]any{"type": "work", "value": "+65 6000 0001", "primary": true},
			map[string]any{"type": "mobile", "value": "+65 9000 0001", "primary": true},
		}},
		"addresses": {"addresses", []any{
			map[string]any{"type": "work", "locality": "Singapore", "primary": true},
			map[string]any{"type": "home", "locality": "Jurong", "primary": true},
		}},
		"ims": {"ims", []any{
			map[string]any{"type": "skype", "value": "a1", "primary": true},
			map[string]any{"type": "xmpp", "value": "a2", "primary": true},
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			body := userBody("p-"+name+"@agency.gov.sg", map[string]any{tc.attr: tc.value})
			if tc.attr == "emails" {
				body["userName"] = "a@agency.gov.sg"
			}
			wantError(t, e.do("POST", "/scim/v2/Users", body), 400, "invalidValue", tc.attr+": \"primary\": true on more than one value")
			// PUT too.
			u := createUser(t, e, "put-"+name+"@agency.gov.sg", nil)
			body["userName"] = u["userName"]
			wantError(t, e.do("PUT", "/scim/v2/Users/"+fmt.Sprint(u["id"]), body), 400, "invalidValue", tc.attr+": ")
		})
	}
}

func TestMultiValuedDuplicateRefused(t *testing.T) {
	e := newEnv(t, connector.Options{})
	body := userBody("dup@agency.gov.sg", map[string]any{"emails": []any{
		map[string]any{"type": "work", "value": "dup@agency.gov.sg", "primary": true},
		map[string]any{"type": "work", "value": "DUP@agency.gov.sg"},
	}})
	wantError(t, e.do("POST", "/scim/v2/Users", body), 400, "invalidValue", "emails[1]: the same value as emails[0]")

	body = userBody("dup2@agency.gov.sg", map[string]any{"phoneNumbers": []any{
		map[string]any{"type": "work", "value": "+65 6000 0001"},
		map[string]any{"type": "work", "value": "+65 6000 0001"},
	}})
	wantError(t, e.do("POST", "/scim/v2/Users", body), 400, "invalidValue", "phoneNumbers[1]")

	body = userBody("dup3@agency.gov.sg", map[string]any{"addresses": []any{
		map[string]any{"type": "work", "locality": "Singapore"},
		map[string]any{"type": "work", "locality": "singapore"},
	}})
	wantError(t, e.do("POST", "/scim/v2/Users", body), 400, "invalidValue", "addresses[1]")

	// The same value with another type is not a duplicate.
	createUser(t, e, "ok@agency.gov.sg", map[string]any{"emails": []any{
		map[string]any{"type": "work", "value": "ok@agency.gov.sg", "primary": true},
		map[string]any{"type": "other", "value": "ok@agency.gov.sg"},
	}})

	// Group members: the same member twice.
	u := createUser(t, e, "member@agency.gov.sg", nil)
	id := fmt.Sprint(u["id"])
	g := map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "dup-members",
		"members":     []any{map[string]any{"value": id}, map[string]any{"value": id}},
	}
	wantError(t, e.do("POST", "/scim/v2/Groups", g), 400, "invalidValue", "members[1].value: the same member as members[0]")
}

func TestPatchPrimaryClearsOthers(t *testing.T) {
	e := newEnv(t, connector.Options{})
	u := createUser(t, e, "pp@agency.gov.sg", map[string]any{"phoneNumbers": []any{
		map[string]any{"type": "work", "value": "+65 6000 0001", "primary": true},
		map[string]any{"type": "mobile", "value": "+65 9000 0001"},
	}})
	id := fmt.Sprint(u["id"])
	cases := []struct {
		name  string
		ops   []any
		attr  string
		wants string
	}{
		{"add-email", []any{map[string]any{"op": "add", "path": "emails", "value": []any{
			map[string]any{"type": "other", "value": "pp2@agency.gov.sg", "primary": true}}}}, "emails", "pp2@agency.gov.sg"},
		{"add-existing-email-primary", []any{map[string]any{"op": "add", "path": "emails", "value": []any{
			map[string]any{"type": "work", "value": "pp@agency.gov.sg", "primary": true}}}}, "emails", "pp@agency.gov.sg"},
		{"replace-filter-primary", []any{map[string]any{"op": "replace", "path": `phoneNumbers[type eq "mobile"].primary`, "value": true}}, "phoneNumbers", "+65 9000 0001"},
		{"replace-filter-object", []any{map[string]any{"op": "Replace", "path": `phoneNumbers[type eq "work"]`, "value": map[string]any{"primary": true}}}, "phoneNumbers", "+65 6000 0001"},
		{"pathless-add", []any{map[string]any{"op": "add", "value": map[string]any{"phoneNumbers": []any{
			map[string]any{"type": "home", "value": "+65 6111 1111", "primary": true}}}}}, "phoneNumbers", "+65 6111 1111"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("PATCH", "/scim/v2/Users/"+id, map[string]any{"schemas": []string{patchURN}, "Operations": tc.ops})
			if r.status != 200 {
				t.Fatalf("PATCH: %d %s", r.status, r.body)
			}
			n, which := primaries(r.json(t), tc.attr)
			if n != 1 || which[0] != tc.wants {
				t.Fatalf("%s primaries %v, want only %s: %s", tc.attr, which, tc.wants, r.body)
			}
			g := e.do("GET", "/scim/v2/Users/"+id, nil)
			if n, which := primaries(g.json(t), tc.attr); n != 1 || which[0] != tc.wants {
				t.Fatalf("stored %s primaries %v, want only %s", tc.attr, which, tc.wants)
			}
		})
	}
	// A PATCH that itself marks two values primary is refused.
	r := e.do("PATCH", "/scim/v2/Users/"+id, map[string]any{"schemas": []string{patchURN}, "Operations": []any{
		map[string]any{"op": "replace", "path": "emails", "value": []any{
			map[string]any{"type": "work", "value": "pp@agency.gov.sg", "primary": true},
			map[string]any{"type": "home", "value": "pp@home.example", "primary": true}}}}})
	wantError(t, r, 400, "invalidValue", "emails: \"primary\": true on more than one value")
}

func TestPatchFilterNoTarget(t *testing.T) {
	e := newEnv(t, connector.Options{})
	u := createUser(t, e, "nt@agency.gov.sg", nil)
	id := fmt.Sprint(u["id"])
	patch := func(ops ...any) resp {
		return e.do("PATCH", "/scim/v2/Users/"+id, map[string]any{"schemas": []string{patchURN}, "Operations": ops})
	}
	// RFC 7644 §3.5.2.3: replace with a filter that matches no value.
	wantError(t, patch(map[string]any{"op": "replace", "path": `emails[type eq "none"].value`, "value": "x@agency.gov.sg"}),
		400, "noTarget", `emails[type eq "none"]`)
	wantError(t, patch(map[string]any{"op": "Replace", "path": `emails[type eq "none"]`, "value": map[string]any{"value": "x@agency.gov.sg"}}),
		400, "noTarget", "emails")
	if g := e.do("GET", "/scim/v2/Users/"+id, nil).json(t); len(g["emails"].([]any)) != 1 {
		t.Fatalf("a refused PATCH changed the user: %v", g["emails"])
	}
	// Remove with a filter that matches nothing: RFC 7644 §3.5.2.2 names
	// no error, and Entra's members[value eq …] remove must stay idempotent.
	if r := patch(map[string]any{"op": "remove", "path": `emails[type eq "none"]`}); r.status != 200 {
		t.Fatalf("remove matching nothing: %d %s", r.status, r.body)
	}
	// Entra's form, on a user with a work e-mail: replaces it.
	r := patch(map[string]any{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "nt2@agency.gov.sg"})
	if r.status != 200 || !strings.Contains(string(r.body), "nt2@agency.gov.sg") {
		t.Fatalf("Entra replace: %d %s", r.status, r.body)
	}
	// ... and on a user without e-mails: treated as add (RFC 7644 §3.5.2.3).
	v := createUser(t, e, "noemail@agency.gov.sg", map[string]any{"emails": nil, "phoneNumbers": []any{map[string]any{"type": "work", "value": "1"}}})
	r = e.do("PATCH", "/scim/v2/Users/"+fmt.Sprint(v["id"]), map[string]any{"schemas": []string{patchURN}, "Operations": []any{
		map[string]any{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "noemail@agency.gov.sg"}}})
	if r.status != 200 || !strings.Contains(string(r.body), `"type":"work"`) {
		t.Fatalf("Entra replace on a user without e-mails: %d %s", r.status, r.body)
	}
	// Groups: a replace of a member that is not there is noTarget too; the
	// flagged-dialect remove of a non-member succeeds.
	g := e.do("POST", "/scim/v2/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "nt",
		"members": []any{map[string]any{"value": id}}}).json(t)
	gp := func(ops ...any) resp {
		return e.do("PATCH", "/scim/v2/Groups/"+fmt.Sprint(g["id"]), map[string]any{"schemas": []string{patchURN}, "Operations": ops})
	}
	wantError(t, gp(map[string]any{"op": "replace", "path": `members[value eq "nobody"].value`, "value": id}), 400, "noTarget", "members")
	if r := gp(map[string]any{"op": "remove", "path": `members[value eq "7f4bc1a3-285e-48ae-8202-5accb43efb0e"]`}); r.status != 204 {
		t.Fatalf("flagged-dialect remove of a non-member: %d %s", r.status, r.body)
	}
}

// A user stored before these checks with two primaries can still be
// disabled by Entra's PATCH active=False.
func TestPatchLegacyTwoPrimaries(t *testing.T) {
	e := newEnv(t, connector.Options{})
	u := createUser(t, e, "legacy@agency.gov.sg", nil)
	id := fmt.Sprint(u["id"])
	_, err := e.svc.UpdateUser(context.Background(), "test", id, nil, func(u *connector.User) error {
		u.Doc = []byte(`{"emails":[{"type":"work","value":"legacy@agency.gov.sg","primary":true},{"type":"home","value":"l@home.example","primary":true}]}`)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("PATCH", "/scim/v2/Users/"+id, map[string]any{"schemas": []string{patchURN}, "Operations": []any{
		map[string]any{"op": "Replace", "path": "active", "value": "False"}}})
	if r.status != 200 {
		t.Fatalf("PATCH active on a legacy user: %d %s", r.status, r.body)
	}
}

// newEnvAt is newEnv with server.publicURL set to the test server's own
// address (or to the address plus suffix), so that returned URIs can be
// followed.
func newEnvAt(t *testing.T, public func(srvURL string) string) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := connector.NewService(st, connector.Options{})
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	s, err := scim.New(svc, scim.Options{
		Tokens:    []scim.Token{{Name: "techbiz", SHA256: config.HashToken(testToken)}},
		PublicURL: public(srv.URL),
	})
	if err != nil {
		t.Fatal(err)
	}
	h = s
	return &env{t: t, srv: srv, store: st, svc: svc}
}

// collectRefs finds every "$ref" and meta "location" string in a response.
func collectRefs(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, y := range x {
			if s, ok := y.(string); ok && (k == "$ref" || k == "location") {
				*out = append(*out, s)
			}
			collectRefs(y, out)
		}
	case []any:
		for _, y := range x {
			collectRefs(y, out)
		}
	}
}

func TestEveryRefResolves(t *testing.T) {
	cases := map[string]func(string) string{
		"publicURL":             func(u string) string { return u },
		"publicURL-with-slash":  func(u string) string { return u + "/" },
		"publicURL-with-prefix": func(u string) string { return u + "/scim/v2" },
		"no-publicURL":          func(string) string { return "" },
	}
	for name, public := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnvAt(t, public)
			u := createUser(t, e, "ref@agency.gov.sg", nil)
			id := fmt.Sprint(u["id"])
			cr := e.do("POST", "/scim/v2/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
				"displayName": "refs", "members": []any{map[string]any{"value": id}}})
			if cr.status != 201 {
				t.Fatalf("create group: %d %s", cr.status, cr.body)
			}
			gid := fmt.Sprint(cr.json(t)["id"])
			refs := []string{cr.header.Get("Location")}
			for _, p := range []string{"/scim/v2/Users/" + id, "/scim/v2/Groups/" + gid, "/scim/v2/Users", "/scim/v2/Groups",
				"/scim/v2/ServiceProviderConfig", "/scim/v2/ResourceTypes", "/scim/v2/Schemas"} {
				r := e.do("GET", p, nil)
				if r.status != 200 {
					t.Fatalf("GET %s: %d %s", p, r.status, r.body)
				}
				collectRefs(r.json(t), &refs)
			}
			sawMember := false
			base, _ := url.Parse(e.srv.URL + "/scim/v2/Users")
			for _, ref := range refs {
				if strings.Contains(ref, "/Users/"+id) {
					sawMember = true
				}
				ru, err := base.Parse(ref)
				if err != nil || ru.Host != base.Host {
					t.Fatalf("$ref %q does not point at this server (%v)", ref, err)
				}
				r := e.do("GET", ru.RequestURI(), nil)
				if r.status != 200 {
					t.Errorf("following %q (GET %s): %d %s", ref, ru.RequestURI(), r.status, r.body)
				}
			}
			if !sawMember || len(refs) < 8 {
				t.Fatalf("too few references checked (%d, member seen %v): %v", len(refs), sawMember, refs)
			}
		})
	}
}

func TestSearchEndpoints(t *testing.T) {
	e := newEnv(t, connector.Options{})
	for _, n := range []string{"s1@agency.gov.sg", "s2@agency.gov.sg", "s3@agency.gov.sg"} {
		createUser(t, e, n, nil)
	}
	sr := func(m map[string]any) map[string]any {
		m["schemas"] = []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}
		return m
	}
	r := e.do("POST", "/scim/v2/Users/.search", sr(map[string]any{"filter": `userName eq "s2@agency.gov.sg"`, "attributes": []string{"userName"}}))
	if r.status != 200 {
		t.Fatalf(".search: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["totalResults"] != float64(1) || !strings.Contains(string(r.body), "s2@agency.gov.sg") || strings.Contains(string(r.body), `"emails"`) {
		t.Fatalf(".search answer: %s", r.body)
	}
	r = e.do("POST", "/scim/v2/Users/.search", sr(map[string]any{"startIndex": 2, "count": 1}))
	if m := r.json(t); r.status != 200 || m["totalResults"] != float64(3) || m["startIndex"] != float64(2) || len(m["Resources"].([]any)) != 1 {
		t.Fatalf(".search paging: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/scim/v2/Groups/.search", sr(map[string]any{"filter": `displayName eq "none"`})); r.status != 200 {
		t.Fatalf("Groups/.search: %d %s", r.status, r.body)
	}
	wantError(t, e.do("POST", "/scim/v2/Users/.search", map[string]any{"filter": "userName pr"}), 400, "invalidValue", "schemas: must include")
	wantError(t, e.do("POST", "/scim/v2/Users/.search", sr(map[string]any{"count": "ten"})), 400, "invalidValue", "count: must be an integer")
	wantError(t, e.do("POST", "/scim/v2/Users/.search", sr(map[string]any{"filter": "favouriteColour eq 1"})), 400, "invalidFilter", "filter")
	wantError(t, e.do("POST", "/scim/v2/Users/.search", "{"), 400, "invalidSyntax", "body")
	if r := e.do("GET", "/scim/v2/Users/.search", nil); r.status != 405 {
		t.Fatalf("GET .search: %d %s", r.status, r.body)
	}

	// The server root: not supported, said plainly.
	for _, q := range []struct{ method, path string }{{"GET", "/scim/v2/"}, {"GET", "/scim/v2"}, {"POST", "/scim/v2/.search"}} {
		r := e.do(q.method, q.path, sr(map[string]any{}))
		if r.status != 501 || !strings.Contains(fmt.Sprint(r.json(t)["detail"]), "/scim/v2/Users") {
			t.Errorf("%s %s: %d %s", q.method, q.path, r.status, r.body)
		}
	}

	// sortBy: ServiceProviderConfig says sort is unsupported, and sortBy is
	// ignored (the order is the same as without it).
	spc := e.do("GET", "/scim/v2/ServiceProviderConfig", nil).json(t)
	if s, _ := spc["sort"].(map[string]any); s["supported"] != false {
		t.Fatalf("sort: %v", spc["sort"])
	}
	plain := e.do("GET", "/scim/v2/Users", nil)
	sorted := e.do("GET", "/scim/v2/Users?sortBy=userName&sortOrder=descending", nil)
	if sorted.status != 200 || fmt.Sprint(ids(plain.json(t))) != fmt.Sprint(ids(sorted.json(t))) {
		t.Fatalf("sortBy changed the answer: %d %s", sorted.status, sorted.body)
	}
	if r := e.do("POST", "/scim/v2/Users/.search", sr(map[string]any{"sortBy": "userName", "sortOrder": "descending"})); r.status != 200 ||
		fmt.Sprint(ids(plain.json(t))) != fmt.Sprint(ids(r.json(t))) {
		t.Fatalf(".search with sortBy: %d %s", r.status, r.body)
	}
}

func ids(list map[string]any) []string {
	var out []string
	rs, _ := list["Resources"].([]any)
	for _, r := range rs {
		out = append(out, fmt.Sprint(r.(map[string]any)["id"]))
	}
	return out
}

// Odd multi-valued and search requests: never a 500, and the refusal names
// what to fix.
func TestMultiValuedOddInputNever500(t *testing.T) {
	e := newEnv(t, connector.Options{})
	u := createUser(t, e, "odd@agency.gov.sg", nil)
	id := fmt.Sprint(u["id"])
	ops := []string{
		`{"op":"add","path":"emails","value":"odd2@agency.gov.sg"}`,
		`{"op":"replace","path":"emails[type eq \"work\"]","value":"x"}`,
		`{"op":"replace","path":"emails[type eq \"work\"].primary","value":"yes"}`,
		`{"op":"add","path":"emails[value eq \"o3@agency.gov.sg\"].primary","value":true}`,
		`{"op":"replace","path":"emails[type co \"z\"].value","value":"x@agency.gov.sg"}`,
		`{"op":"add","path":"phoneNumbers","value":[{"value":"1","primary":true},{"value":"1","primary":true}]}`,
		`{"op":"replace","path":"addresses","value":[{"primary":true},{"primary":"True"}]}`,
		`{"op":"add","path":"emails","value":[null,{"value":"o4@agency.gov.sg","primary":true}]}`,
		`{"op":"remove","path":"emails[primary eq true]"}`,
	}
	for i, op := range ops {
		r := e.do("PATCH", "/scim/v2/Users/"+id, `{"schemas":["`+patchURN+`"],"Operations":[`+op+`]}`)
		t.Logf("op %d: %d %.200s", i, r.status, r.body)
		if r.status >= 500 {
			t.Errorf("op %d %s: %d %s", i, op, r.status, r.body)
		}
		if r.status >= 400 {
			if d := fmt.Sprint(r.json(t)["detail"]); !strings.Contains(d, ":") {
				t.Errorf("op %d: detail names no field: %s", i, r.body)
			}
		}
	}
	for i, body := range []string{`[]`, `null`, `{"schemas":"x"}`, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"attributes":{"a":1}}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"startIndex":1.5}`} {
		r := e.do("POST", "/scim/v2/Users/.search", body)
		if r.status != 400 || !strings.Contains(fmt.Sprint(r.json(t)["detail"]), ":") {
			t.Errorf(".search body %d %s: %d %s", i, body, r.status, r.body)
		}
	}
}
