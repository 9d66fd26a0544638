package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/scim"
	"github.com/passbridge/passbridge/store/sqlite"
)

// Fuzz targets for what a SCIM client controls: request bodies (POST/PUT),
// PATCH operations and filters. They run through the real SCIM handler over
// SQLite (the handler is called directly, without a TCP round trip, for
// throughput). `go test ./scim/` runs the seeds, taken from the golden files
// and testdata/fuzz/<FuzzName>/; docs/FUZZING.md says how to fuzz for real.
//
// The properties, for every response:
//   - no 5xx and no panic;
//   - a 4xx is a SCIM error: application/scim+json, schemas holding the
//     Error URN, status the code as a string;
//   - a 2xx with a body is a JSON object;
//   - no internal text (SQL, Go runtime or type names) that the request did
//     not itself contain.

// fuzzEnv is one server over one SQLite database, made once per fuzz
// process (testing.F) and reused by every input it runs.
type fuzzEnv struct {
	h    http.Handler
	seq  atomic.Int64
	seed string // id of a user that inputs may refer to (manager, members)
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "pb.db"))
	if err != nil {
		f.Fatalf("open store: %v", err)
	}
	f.Cleanup(func() { st.Close() })
	svc := connector.NewService(st, connector.Options{})
	s, err := scim.New(svc, scim.Options{
		Tokens:    []scim.Token{{Name: "techbiz", SHA256: config.HashToken(testToken)}},
		PublicURL: "https://passbridge.example",
		Ready:     st.Ping,
	})
	if err != nil {
		f.Fatalf("scim.New: %v", err)
	}
	e := &fuzzEnv{h: s}
	e.seed = e.mustCreateUser(f)
	return e
}

func (e *fuzzEnv) do(method, target string, body []byte) *httptest.ResponseRecorder {
	var req *http.Request
	if body == nil {
		req = httptest.NewRequest(method, target, nil)
	} else {
		req = httptest.NewRequest(method, target, bytes.NewReader(body))
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/scim+json")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// mustCreateUser creates a fresh user, so that each input starts from the
// same state whatever ran before it in the process.
func (e *fuzzEnv) mustCreateUser(tb testing.TB) string {
	tb.Helper()
	n := e.seq.Add(1)
	mail := fmt.Sprintf("fuzz-%d@agency.gov.sg", n)
	body, _ := json.Marshal(map[string]any{
		"schemas":  []string{scim.URNUser},
		"userName": mail,
		"name":     map[string]any{"givenName": "Fuzz", "familyName": "Tester"},
		"emails":   []any{map[string]any{"value": mail, "type": "work", "primary": true}},
		"title":    "Engineer",
	})
	return e.mustCreate(tb, "/scim/v2/Users", body)
}

func (e *fuzzEnv) mustCreateGroup(tb testing.TB) string {
	tb.Helper()
	body, _ := json.Marshal(map[string]any{
		"schemas":     []string{scim.URNGroup},
		"displayName": fmt.Sprintf("fuzz group %d", e.seq.Add(1)),
		"members":     []any{map[string]any{"value": e.seed}},
	})
	return e.mustCreate(tb, "/scim/v2/Groups", body)
}

func (e *fuzzEnv) mustCreate(tb testing.TB, path string, body []byte) string {
	tb.Helper()
	rec := e.do(http.MethodPost, path, body)
	var got struct{ ID string }
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got.ID == "" {
		tb.Fatalf("setup: POST %s: %d %s", path, rec.Code, rec.Body.Bytes())
	}
	return got.ID
}

// internalText is what a response must never show unless the client sent
// it: the store's, the runtime's and the JSON decoder's own words.
var internalText = []string{
	"sql", "goroutine", ".go:", "panic", "runtime error", "nil pointer",
	"map[string]", "[]interface", "interface {}", "interface{}", "go value", "go struct",
	"reflect", "constraint", "database is locked", "elimity",
	"json: cannot", "json: unsupported", "json: invalid", "strconv.", "invalid memory address", "index out of range",
}

// checkResponse asserts the properties every response must have. inputs are
// what the client sent (internal words they contain may be echoed).
func checkResponse(t *testing.T, what string, rec *httptest.ResponseRecorder, inputs ...string) {
	t.Helper()
	body := rec.Body.Bytes()
	if rec.Code >= 500 {
		t.Fatalf("%s: status %d: %s", what, rec.Code, body)
	}
	if rec.Code >= 400 {
		if ct := rec.Header().Get("Content-Type"); ct != "application/scim+json" {
			t.Errorf("%s: error Content-Type %q", what, ct)
		}
		var e struct {
			Schemas []string
			Status  any
			Detail  string
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s: %d body is not a SCIM error: %v: %s", what, rec.Code, err, body)
		}
		if len(e.Schemas) != 1 || e.Schemas[0] != scim.URNError {
			t.Errorf("%s: %d error schemas %v", what, rec.Code, e.Schemas)
		}
		if s, ok := e.Status.(string); !ok || s != strconv.Itoa(rec.Code) {
			t.Errorf("%s: %d error status field %#v, want the string %q", what, rec.Code, e.Status, strconv.Itoa(rec.Code))
		}
	} else if len(body) > 0 {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %d body is not a JSON object: %v: %s", what, rec.Code, err, body)
		}
	}
	if leak := internalLeak(body, inputs...); leak != "" {
		t.Errorf("%s: %d response shows internal text %q: %s", what, rec.Code, leak, body)
	}
}

// internalLeak returns the first internal word in body that none of the
// inputs (raw, or with JSON escapes decoded) contains.
func internalLeak(body []byte, inputs ...string) string {
	low := strings.ToLower(string(body))
	// The response's own JSON escapes ("\u003c") are not what a client reads.
	var decoded any
	if json.Unmarshal(body, &decoded) == nil {
		low += "\n" + strings.ToLower(flatten(decoded))
	}
	var in strings.Builder
	for _, s := range inputs {
		in.WriteString(strings.ToLower(s))
		in.WriteByte('\n')
		var v any
		if json.Unmarshal([]byte(s), &v) == nil {
			in.WriteString(strings.ToLower(flatten(v)))
			in.WriteByte('\n')
		}
		if u, err := url.QueryUnescape(s); err == nil {
			in.WriteString(strings.ToLower(u))
			in.WriteByte('\n')
		}
	}
	sent := in.String()
	for _, w := range internalText {
		if strings.Contains(low, w) && !strings.Contains(sent, w) {
			return w
		}
	}
	return ""
}

// flatten joins every key and string of a decoded JSON value.
func flatten(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				b.WriteString(k)
				b.WriteByte('\n')
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			b.WriteString(x)
			b.WriteByte('\n')
		}
	}
	walk(v)
	return b.String()
}

