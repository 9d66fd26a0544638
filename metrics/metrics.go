// Package metrics exposes passbridge's Prometheus metrics: SCIM requests,
// Microsoft Graph calls (through an http.RoundTripper), the outbox, users by
// onboarding state, reconcile passes and worker jobs. Every series is named
// passbridge_*; each Metrics has its own registry (no global state), served by
// Handler.
//
// It must not import msgraph-sdk-go: Graph is observed at the HTTP transport.
package metrics

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/passbridge/passbridge/connector"
)

// Metrics holds one process's instruments and their registry.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	graphRequests  *prometheus.CounterVec
	graphThrottled *prometheus.CounterVec
	graphDuration  *prometheus.HistogramVec

	reconcilePasses      *prometheus.CounterVec
	reconcileDuration    *prometheus.HistogramVec
	reconcileErrors      prometheus.Counter
	reconcileLastSuccess prometheus.Gauge
	// signInUnavailable: the inactivity rule has no signInActivity (lifecycle.go).
	signInUnavailable prometheus.Gauge

	jobs        *prometheus.CounterVec
	jobDuration *prometheus.HistogramVec

	collectErrors *prometheus.CounterVec
}

// Options configure New.
type Options struct {
	// Logger receives collection errors (default: discarded).
	Logger *slog.Logger
}

// latencyBuckets suit HTTP and Graph calls: 5 ms to 30 s.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New returns Metrics on a new registry, with the Go runtime and process
// collectors registered too.
func New(o Options) *Metrics {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: o.Logger,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "passbridge_http_requests_total",
			Help: "HTTP requests answered by passbridge (SCIM, health, metrics), by route " +
				"(resource ids replaced by {id}, no query string), method and status code. " +
				"A rise of code=~\"5..\" means passbridge failed; 401/403 a client with a wrong token; " +
				"503 on SCIM writes an unreachable database.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "passbridge_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, from its headers read to its handler returning, by route and method.",
			Buckets: latencyBuckets,
		}, []string{"route", "method"}),
		graphRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "passbridge_graph_requests_total",
			Help: "HTTP requests passbridge sent to Microsoft Graph (and to its token endpoint, endpoint=\"(token)\"), " +
				"by method, endpoint (path with ids replaced by {id}, e.g. /v1.0/users/{id}, /v1.0/invitations, /v1.0/$batch) " +
				"and outcome: the status class (2xx, 3xx, 4xx, 5xx) or \"error\" when no answer came (network, timeout, cancelled). " +
				"Counted at the transport: every retry is a request, and a $batch counts once whatever its sub-requests answered.",
		}, []string{"method", "endpoint", "outcome"}),
		graphThrottled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "passbridge_graph_throttled_total",
			Help: "Microsoft Graph answers 429 Too Many Requests (throttled; passbridge waits for Retry-After), by method and endpoint. " +
				"Also counted in passbridge_graph_requests_total{outcome=\"4xx\"}. " +
				"Throttled sub-requests inside a $batch come back in a 200 and are not counted here.",
		}, []string{"method", "endpoint"}),
		graphDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "passbridge_graph_request_duration_seconds",
			Help:    "Time until Microsoft Graph's response headers arrived (or the request failed), by method and endpoint.",
			Buckets: latencyBuckets,
		}, []string{"method", "endpoint"}),
		reconcilePasses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "passbridge_reconcile_passes_total",
			Help: "Reconcile passes by result: ok, error (the pass failed or some Graph questions failed; see the log), " +
				"skipped (another replica holds the reconciler lease).",
		}, []string{"result"}),
		reconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "passbridge_reconcile_pass_duration_seconds",
			Help:    "Duration of reconcile passes this replica ran (skipped passes not included), by result (ok, error).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"result"}),
		reconcileErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "passbridge_reconcile_errors_total",
			Help: "Errors within reconcile passes: Graph questions or user writes that failed (retried next pass), " +
				"or a pass that could not run at all (lease or database).",
		}),
		reconcileLastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "passbridge_reconcile_last_success_timestamp_seconds",
			Help: "Unix time of the end of this replica's last reconcile pass without errors (0: none yet). " +
				"With several replicas only the lease holder reconciles: alert on time() - max() across replicas.",
		}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "passbridge_worker_jobs_total",
			Help: "Outbox job attempts by kind (invite, disable, enable, deleteGuest, seedProvision, groupSync, groupRemoveMember, groupDelete) and outcome: " +
				"done, retry (transient error, queued again with backoff), failed (refused for good; the user's lastError says why), " +
				"gaveUp (still failing after worker.maxAttempts).",
		}, []string{"kind", "outcome"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "passbridge_worker_job_duration_seconds",
			Help:    "Duration of outbox job attempts (Graph calls and database writes), by kind.",
			Buckets: latencyBuckets,
		}, []string{"kind"}),
		collectErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "passbridge_metrics_collect_errors_total",
			Help: "Scrapes that could not read a value from the database (collector outbox or users); " +
				"those series are missing from that scrape.",
		}, []string{"collector"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration,
		m.graphRequests, m.graphThrottled, m.graphDuration,
		m.reconcilePasses, m.reconcileDuration, m.reconcileErrors, m.reconcileLastSuccess,
		m.jobs, m.jobDuration,
		m.collectErrors,
	)
	m.registerLifecycle()
	// Series that alerts watch exist from the start at 0, so that the first
	// failure is an increase.
	for _, r := range []string{"ok", "error", "skipped"} {
		m.reconcilePasses.WithLabelValues(r)
	}
	for _, k := range JobKinds {
		for _, o := range []string{connector.JobOutcomeDone, connector.JobOutcomeRetry, connector.JobOutcomeFailed, connector.JobOutcomeGaveUp} {
			m.jobs.WithLabelValues(string(k), o)
		}
	}
	return m
}

// JobKinds are the outbox job kinds passbridge_worker_jobs_total starts with.
var JobKinds = []connector.JobKind{
	connector.JobInvite, connector.JobDisable, connector.JobEnable,
	connector.JobDeleteGuest, connector.JobSeedProvision, connector.JobGroupSync,
	connector.JobGroupRemoveMember, connector.JobGroupDelete,
	connector.JobMail,
}

// Registry returns the registry (to register more collectors, or gather in tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text (or OpenMetrics) format.
// A collector that fails does not fail the scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          m.reg,
		Timeout:           30 * time.Second,
		EnableOpenMetrics: true,
	})
}
