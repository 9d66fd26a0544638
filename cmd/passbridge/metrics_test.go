package main

import (
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph/graphsim"
	"github.com/passbridge/passbridge/metrics"
)

// newMetricsStack is newStack wired as serve wires it: one Metrics shared by
// the Graph client's transport and the app.
func newMetricsStack(t *testing.T) (*stack, string) {
	t.Helper()
	m := metrics.New(metrics.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s := buildStack(t, nil, nil, m)
	return s, s.root + "/metrics"
}

// scrape is one /metrics answer: series ("name{k="v",...}" with labels sorted
// by name, as the text format writes them) → value.
type scrape struct {
	body   string
	series map[string]float64
}

var seriesLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$`)

func scrapeMetrics(t *testing.T, url string) scrape {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	sc := scrape{body: string(b), series: map[string]float64{}}
	for _, line := range strings.Split(sc.body, "\n") {
		if mm := seriesLine.FindStringSubmatch(line); mm != nil {
			v, err := strconv.ParseFloat(mm[2], 64)
			if err != nil {
				t.Fatalf("bad value in %q", line)
			}
			sc.series[mm[1]] = v
		}
	}
	return sc
}

func (sc scrape) value(series string) (float64, bool) {
	v, ok := sc.series[series]
	return v, ok
}

func (sc scrape) want(t *testing.T, series string, want float64) {
	t.Helper()
	v, ok := sc.value(series)
	switch {
	case !ok:
		t.Errorf("%s: missing from /metrics", series)
	case v != want:
		t.Errorf("%s = %v, want %v", series, v, want)
	}
}

// waitMetrics scrapes until cond holds (a reconcile pass, a retry).
func waitMetrics(t *testing.T, url, what string, cond func(sc scrape) bool) scrape {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		sc := scrapeMetrics(t, url)
		if cond(sc) {
			return sc
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics: no %s after 20s:\n%s", what, sc.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMetricsEndToEnd(t *testing.T) {
	s, url := newMetricsStack(t)
	const email = "alice@tech.gov.sg"
	id := s.create(email)
	s.waitState(id, connector.StateInvited)
	if st, _ := s.do("GET", "/Users/no-such-user", ""); st != 404 {
		t.Fatalf("GET unknown user: %d", st)
	}
	if st, _ := s.do("GET", "/Users?filter=userName+eq+%22"+email+"%22", ""); st != 200 {
		t.Fatalf("filter: %d", st)
	}

	// The invitation's state is committed before its job is marked done, so
	// wait for the worker to have finished too, not only for a pass.
	sc := waitMetrics(t, url, "successful reconcile pass and finished invitation job", func(sc scrape) bool {
		v, _ := sc.value(`passbridge_reconcile_passes_total{result="ok"}`)
		done, _ := sc.value(`passbridge_worker_jobs_total{kind="invite",outcome="done"}`)
		return v >= 1 && done >= 1
	})

	// Users by state, read from the database at scrape time.
	sc.want(t, `passbridge_users{state="invited"}`, 1)
	sc.want(t, `passbridge_users{state="pending"}`, 0)
	sc.want(t, `passbridge_users{state="failed"}`, 0)
	// The outbox is empty once the invitation went out.
	sc.want(t, `passbridge_outbox_jobs`, 0)
	sc.want(t, `passbridge_outbox_oldest_job_age_seconds`, 0)

	// SCIM requests by normalised route: no ids, no query strings.
	sc.want(t, `passbridge_http_requests_total{code="201",method="POST",route="/scim/v2/Users"}`, 1)
	sc.want(t, `passbridge_http_requests_total{code="404",method="GET",route="/scim/v2/Users/{id}"}`, 1)
	sc.want(t, `passbridge_http_requests_total{code="200",method="GET",route="/scim/v2/Users"}`, 1)
	if v, _ := sc.value(`passbridge_http_requests_total{code="200",method="GET",route="/scim/v2/Users/{id}"}`); v < 1 {
		t.Errorf("GET /scim/v2/Users/{id} 200: %v, want >= 1", v)
	}
	sc.want(t, `passbridge_http_request_duration_seconds_count{method="POST",route="/scim/v2/Users"}`, 1)
	if strings.Contains(sc.body, id) || strings.Contains(sc.body, "no-such-user") || strings.Contains(sc.body, "filter=") {
		t.Errorf("/metrics shows a raw id or query string:\n%s", sc.body)
	}

	// Graph calls through the transport.
	if testing.Verbose() {
		t.Log(grep(sc.body, "passbridge_graph_requests_total{"))
	}
	sc.want(t, `passbridge_graph_requests_total{endpoint="/v1.0/invitations",method="POST",outcome="2xx"}`, 1)
	if v, _ := sc.value(`passbridge_graph_request_duration_seconds_count{endpoint="/v1.0/invitations",method="POST"}`); v != 1 {
		t.Errorf("invitation latency count %v, want 1", v)
	}
	if !strings.Contains(sc.body, `endpoint="/v1.0/$batch"`) && !strings.Contains(sc.body, `endpoint="/v1.0/users/delta()"`) {
		t.Errorf("no reconcile reads ($batch or delta) counted:\n%s", grep(sc.body, "passbridge_graph_requests_total"))
	}
	if strings.Contains(sc.body, `passbridge_graph_throttled_total{`) {
		t.Errorf("throttles counted without a 429")
	}

	// The worker and the reconciler.
	sc.want(t, `passbridge_worker_jobs_total{kind="invite",outcome="done"}`, 1)
	sc.want(t, `passbridge_worker_jobs_total{kind="invite",outcome="failed"}`, 0)
	sc.want(t, `passbridge_worker_job_duration_seconds_count{kind="invite"}`, 1)
	sc.want(t, `passbridge_reconcile_errors_total`, 0)
	if v, _ := sc.value(`passbridge_reconcile_last_success_timestamp_seconds`); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last successful reconcile at %v", v)
	}
	for _, help := range []string{"passbridge_users", "passbridge_outbox_jobs", "passbridge_graph_requests_total", "passbridge_http_requests_total"} {
		if !strings.Contains(sc.body, "# HELP "+help+" ") {
			t.Errorf("no HELP for %s", help)
		}
	}

	// A throttled invitation: counted as a throttle and a 4xx, the job
	// retried after Retry-After, then done.
	s.sim.InjectFault(graphsim.Fault{Route: "POST /invitations", Status: 429, RetryAfter: time.Second, Times: 1})
	id2 := s.create("bob@tech.gov.sg")
	s.waitState(id2, connector.StateInvited)
	sc = waitMetrics(t, url, "second invitation", func(sc scrape) bool {
		v, _ := sc.value(`passbridge_users{state="invited"}`)
		return v == 2 // the users are cached for a few seconds
	})
	sc.want(t, `passbridge_graph_throttled_total{endpoint="/v1.0/invitations",method="POST"}`, 1)
	if !strings.Contains(sc.body, "# HELP passbridge_graph_throttled_total ") {
		t.Errorf("no HELP for passbridge_graph_throttled_total")
	}
	sc.want(t, `passbridge_graph_requests_total{endpoint="/v1.0/invitations",method="POST",outcome="4xx"}`, 1)
	sc.want(t, `passbridge_graph_requests_total{endpoint="/v1.0/invitations",method="POST",outcome="2xx"}`, 2)
	sc.want(t, `passbridge_worker_jobs_total{kind="invite",outcome="retry"}`, 1)
	sc.want(t, `passbridge_worker_jobs_total{kind="invite",outcome="done"}`, 2)
	sc.want(t, `passbridge_http_requests_total{code="201",method="POST",route="/scim/v2/Users"}`, 2)
}

// grep returns the lines of s that contain sub.
func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
