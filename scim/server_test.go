package scim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t, connector.Options{})
	cases := map[string]struct {
		header string
		want   int
	}{
		"fail/missing":   {"", 401},
		"fail/wrong":     {"Bearer not-the-token", 401},
		"fail/basic":     {"Basic " + testToken, 401},
		"fail/empty":     {"Bearer ", 401},
		"fail/padded":    {"Bearer  " + testToken, 401},
		"fail/no-scheme": {testToken, 401},
		"ok/bearer":      {"Bearer " + testToken, 200},
		"ok/scheme-case": {"bearer " + testToken, 200},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := e.do("GET", "/scim/v2/Users", nil, "Authorization", tc.header)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			if tc.want == 401 {
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				m := r.json(t)
				if m["status"] != "401" || m["detail"] == "" {
					t.Errorf("401 body is not a SCIM error: %s", r.body)
				}
				if strings.Contains(string(r.body), testToken) {
					t.Errorf("the token is echoed in the error: %s", r.body)
				}
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, connector.Options{})
	big := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@agency.gov.sg","displayName":"` + strings.Repeat("x", 1<<20) + `"}`
	r := e.do("POST", "/scim/v2/Users", big)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413: %.200s", r.status, r.body)
	}
	if m := r.json(t); m["status"] != "413" || !strings.Contains(fmt.Sprint(m["detail"]), "body") {
		t.Errorf("413 body: %s", r.body)
	}
	// The server still answers.
	if r := e.do("GET", "/scim/v2/Users", nil); r.status != 200 {
		t.Fatalf("after a 413: %d", r.status)
	}
}

// Hostile input never gets a 500 or a panic, and never internal text.
func TestHostileInput(t *testing.T) {
	e := newEnv(t, connector.Options{})
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	cases := map[string]struct{ method, path, body string }{
		"deep-json":           {"POST", "/scim/v2/Users", deep},
		"deep-json-patch":     {"PATCH", "/scim/v2/Users/x", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":` + deep + `}`},
		"array-body":          {"POST", "/scim/v2/Users", `[]`},
		"null-body":           {"POST", "/scim/v2/Users", `null`},
		"two-values":          {"POST", "/scim/v2/Users", `{} {}`},
		"filter-garbage":      {"GET", "/scim/v2/Users?filter=%28%28%28%28%28%28", ""},
		"filter-deep":         {"GET", "/scim/v2/Users?filter=" + strings.Repeat("not(", 200) + "userName+pr" + strings.Repeat(")", 200), ""},
		"filter-weird-value":  {"GET", "/scim/v2/Users?filter=userName+eq+%22%25_%27%22", ""},
		"patch-path-garbage":  {"PATCH", "/scim/v2/Users/x", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"[[[","value":1}]}`},
		"dotdot":              {"GET", "/scim/v2/Users/../../etc/passwd", ""},
		"encoded-slash":       {"GET", "/scim/v2/Users/%2F..%2Fx", ""},
		"double-slash":        {"GET", "/scim/v2//Users", ""},
		"outside-prefix":      {"GET", "/scim/v1/Users", ""},
		"group-members-types": {"POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g","members":[1,2]}`},
		"count-negative":      {"GET", "/scim/v2/Users?count=-5&startIndex=-3", ""},
		"huge-start":          {"GET", "/scim/v2/Users?startIndex=999999999999", ""},
		"put-unknown":         {"PUT", "/scim/v2/Users/unknown", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@agency.gov.sg","emails":[{"value":"x@agency.gov.sg"}]}`},
		"patch-bad-ifmatch":   {"PATCH", "/scim/v2/Users/unknown", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"t"}]}`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := e.do(tc.method, tc.path, body)
			if r.status >= 500 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if r.status >= 400 {
				var m map[string]any
				if err := json.Unmarshal(r.body, &m); err != nil || m["status"] == nil {
					t.Fatalf("%d without a SCIM error body: %s", r.status, r.body)
				}
				for _, leak := range []string{"sql", "SQL", "goroutine", ".go:", "panic"} {
					if strings.Contains(string(r.body), leak) {
						t.Errorf("internal text %q in %s", leak, r.body)
					}
				}
			}
		})
	}
}

func TestPagingAndProjection(t *testing.T) {
	e := newEnv(t, connector.Options{})
	for i := 0; i < 7; i++ {
		r := e.do("POST", "/scim/v2/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d@agency.gov.sg","displayName":"U%d","emails":[{"value":"u%d@agency.gov.sg","type":"work","primary":true}]}`, i, i, i))
		if r.status != 201 {
			t.Fatalf("create %d: %d %s", i, r.status, r.body)
		}
	}
	seen := map[string]bool{}
	for start := 1; start <= 7; start += 3 {
		r := e.do("GET", fmt.Sprintf("/scim/v2/Users?startIndex=%d&count=3&attributes=userName", start), nil)
		m := r.json(t)
		if m["totalResults"] != float64(7) || m["startIndex"] != float64(start) {
			t.Fatalf("page at %d: %s", start, r.body)
		}
		for _, res := range m["Resources"].([]any) {
			u := res.(map[string]any)
			if _, ok := u["displayName"]; ok {
				t.Errorf("attributes=userName returned displayName: %v", u)
			}
			if u["id"] == nil || u["userName"] == nil {
				t.Errorf("missing id or userName: %v", u)
			}
			seen[u["id"].(string)] = true
		}
	}
	if len(seen) != 7 {
		t.Fatalf("paging saw %d distinct users, want 7", len(seen))
	}
	r := e.do("GET", "/scim/v2/Users?count=0", nil)
	if m := r.json(t); m["totalResults"] != float64(7) || len(m["Resources"].([]any)) != 0 {
		t.Fatalf("count=0: %s", r.body)
	}
	r = e.do("GET", "/scim/v2/Users?excludedAttributes=emails,urn:ietf:params:scim:schemas:extension:techpass:2.0:User&count=1", nil)
	u := r.json(t)["Resources"].([]any)[0].(map[string]any)
	if u["emails"] != nil || u["urn:ietf:params:scim:schemas:extension:techpass:2.0:User"] != nil || u["userName"] == nil {
		t.Fatalf("excludedAttributes: %v", u)
	}
	r = e.do("GET", "/scim/v2/Users?attributes=urn:ietf:params:scim:schemas:extension:techpass:2.0:User:onboardingState&count=1", nil)
	u = r.json(t)["Resources"].([]any)[0].(map[string]any)
	tp, _ := u["urn:ietf:params:scim:schemas:extension:techpass:2.0:User"].(map[string]any)
	if tp["onboardingState"] != "pending" || tp["seedRequested"] != nil || u["userName"] != nil {
		t.Fatalf("attributes with a URN path: %v", u)
	}
}

