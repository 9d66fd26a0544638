package scim_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

// Golden files replay the request shapes Microsoft Entra and other SCIM
// clients send (../shared/design/ENTRA-SCIM-REQUESTS.md) through the real
// server and compare each response with the expected one. An expected
// object is matched as a subset of the actual one; "*" matches any present
// value, "<absent>" requires the key to be missing, and "{{name}}" is a value
// captured from an earlier response.
type goldenFile struct {
	Description string       `json:"description"`
	Steps       []goldenStep `json:"steps"`
}

type goldenStep struct {
	Name    string `json:"name"`
	Request struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"request"`
	Response struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"response"`
	// Capture maps a variable name to a dotted path in the response body.
	Capture map[string]string `json:"capture"`
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var g goldenFile
			if err := json.Unmarshal(raw, &g); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			e := newEnv(t, connector.Options{})
			vars := map[string]string{}
			for i, st := range g.Steps {
				path := subst(st.Request.Path, vars)
				var body any
				if len(st.Request.Body) > 0 {
					body = []byte(subst(string(st.Request.Body), vars))
				}
				var hdrs []string
				for k, v := range st.Request.Headers {
					hdrs = append(hdrs, k, subst(v, vars))
				}
				r := e.do(st.Request.Method, path, body, hdrs...)
				where := fmt.Sprintf("step %d (%s): %s %s", i, st.Name, st.Request.Method, path)
				if r.status != st.Response.Status {
					t.Fatalf("%s: status %d, want %d; body: %s", where, r.status, st.Response.Status, r.body)
				}
				for k, v := range st.Response.Headers {
					got := r.header.Get(k)
					if v == "*" && got == "" || v != "*" && got != subst(v, vars) {
						t.Errorf("%s: header %s = %q, want %q", where, k, got, v)
					}
				}
				if len(st.Response.Body) > 0 {
					var want, got any
					if err := json.Unmarshal([]byte(subst(string(st.Response.Body), vars)), &want); err != nil {
						t.Fatalf("%s: expected body: %v", where, err)
					}
					if err := json.Unmarshal(r.body, &got); err != nil {
						t.Fatalf("%s: response not JSON: %v: %s", where, err, r.body)
					}
					if msg := match(want, got, "$"); msg != "" {
						t.Fatalf("%s: %s\nresponse: %s", where, msg, r.body)
					}
				}
				for name, p := range st.Capture {
					var got any
					_ = json.Unmarshal(r.body, &got)
					v, ok := dig(got, p)
					if !ok {
						if p == "header:Etag" {
							vars[name] = r.header.Get("Etag")
							continue
						}
						t.Fatalf("%s: cannot capture %s from %s", where, p, r.body)
					}
					vars[name] = fmt.Sprint(v)
				}
			}
		})
	}
}

var varRe = regexp.MustCompile(`\{\{(\w+)\}\}`)

func subst(s string, vars map[string]string) string {
	return varRe.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := vars[m[2:len(m)-2]]; ok {
			// Values land inside JSON strings: escape quotes.
			return strings.ReplaceAll(v, `"`, `\"`)
		}
		return m
	})
}

func dig(v any, path string) (any, bool) {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[p]; !ok {
				return nil, false
			}
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func match(want, got any, at string) string {
	if s, ok := want.(string); ok && s == "*" {
		if got == nil {
			return at + ": missing"
		}
		return ""
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %v", at, got)
		}
		for k, wv := range w {
			gv, present := g[k]
			if s, ok := wv.(string); ok && s == "<absent>" {
				if present {
					return fmt.Sprintf("%s.%s: want absent, got %v", at, k, gv)
				}
				continue
			}
			if !present {
				return fmt.Sprintf("%s.%s: missing", at, k)
			}
			if msg := match(wv, gv, at+"."+k); msg != "" {
				return msg
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want %d elements, got %v", at, len(w), got)
		}
		for i := range w {
			if msg := match(w[i], g[i], fmt.Sprintf("%s[%d]", at, i)); msg != "" {
				return msg
			}
		}
		return ""
	}
	if fmt.Sprint(want) != fmt.Sprint(got) {
		return fmt.Sprintf("%s: got %v, want %v", at, got, want)
	}
	return ""
}
