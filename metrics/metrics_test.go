package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/metrics"
)

// value returns the value of the counter, gauge or histogram count named
// name whose labels include every pair in labels ("k=v"); ok is false when
// no series matches.
func value(t *testing.T, m *metrics.Metrics, name string, labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range s.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for _, l := range labels {
				k, v, _ := strings.Cut(l, "=")
				if have[k] != v {
					continue series
				}
			}
			switch {
			case s.Counter != nil:
				return s.Counter.GetValue(), true
			case s.Gauge != nil:
				return s.Gauge.GetValue(), true
			case s.Histogram != nil:
				return float64(s.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func want(t *testing.T, m *metrics.Metrics, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := value(t, m, name, labels...)
	if !ok {
		t.Errorf("%s%v: no series", name, labels)
		return
	}
	if got != v {
		t.Errorf("%s%v = %v, want %v", name, labels, got, v)
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	for in, out := range map[string]string{
		"/scim/v2/Users":                    "/scim/v2/Users",
		"/scim/v2/Users/":                   "/scim/v2/Users",
		"/scim/v2/Users/2f4c1a":             "/scim/v2/Users/{id}",
		"/scim/v2/Users/.search":            "/scim/v2/Users/.search",
		"/scim/v2/Groups/abc":               "/scim/v2/Groups/{id}",
		"/scim/v2/Schemas/urn:x:y":          "/scim/v2/Schemas/{id}",
		"/scim/v2/ServiceProviderConfig":    "/scim/v2/ServiceProviderConfig",
		"/scim/v2/Users/abc/def":            "/scim/v2/Users/{id}/{other}",
		"/scim/v2/alice@tech.gov.sg":        "/scim/v2/{other}",
		"/scim/v2":                          "/scim/v2",
		"/scim/v2x":                         "other",
		"/healthz":                          "/healthz",
		"/metrics":                          "/metrics",
		"/wp-login.php":                     "other",
		"/scim/v2/Users/bob@tech.gov.sg?x=": "/scim/v2/Users/{id}",
	} {
		if got := metrics.Route(in); got != out {
			t.Errorf("Route(%q) = %q, want %q", in, got, out)
		}
	}
}

func TestGraphEndpoint(t *testing.T) {
	t.Parallel()
	for in, out := range map[string]string{
		"/v1.0/invitations": "/v1.0/invitations",
		"/v1.0/$batch":      "/v1.0/$batch",
		"/v1.0/users":       "/v1.0/users",
		"/v1.0/users/0b6c1c5e-51f4-4b0f-9c1a-9d2d2c2d2e2f":         "/v1.0/users/{id}",
		"/v1.0/users/bob_tech.gov.sg#EXT#@contoso.onmicrosoft.com": "/v1.0/users/{id}",
		"/v1.0/users/delta()":                                           "/v1.0/users/delta()",
		"/v1.0/users/abc/authentication/methods":                        "/v1.0/users/{id}/authentication/methods",
		"/v1.0/users/abc/revokeSignInSessions":                          "/v1.0/users/{id}/revokeSignInSessions",
		"/v1.0/groups/g1/members/$ref":                                  "/v1.0/groups/{id}/members/$ref",
		"/v1.0/groups/g1/members/u1/$ref":                               "/v1.0/groups/{id}/members/{id}/$ref",
		"/v1.0/auditLogs/directoryAudits":                               "/v1.0/auditLogs/directoryAudits",
		"/v1.0/users/abc/microsoft.graph.revokeSignInSessions":          "/v1.0/users/{id}/microsoft.graph.revokeSignInSessions",
		"/0b6c1c5e-51f4-4b0f-9c1a-9d2d2c2d2e2f/oauth2/v2.0/token":       "(token)",
		"/_sim/identity/token":                                          "(token)",
		"/common/discovery/instance":                                    "(other)",
		"/v1.0/users('abc')":                                            "/v1.0/{id}",
		"/v1.0/users/abc/microsoft.graph.something('x')":                "/v1.0/users/{id}/{id}",
		"/v1.0/identityGovernance/termsOfUse/agreements/a1/acceptances": "/v1.0/identityGovernance/termsOfUse/agreements/{id}/acceptances",
		"/v1.0/users/abc/authentication/methods/m1":                     "/v1.0/users/{id}/authentication/methods/{id}",
		"/beta/users":                     "/beta/users",
		"/v1.0/directoryObjects/getByIds": "/v1.0/directoryObjects/getByIds",
		"/v1.0/users/delta":               "/v1.0/users/delta",
		"/v1.0/servicePrincipals/00000003-0000-0000-c000-000000000000/appRoleAssignments": "/v1.0/servicePrincipals/{id}/appRoleAssignments",
	} {
		if got := metrics.GraphEndpoint(in); got != out {
			t.Errorf("GraphEndpoint(%q) = %q, want %q", in, got, out)
		}
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/scim/v2") // as the SCIM server does
		switch r.Method {
		case http.MethodPost:
			w.WriteHeader(http.StatusCreated)
		case http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			_, _ = io.WriteString(w, "{}") // implicit 200
		}
	}))
	for _, req := range []struct{ method, path string }{
		{"POST", "/scim/v2/Users"},
		{"GET", "/scim/v2/Users/u1?attributes=userName"},
		{"GET", "/scim/v2/Users/u2"},
		{"DELETE", "/scim/v2/Users/u2"},
		{"BREW", "/coffee"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	want(t, m, 1, "passbridge_http_requests_total", "route=/scim/v2/Users", "method=POST", "code=201")
	want(t, m, 2, "passbridge_http_requests_total", "route=/scim/v2/Users/{id}", "method=GET", "code=200")
	want(t, m, 1, "passbridge_http_requests_total", "route=/scim/v2/Users/{id}", "method=DELETE", "code=204")
	want(t, m, 1, "passbridge_http_requests_total", "route=other", "method=OTHER", "code=200")
	want(t, m, 2, "passbridge_http_request_duration_seconds", "route=/scim/v2/Users/{id}", "method=GET")
}

func TestGraphTransport(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.0/invitations":
			w.WriteHeader(http.StatusCreated)
		case "/v1.0/$batch":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	m := metrics.New(metrics.Options{})
	c := &http.Client{Transport: m.GraphTransport(nil)}
	for _, p := range []string{"/v1.0/invitations", "/v1.0/$batch", "/v1.0/users/abc?$select=id", "/v1.0/users/def"} {
		method := "POST"
		if strings.HasPrefix(p, "/v1.0/users") {
			method = "GET"
		}
		req, _ := http.NewRequest(method, srv.URL+p, nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	// A request that gets no answer.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "PATCH", srv.URL+"/v1.0/users/ghi", nil)
	if _, err := c.Do(req); err == nil {
		t.Fatal("cancelled request succeeded")
	}
	want(t, m, 1, "passbridge_graph_requests_total", "method=POST", "endpoint=/v1.0/invitations", "outcome=2xx")
	want(t, m, 1, "passbridge_graph_requests_total", "method=POST", "endpoint=/v1.0/$batch", "outcome=4xx")
	want(t, m, 1, "passbridge_graph_throttled_total", "method=POST", "endpoint=/v1.0/$batch")
	want(t, m, 2, "passbridge_graph_requests_total", "method=GET", "endpoint=/v1.0/users/{id}", "outcome=5xx")
	want(t, m, 1, "passbridge_graph_requests_total", "method=PATCH", "endpoint=/v1.0/users/{id}", "outcome=error")
	want(t, m, 2, "passbridge_graph_request_duration_seconds", "method=GET", "endpoint=/v1.0/users/{id}")
	if _, ok := value(t, m, "passbridge_graph_throttled_total", "endpoint=/v1.0/invitations"); ok {
		t.Errorf("throttle series for an endpoint never throttled")
	}
}

func TestObserveConnector(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	want(t, m, 0, "passbridge_worker_jobs_total", "kind=invite", "outcome=failed")
	want(t, m, 0, "passbridge_reconcile_passes_total", "result=error")
	want(t, m, 0, "passbridge_reconcile_last_success_timestamp_seconds")

	var o connector.Options
	var prev int
	o.Worker.OnJob = func(connector.JobKind, string, time.Duration) { prev++ }
	m.Hook(&o)
	o.Worker.OnJob(connector.JobInvite, connector.JobOutcomeDone, 30*time.Millisecond)
	o.Worker.OnJob(connector.JobInvite, connector.JobOutcomeRetry, 30*time.Millisecond)
	o.Worker.OnJob(connector.JobDisable, connector.JobOutcomeDone, 30*time.Millisecond)
	if prev != 3 {
		t.Errorf("the hook already set was called %d times, want 3", prev)
	}
	want(t, m, 1, "passbridge_worker_jobs_total", "kind=invite", "outcome=done")
	want(t, m, 1, "passbridge_worker_jobs_total", "kind=invite", "outcome=retry")
	want(t, m, 2, "passbridge_worker_job_duration_seconds", "kind=invite")

	before := float64(time.Now().Unix())
	o.Reconcile.OnPass(connector.ReconcileReport{}, nil, time.Second)
	o.Reconcile.OnPass(connector.ReconcileReport{Skipped: true}, nil, time.Millisecond)
	o.Reconcile.OnPass(connector.ReconcileReport{Errors: 3}, errors.New("reconcile: 3 errors"), time.Second)
	o.Reconcile.OnPass(connector.ReconcileReport{}, errors.New("acquire reconciler lease: down"), time.Second)
	want(t, m, 1, "passbridge_reconcile_passes_total", "result=ok")
	want(t, m, 1, "passbridge_reconcile_passes_total", "result=skipped")
	want(t, m, 2, "passbridge_reconcile_passes_total", "result=error")
	want(t, m, 4, "passbridge_reconcile_errors_total")
	want(t, m, 1, "passbridge_reconcile_pass_duration_seconds", "result=ok")
	want(t, m, 2, "passbridge_reconcile_pass_duration_seconds", "result=error")
	if ts, _ := value(t, m, "passbridge_reconcile_last_success_timestamp_seconds"); ts < before {
		t.Errorf("last success %v, want >= %v", ts, before)
	}
}

// fakeStore counts its reads and answers from fixed numbers.
type fakeStore struct {
	jobReads, userReads atomic.Int64
	fail                atomic.Bool
	depth               int
	oldest              time.Time
	byState             map[string]int
}

func (s *fakeStore) JobStats(ctx context.Context) (int, time.Time, error) {
	s.jobReads.Add(1)
	if s.fail.Load() {
		return 0, time.Time{}, errors.New("database down")
	}
	return s.depth, s.oldest, nil
}

func (s *fakeStore) JobKindStats(ctx context.Context, kinds []connector.JobKind) (int, time.Time, error) {
	if s.fail.Load() {
		return 0, time.Time{}, errors.New("database down")
	}
	return 0, time.Time{}, nil
}

func (s *fakeStore) ListUsers(ctx context.Context, q connector.Query) (connector.Page[connector.User], error) {
	s.userReads.Add(1)
	if s.fail.Load() {
		return connector.Page[connector.User]{}, errors.New("database down")
	}
	if q.Count != 0 || q.Filter == nil || q.Filter.Attr != connector.AttrOnboardingState {
		return connector.Page[connector.User]{}, errors.New("unexpected query")
	}
	return connector.Page[connector.User]{Total: s.byState[q.Filter.Value.(string)]}, nil
}

func TestWatchStore(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 7, 1, 1, 0, 0, 0, time.UTC)
	st := &fakeStore{depth: 3, oldest: now.Add(-90 * time.Second), byState: map[string]int{"invited": 2, "onboarded": 5}}
	m := metrics.New(metrics.Options{})
	if err := m.WatchStore(st, metrics.StoreOptions{CacheFor: time.Hour, Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchStore(st, metrics.StoreOptions{}); err == nil {
		t.Error("a second store watched by the same Metrics")
	}
	want(t, m, 3, "passbridge_outbox_jobs")
	want(t, m, 90, "passbridge_outbox_oldest_job_age_seconds")
	want(t, m, 2, "passbridge_users", "state=invited")
	want(t, m, 5, "passbridge_users", "state=onboarded")
	want(t, m, 0, "passbridge_users", "state=failed")
	// Cached: many scrapes, one read of each.
	for range 10 {
		value(t, m, "passbridge_users")
	}
	if j, u := st.jobReads.Load(), st.userReads.Load(); j != 1 || u != int64(len(metrics.States)) {
		t.Errorf("%d job reads and %d user reads, want 1 and %d", j, u, len(metrics.States))
	}

	// Uncached and failing: series missing, errors counted, scrape still served.
	st2 := &fakeStore{}
	st2.fail.Store(true)
	m2 := metrics.New(metrics.Options{})
	if err := m2.WatchStore(st2, metrics.StoreOptions{CacheFor: -1}); err != nil {
		t.Fatal(err)
	}
	if _, ok := value(t, m2, "passbridge_users"); ok {
		t.Errorf("passbridge_users reported while the database is down")
	}
	rec := httptest.NewRecorder()
	m2.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `passbridge_metrics_collect_errors_total{collector="users"}`) {
		t.Errorf("scrape while the database is down: %d\n%s", rec.Code, rec.Body.String())
	}
	st2.fail.Store(false)
	want(t, m2, 0, "passbridge_outbox_jobs")
	want(t, m2, 0, "passbridge_outbox_oldest_job_age_seconds")
}
