package testkit_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/internal/testkit"
)

// The header rules the SCIM tests rely on: defaults, replace, add, remove.
func TestSCIMDoHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(map[string]any{"auth": r.Header.Values("Authorization"),
			"ct": r.Header.Get("Content-Type"), "body": string(b), "path": r.URL.Path})
	}))
	defer srv.Close()
	kit := testkit.SCIM{Base: srv.URL + "/scim/v2", Token: "tok"}

	m := kit.Do(t, "POST", "/Users", map[string]string{"userName": "a"}).JSON(t)
	if m["path"] != "/scim/v2/Users" || m["ct"] != "application/scim+json" || m["body"] != `{"userName":"a"}` ||
		len(m["auth"].([]any)) != 1 || m["auth"].([]any)[0] != "Bearer tok" {
		t.Errorf("defaults: %v", m)
	}
	m = kit.Do(t, "GET", "/Users", nil, "Authorization", "Bearer a", "Authorization", "Bearer b").JSON(t)
	if a := m["auth"].([]any); len(a) != 2 || a[0] != "Bearer a" || a[1] != "Bearer b" {
		t.Errorf("replace then add: %v", m["auth"])
	}
	if m = kit.Do(t, "GET", "/Users", strings.NewReader("x"), "Authorization", "").JSON(t); m["auth"] != nil || m["body"] != "x" {
		t.Errorf("removed header, reader body: %v", m)
	}
	if r := kit.Do(t, "GET", "/Users", nil); r.Status != 200 || r.Object()["path"] != "/scim/v2/Users" {
		t.Errorf("Object: %d %s", r.Status, r.Body)
	}
}