// goldenRequest is one request of a golden file; {{var}} references are
// replaced by idMarker, which the fuzz functions replace with the id of a
// user that exists.
type goldenRequest struct {
	method, path string
	body         []byte
}

const idMarker = "@ID@"

func goldenRequests(tb testing.TB) []goldenRequest {
	tb.Helper()
	files, err := filepath.Glob("testdata/golden/*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no golden files: %v", err)
	}
	var out []goldenRequest
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var g goldenFile
		if err := json.Unmarshal(raw, &g); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		for _, st := range g.Steps {
			r := goldenRequest{method: st.Request.Method, path: varRe.ReplaceAllString(st.Request.Path, idMarker)}
			if len(st.Request.Body) > 0 {
				r.body = []byte(varRe.ReplaceAllString(string(st.Request.Body), idMarker))
			}
			out = append(out, r)
		}
	}
	return out
}

// goldenBodies returns the bodies of the golden requests for which keep is
// true. A body that is a JSON string (a deliberately broken body) is added
// decoded as well.
func goldenBodies(tb testing.TB, keep func(method, path string) bool) [][]byte {
	var out [][]byte
	for _, r := range goldenRequests(tb) {
		if r.body == nil || !keep(r.method, r.path) {
			continue
		}
		out = append(out, r.body)
		var s string
		if json.Unmarshal(r.body, &s) == nil {
			out = append(out, []byte(s))
		}
	}
	if len(out) == 0 {
		tb.Fatal("no golden bodies selected")
	}
	return out
}

