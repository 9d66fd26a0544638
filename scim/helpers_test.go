package scim_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/scim"
	"github.com/passbridge/passbridge/store/sqlite"
)

const testToken = "test-token-0123456789abcdef"

type env struct {
	t     *testing.T
	srv   *httptest.Server
	store connector.Store
	svc   *connector.Service
}

func newEnv(t *testing.T, opts connector.Options) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "pb.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	svc := connector.NewService(st, opts)
	s, err := scim.New(svc, scim.Options{
		Tokens:    []scim.Token{{Name: "techbiz", SHA256: config.HashToken(testToken)}},
		PublicURL: "https://passbridge.example",
		Ready:     st.Ping,
	})
	if err != nil {
		t.Fatalf("scim.New: %v", err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: st, svc: svc}
}

// resp is testkit.Response under the names these tests use.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	return testkit.Response{Body: r.body}.JSON(t)
}

func fromKit(r testkit.Response) resp { return resp{status: r.Status, header: r.Header, body: r.Body} }

// do sends one request with the test token; headers are name/value pairs,
// an empty value removes the header (see testkit.SCIM.Do).
func (e *env) do(method, path string, body any, headers ...string) resp {
	e.t.Helper()
	return fromKit(testkit.SCIM{Base: e.srv.URL, Token: testToken}.Do(e.t, method, path, body, headers...))
}
