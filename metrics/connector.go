package metrics

import (
	"time"

	"github.com/passbridge/passbridge/connector"
)

// ObserveJob records one outbox job attempt; it has the signature of
// connector.WorkerOptions.OnJob.
func (m *Metrics) ObserveJob(kind connector.JobKind, outcome string, d time.Duration) {
	m.jobs.WithLabelValues(string(kind), outcome).Inc()
	m.jobDuration.WithLabelValues(string(kind)).Observe(d.Seconds())
}

// ObserveReconcile records one reconcile pass; it has the signature of
// connector.ReconcileOptions.OnPass.
func (m *Metrics) ObserveReconcile(rep connector.ReconcileReport, err error, d time.Duration) {
	m.observeLifecycle(rep)
	switch {
	case err == nil && rep.Skipped:
		m.reconcilePasses.WithLabelValues("skipped").Inc()
		return
	case err == nil:
		m.reconcilePasses.WithLabelValues("ok").Inc()
		m.reconcileDuration.WithLabelValues("ok").Observe(d.Seconds())
		m.reconcileLastSuccess.SetToCurrentTime()
		return
	}
	m.reconcilePasses.WithLabelValues("error").Inc()
	m.reconcileDuration.WithLabelValues("error").Observe(d.Seconds())
	m.reconcileErrors.Add(float64(max(rep.Errors, 1)))
}

// Hook sets o.Worker.OnJob and o.Reconcile.OnPass to record into m, calling
// hooks already set as well.
func (m *Metrics) Hook(o *connector.Options) {
	if prev := o.Worker.OnJob; prev != nil {
		o.Worker.OnJob = func(kind connector.JobKind, outcome string, d time.Duration) {
			m.ObserveJob(kind, outcome, d)
			prev(kind, outcome, d)
		}
	} else {
		o.Worker.OnJob = m.ObserveJob
	}
	if prev := o.Reconcile.OnPass; prev != nil {
		o.Reconcile.OnPass = func(rep connector.ReconcileReport, err error, d time.Duration) {
			m.ObserveReconcile(rep, err, d)
			prev(rep, err, d)
		}
	} else {
		o.Reconcile.OnPass = m.ObserveReconcile
	}
}