func FuzzUserBody(f *testing.F) {
	for _, b := range goldenBodies(f, func(m, p string) bool {
		return (m == http.MethodPost || m == http.MethodPut) && strings.HasPrefix(p, "/scim/v2/Users")
	}) {
		f.Add(false, b)
		f.Add(true, b)
	}
	for _, b := range []string{
		``, `null`, `[]`, `{}`, `"x"`, `{"schemas":null}`, `{} {}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@agency.gov.sg","userName":"b@agency.gov.sg"}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@agency.gov.sg","USERNAME":"b@agency.gov.sg"}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@agency.gov.sg","emails":[{"value":1e999}]}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@agency.gov.sg","urn:ietf:params:scim:schemas:extension:techpass:2.0:User":{"seedRequested":"True","mailboxType":7}}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@agency.gov.sg","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"x"}}}`,
	} {
		f.Add(false, []byte(b))
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, put bool, body []byte) {
		method, target := http.MethodPost, "/scim/v2/Users"
		if put {
			method, target = http.MethodPut, "/scim/v2/Users/"+e.mustCreateUser(t)
		}
		body = bytes.ReplaceAll(body, []byte(idMarker), []byte(e.seed))
		rec := e.do(method, target, body)
		what := method + " /Users"
		checkResponse(t, what, rec, string(body))
		switch {
		case rec.Code < 300 && put && rec.Code != http.StatusOK,
			rec.Code < 300 && !put && rec.Code != http.StatusCreated:
			t.Fatalf("%s: success status %d", what, rec.Code)
		case rec.Code < 300:
			checkUserReadable(t, e, rec, string(body))
		}
	})
}

// checkUserReadable asserts that the user a 2xx answered with can be read
// back, with a userName.
func checkUserReadable(t *testing.T, e *fuzzEnv, rec *httptest.ResponseRecorder, inputs ...string) {
	t.Helper()
	var got struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.ID == "" {
		t.Fatalf("%d without an id: %s", rec.Code, rec.Body.Bytes())
	}
	g := e.do(http.MethodGet, "/scim/v2/Users/"+got.ID, nil)
	checkResponse(t, "GET /Users/{id}", g, inputs...)
	var u struct{ UserName string }
	if g.Code != http.StatusOK || json.Unmarshal(g.Body.Bytes(), &u) != nil || strings.TrimSpace(u.UserName) == "" {
		t.Fatalf("after %d, GET /Users/%s: %d %s", rec.Code, got.ID, g.Code, g.Body.Bytes())
	}
}

func FuzzPatch(f *testing.F) {
	for _, r := range goldenRequests(f) {
		if r.method != http.MethodPatch {
			continue
		}
		group := strings.HasPrefix(r.path, "/scim/v2/Groups")
		f.Add(group, r.body)
		f.Add(!group, r.body) // each dialect against the other resource type
	}
	for _, b := range []string{
		``, `{}`, `[]`, `null`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"userName":""}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"name","value":"x"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"name.givenName","value":{"a":1}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails[type eq \"home\"]","value":{"value":"h@x.org"}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\" or primary eq true].display","value":"w"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"emails[value co \"@\"]"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:techpass:2.0:User":{"seedRequested":true,"mailboxType":"litemail"}}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":"@ID@","name.familyName":"Z"}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"operations":[{"op":"Replace","path":"members","value":[{"value":"@ID@"}]}]}`,
	} {
		f.Add(false, []byte(b))
		f.Add(true, []byte(b))
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, group bool, body []byte) {
		body = bytes.ReplaceAll(body, []byte(idMarker), []byte(e.seed))
		var id, path string
		if group {
			id = e.mustCreateGroup(t)
			path = "/scim/v2/Groups/" + id
		} else {
			id = e.mustCreateUser(t)
			path = "/scim/v2/Users/" + id
		}
		rec := e.do(http.MethodPatch, path, body)
		what := "PATCH " + path
		checkResponse(t, what, rec, string(body))
		if rec.Code >= 300 {
			return
		}
		if group {
			if rec.Code != http.StatusNoContent {
				t.Fatalf("%s: success status %d, want 204", what, rec.Code)
			}
			g := e.do(http.MethodGet, path, nil)
			checkResponse(t, "GET "+path, g, string(body))
			var got struct{ DisplayName string }
			if g.Code != http.StatusOK || json.Unmarshal(g.Body.Bytes(), &got) != nil || strings.TrimSpace(got.DisplayName) == "" {
				t.Fatalf("after 204, GET %s: %d %s", path, g.Code, g.Body.Bytes())
			}
			checkPutBack(t, e, path, string(body))
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: success status %d, want 200", what, rec.Code)
		}
		checkUserReadable(t, e, rec, string(body))
		checkPutBack(t, e, path, string(body))
	})
}

// checkPutBack asserts that what a PATCH stored is a valid resource: PUT
// with the resource as GET returns it is accepted. A PATCH must not store
// what a PUT would refuse.
func checkPutBack(t *testing.T, e *fuzzEnv, path string, inputs ...string) {
	t.Helper()
	g := e.do(http.MethodGet, path, nil)
	if g.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, g.Code, g.Body.Bytes())
	}
	p := e.do(http.MethodPut, path, g.Body.Bytes())
	checkResponse(t, "PUT "+path+" (as read)", p, inputs...)
	if p.Code != http.StatusOK {
		t.Fatalf("PUT %s of the resource as read after the PATCH: %d %s\nresource: %s", path, p.Code, p.Body.Bytes(), g.Body.Bytes())
	}
}

// goldenFilters returns the filters of the golden GET requests, as the
// client meant them (query-unescaped).
func goldenFilters(tb testing.TB) (users, groups []string) {
	for _, r := range goldenRequests(tb) {
		u, err := url.Parse(r.path)
		if r.method != http.MethodGet || err != nil {
			continue
		}
		fl, ok := u.Query()["filter"]
		if !ok {
			continue
		}
		if strings.HasSuffix(u.Path, "/Groups") {
			groups = append(groups, fl[0])
		} else {
			users = append(users, fl[0])
		}
	}
	if len(users) == 0 || len(groups) == 0 {
		tb.Fatal("no golden filters")
	}
	return users, groups
}

// extraFilters are filters the golden files do not have: every operator,
// grouping, not, URN-qualified names, value paths and odd spacing.
var extraFilters = []string{
	`userName eq "a@agency.gov.sg" or (emails.value co "agency" and not (active eq false))`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "fuzz"`,
	`urn:ietf:params:scim:schemas:extension:techpass:2.0:User:onboardingState ne "expired"`,
	`emails[value ew ".gov.sg" or value pr]`,
	`externalId pr and id gt "0" and id le "z"`,
	`members[value eq "@ID@"] or displayName ge "a"`,
	`userName eq "100%_off!"`, `userName co "\"quoted\\"`, `active eq "TRUE"`, `active gt true`,
	`not(userName eq "x")`, `((((userName pr))))`, `userName eq null`, `userName eq 42`,
	`emails[type eq "work"].value eq "x@y"`, `externalId eq jyoung`, `title eq "x"`, `name.givenName eq "x"`,
}

