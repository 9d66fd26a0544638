package connector_test

import (
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// OnJob and OnPass report every attempt and pass, for metrics.
func TestHooksReportJobsAndPasses(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		jobs   []string
		passes []error
	)
	e := newEnv(t, func(o *connector.Options) {
		o.Worker.MaxAttempts = 2
		o.Worker.OnJob = func(kind connector.JobKind, outcome string, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if d < 0 {
				t.Errorf("negative duration %s", d)
			}
			jobs = append(jobs, string(kind)+":"+outcome)
		}
		o.Reconcile.OnPass = func(rep connector.ReconcileReport, err error, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			passes = append(passes, err)
		}
	})
	e.signUp("ok@tech.gov.sg", false)
	e.drain()
	mu.Lock()
	if len(jobs) != 1 || jobs[0] != "invite:done" {
		t.Errorf("jobs = %v, want [invite:done]", jobs)
	}
	jobs = nil
	mu.Unlock()

	e.dir.setFaults(func(op string) error { return transientErr(op, 503, 0) }, nil)
	e.signUp("flaky@tech.gov.sg", false)
	e.drain()
	mu.Lock()
	if len(jobs) != 2 || jobs[0] != "invite:retry" || jobs[1] != "invite:gaveUp" {
		t.Errorf("jobs = %v, want [invite:retry invite:gaveUp]", jobs)
	}
	mu.Unlock()

	e.dir.setFaults(nil, nil)
	e.reconcile()
	e.dir.setFaults(func(op string) error { return transientErr(op, 503, 0) }, nil)
	if _, err := e.rec.RunOnce(e.ctx); err == nil {
		t.Fatal("pass against a failing tenant: no error")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(passes) != 2 || passes[0] != nil || passes[1] == nil {
		t.Errorf("passes = %v, want [<nil> error]", passes)
	}
}
