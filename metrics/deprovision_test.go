package metrics_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/metrics"
	"github.com/passbridge/passbridge/store/sqlite"
)

// /metrics reports the pending deprovisionings (disable and deletion jobs
// still queued, however often they failed) and the oldest one's age, read
// from the store; invitations are not counted.
func TestDeprovisioningGauges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "pb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2025, 7, 1, 1, 0, 0, 0, time.UTC)
	m := metrics.New(metrics.Options{})
	if err := m.WatchStore(st, metrics.StoreOptions{CacheFor: -1, Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	want(t, m, 0, "passbridge_deprovisionings_pending")
	want(t, m, 0, "passbridge_deprovisioning_oldest_age_seconds")

	if err := st.EnqueueJobs(ctx, []connector.Job{
		{Kind: connector.JobInvite, Subject: "u1", RunAt: now, Created: now.Add(-2 * time.Hour)},
		// A disable Graph keeps refusing: waiting for its next retry.
		{Kind: connector.JobDisable, Subject: "u2", RunAt: now.Add(15 * time.Minute), Created: now.Add(-45 * time.Minute)},
		{Kind: connector.JobDeleteGuest, Subject: "u3", RunAt: now, Created: now.Add(-time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	want(t, m, 2, "passbridge_deprovisionings_pending")
	want(t, m, 45*60, "passbridge_deprovisioning_oldest_age_seconds")
	want(t, m, 0, "passbridge_metrics_collect_errors_total", "collector=deprovisioning")
}