func FuzzFilter(f *testing.F) {
	users, groups := goldenFilters(f)
	for _, s := range users {
		f.Add(false, s)
		f.Add(true, s)
	}
	for _, s := range groups {
		f.Add(true, s)
		f.Add(false, s)
	}
	for _, s := range extraFilters {
		f.Add(false, s)
		f.Add(true, s)
	}
	e := newFuzzEnv(f)
	e.mustCreateGroup(f)
	f.Fuzz(func(t *testing.T, group bool, filter string) {
		filter = strings.ReplaceAll(filter, idMarker, e.seed)
		checkParseFilter(t, filter, group)

		path := "/scim/v2/Users"
		if group {
			path = "/scim/v2/Groups"
		}
		target := path + "?" + url.Values{"filter": {filter}}.Encode()
		rec := e.do(http.MethodGet, target, nil)
		checkResponse(t, "GET "+path+"?filter", rec, filter)
		switch rec.Code {
		case http.StatusOK:
			var l struct {
				Schemas      []string
				TotalResults *int
				Resources    []map[string]any
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || l.TotalResults == nil || len(l.Schemas) != 1 || l.Schemas[0] != scim.URNList {
				t.Fatalf("GET %s?filter: 200 is not a ListResponse (%v): %s", path, err, rec.Body.Bytes())
			}
		case http.StatusBadRequest:
			var se struct{ ScimType string }
			_ = json.Unmarshal(rec.Body.Bytes(), &se)
			if se.ScimType != "invalidFilter" {
				t.Fatalf("GET %s?filter: 400 with scimType %q, want invalidFilter: %s", path, se.ScimType, rec.Body.Bytes())
			}
		default:
			t.Fatalf("GET %s?filter: status %d, want 200 or 400: %s", path, rec.Code, rec.Body.Bytes())
		}
	})
}

// plainValue is a filter value that Filter.String renders exactly as SCIM
// writes it (Go's %q and a JSON string agree).
var plainValue = regexp.MustCompile(`^[ !#-\[\]-~]*$`)

// checkParseFilter asserts that parseFilter refuses with a 400
// invalidFilter, or accepts a filter whose rendering parses back to the same
// tree (a filter means one thing, however it is parenthesised).
func checkParseFilter(t *testing.T, raw string, group bool) {
	t.Helper()
	fl, err := scim.ParseFilter(raw, group)
	if err != nil {
		if status, typ, ok := scim.ErrorStatus(err); !ok || status != http.StatusBadRequest || typ != "invalidFilter" {
			t.Fatalf("parseFilter(%q): error %T %v, want a 400 invalidFilter", raw, err, err)
		}
		return
	}
	if fl == nil {
		if strings.TrimSpace(raw) != "" {
			t.Fatalf("parseFilter(%q): no filter and no error", raw)
		}
		return
	}
	if !plainFilter(fl) {
		return
	}
	again, err := scim.ParseFilter(fl.String(), group)
	if err != nil {
		t.Fatalf("parseFilter(%q) = %s, which does not parse again: %v", raw, fl, err)
	}
	if !reflect.DeepEqual(fl, again) {
		t.Fatalf("parseFilter(%q) = %s, which parses again as %s", raw, fl, again)
	}
}

func plainFilter(f *connector.Filter) bool {
	if f == nil {
		return true
	}
	if s, ok := f.Value.(string); ok && !plainValue.MatchString(s) {
		return false
	}
	return plainFilter(f.Left) && plainFilter(f.Right)
}

// TestFilterLimits pins the bounds parseFilter puts on a filter's size:
// long chains of one operator are fine up to 100 comparisons, nesting is
// bounded at 32 levels (also before parsing, for unbalanced brackets), and
// brackets inside quoted values do not count.
func TestFilterLimits(t *testing.T) {
	chain := func(n int, op string) string {
		terms := make([]string, n)
		for i := range terms {
			terms[i] = fmt.Sprintf(`id eq "%d"`, i)
		}
		return strings.Join(terms, " "+op+" ")
	}
	nested := func(n int) string { // alternating and/or: each level nests
		s := `id pr`
		for i := range n {
			op := "and"
			if i%2 == 1 {
				op = "or"
			}
			s = fmt.Sprintf(`(id pr %s %s)`, op, s)
		}
		return s
	}
	e := newEnv(t, connector.Options{})
	for _, tc := range []struct {
		name, filter, wantErr string
	}{
		{"or chain of 40", chain(40, "or"), ""},
		{"or chain of 100", chain(100, "or"), ""},
		{"and chain of 100", chain(100, "and"), ""},
		{"or chain of 101", chain(101, "or"), "more than 100 comparisons"},
		{"nested 30", nested(30), ""},
		{"nested 40", nested(40), "nested more than 32 levels"},
		{"not 40", strings.Repeat("not (", 40) + "id pr" + strings.Repeat(")", 40), "nested more than 32 levels"},
		{"unbalanced 4000", strings.Repeat("(", 4000) + "id pr", "nested more than 32 levels"},
		{"brackets in a value", `userName eq "` + strings.Repeat("([", 40) + `\"(" and id pr`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, "/scim/v2/Users?"+url.Values{"filter": {tc.filter}}.Encode(), nil)
			if tc.wantErr == "" {
				if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				return
			}
			m := r.json(t)
			if r.status != http.StatusBadRequest || m["scimType"] != "invalidFilter" || !strings.Contains(fmt.Sprint(m["detail"]), tc.wantErr) {
				t.Fatalf("status %d, want 400 invalidFilter %q: %s", r.status, tc.wantErr, r.body)
			}
		})
	}
}