// Concurrent PATCHes through HTTP with If-Match: exactly one wins per
// version, the others get 412, and no update is lost.
func TestConcurrentIfMatch(t *testing.T) {
	e := newEnv(t, connector.Options{})
	r := e.do("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"c@agency.gov.sg","emails":[{"value":"c@agency.gov.sg"}]}`)
	id := r.json(t)["id"].(string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := e.do("PATCH", "/scim/v2/Users/"+id, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"t%d"}]}`, i), "If-Match", `W/"1"`)
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if codes[200] != 1 || codes[412] != 19 {
		t.Fatalf("statuses %v, want one 200 and 19 412", codes)
	}
}

func TestLiteMailRefused(t *testing.T) {
	e := newEnv(t, connector.Options{})
	r := e.do("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:techpass:2.0:User"],"userName":"l@agency.gov.sg","emails":[{"value":"l@agency.gov.sg"}],
		"urn:ietf:params:scim:schemas:extension:techpass:2.0:User":{"mailboxType":"LiteMail","onboardingState":"onboarded"}}`)
	if r.status != 400 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	m := r.json(t)
	if m["scimType"] != "invalidValue" || !strings.Contains(fmt.Sprint(m["detail"]), "mailboxType") {
		t.Fatalf("body: %s", r.body)
	}
	// readOnly attributes are ignored on input, writeOnly never returned.
	r = e.do("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"o@agency.gov.sg","emails":[{"value":"o@agency.gov.sg"}],
		"urn:ietf:params:scim:schemas:extension:techpass:2.0:User":{"mailboxType":"Exchange","onboardingState":"onboarded","seedRequested":true}}`)
	if r.status != 201 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	tp := r.json(t)["urn:ietf:params:scim:schemas:extension:techpass:2.0:User"].(map[string]any)
	if tp["onboardingState"] != "pending" || tp["mailboxType"] != nil || tp["seedRequested"] != true {
		t.Fatalf("extension: %v", tp)
	}
}

func TestWritesRefusedWhenStoreDown(t *testing.T) {
	e := newEnv(t, connector.Options{})
	r := e.do("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@agency.gov.sg","emails":[{"value":"a@agency.gov.sg"}]}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	// Close the store under the server: reads and writes now fail in the
	// store, and the answer must be a SCIM 503, never a 201 or a 500.
	e.store.Close()
	time.Sleep(600 * time.Millisecond) // past the readiness cache
	r = e.do("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b@agency.gov.sg","emails":[{"value":"b@agency.gov.sg"}]}`)
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("create with the store down: %d %s", r.status, r.body)
	}
	if m := r.json(t); m["status"] != "503" {
		t.Fatalf("not a SCIM error: %s", r.body)
	}
	r = e.do("GET", "/scim/v2/Users", nil)
	if r.status != 503 {
		t.Fatalf("list with the store down: %d %s", r.status, r.body)
	}
}

func TestLongValuesClippedInErrors(t *testing.T) {
	e := newEnv(t, connector.Options{Policy: connector.PolicyOptions{AllowedDomains: []string{"gov.sg"}}})
	long := strings.Repeat("a", 100000) + "@gmail.com"
	r := e.do("POST", "/scim/v2/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"emails":[{"value":%q}]}`, long, long))
	if r.status != 400 {
		t.Fatalf("status %d", r.status)
	}
	// Refused by the length limits (limits.go) or clipped: never echoed whole.
	if d := fmt.Sprint(r.json(t)["detail"]); len(d) > 600 || strings.Contains(d, long[:600]) {
		t.Fatalf("detail of %d bytes: %.100s", len(d), d)
	}
}
