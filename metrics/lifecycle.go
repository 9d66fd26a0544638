package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/passbridge/passbridge/connector"
)

func (m *Metrics) registerLifecycle() {
	m.signInUnavailable = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "passbridge_lifecycle_inactivity_unavailable",
		Help: "1 when the inactivity rule (lifecycle.inactivity.*) is configured but Microsoft Graph gave no signInActivity " +
			"on the last sign-in sweep (the tenant lacks Entra ID P1, or AuditLog.Read.All is not granted): nobody is disabled for inactivity. 0 otherwise.",
	})
	m.reg.MustRegister(m.signInUnavailable)
}

// observeLifecycle records what a pass found about the lifecycle rules.
func (m *Metrics) observeLifecycle(rep connector.ReconcileReport) {
	if rep.Skipped {
		return
	}
	if rep.SignInUnavailable {
		m.signInUnavailable.Set(1)
	} else if rep.GraphCalls[connector.CallSignInActivity] > 0 {
		m.signInUnavailable.Set(0)
	}
}