// TestPathlessPatchDiagnosis pins the details FuzzPatch showed were
// missing: an operation without a path whose value names an unknown
// attribute got the library's generic sentence instead of the key.
func TestPathlessPatchDiagnosis(t *testing.T) {
	e := newEnv(t, connector.Options{})
	r := e.do(http.MethodPost, "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"d@agency.gov.sg"}`)
	id, _ := r.json(t)["id"].(string)
	for _, tc := range []struct{ value, want string }{
		{`{"name.familyNRme":"Z"}`, `Operations[0].value: key: "name" has no sub-attribute "familyNRme"`},
		{`{"favouriteColour":"red"}`, `Operations[0].value: key: "favouriteColour" is not an attribute of User`},
		{`{"urn:ietf:params:scim:schemas:extension:techpass:2.0:User":{"deedRequested":true}}`,
			`Operations[0].value: key: "urn:ietf:params:scim:schemas:extension:techpass:2.0:User:deedRequested" is not an attribute of User`},
		{`{"urn:ietf:params:scim:schemas:extension:techpass:2.0:User":{"seedRequested":"often"}}`,
			`Operations[0].value.urn:ietf:params:scim:schemas:extension:techpass:2.0:User.seedRequested: must be a boolean (true or false)`},
	} {
		body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":` + tc.value + `}]}`
		r := e.do(http.MethodPatch, "/scim/v2/Users/"+id, body)
		if d, _ := r.json(t)["detail"].(string); r.status != http.StatusBadRequest || d != tc.want {
			t.Errorf("value %s: %d %q, want 400 %q", tc.value, r.status, d, tc.want)
		}
	}
}
