package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/postgres"
)

// TestLeaseClockSkew: leases are timed by the database's clock, so a
// replica whose clock runs an hour ahead cannot take a live lease or
// job, and one whose clock runs an hour behind still sees an expired one
// as expired. On the callers' clocks both answers would be the opposite.
func TestLeaseClockSkew(t *testing.T) {
	ctx := context.Background()
	url := freshSchema(t)
	var stores [2]*postgres.Store
	for i := range stores {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	a, b := stores[0], stores[1]
	const short = time.Second
	ahead := func() time.Time { return time.Now().Add(time.Hour) }
	behind := func() time.Time { return time.Now().Add(-time.Hour) }

	t.Run("reconciler lease", func(t *testing.T) {
		if ok, err := a.AcquireLease(ctx, "reconciler", "a", time.Now(), short); !ok || err != nil {
			t.Fatalf("a acquires: %v, %v", ok, err)
		}
		if ok, err := b.AcquireLease(ctx, "reconciler", "b", ahead(), short); ok || err != nil {
			t.Errorf("b, an hour ahead, acquired a's live lease: %v, %v", ok, err)
		}
		time.Sleep(short + 200*time.Millisecond)
		if ok, err := b.AcquireLease(ctx, "reconciler", "b", behind(), time.Hour); !ok || err != nil {
			t.Errorf("b, an hour behind, could not take a's expired lease: %v, %v", ok, err)
		}
		if ok, err := a.AcquireLease(ctx, "reconciler", "a", ahead(), time.Hour); ok || err != nil {
			t.Errorf("a, an hour ahead, took b's live lease back: %v, %v", ok, err)
		}
	})

	t.Run("job lease", func(t *testing.T) {
		if err := a.EnqueueJobs(ctx, []connector.Job{
			{Kind: connector.JobInvite, Subject: "long"},
			{Kind: connector.JobInvite, Subject: "short"},
		}); err != nil {
			t.Fatal(err)
		}
		long, err := a.ClaimJobs(ctx, "a", time.Now(), time.Hour, 1)
		if err != nil || len(long) != 1 {
			t.Fatalf("a claims: %v, %v", long, err)
		}
		brief, err := a.ClaimJobs(ctx, "a", time.Now(), short, 1)
		if err != nil || len(brief) != 1 {
			t.Fatalf("a claims: %v, %v", brief, err)
		}
		if got, err := b.ClaimJobs(ctx, "b", ahead().Add(time.Hour), time.Hour, 10); len(got) != 0 || err != nil {
			t.Errorf("b, two hours ahead, claimed live jobs: %v, %v", got, err)
		}
		time.Sleep(short + 200*time.Millisecond)
		got, err := b.ClaimJobs(ctx, "b", behind(), time.Hour, 10)
		if err != nil || len(got) != 1 || got[0].ID != brief[0].ID {
			t.Errorf("b, an hour behind, claimed %v (%v); want the expired job %d alone", got, err, brief[0].ID)
		}
		if err := a.CompleteJob(ctx, brief[0].ID, "a"); err == nil {
			t.Error("a completed a job whose lease it lost")
		}
		if err := a.CompleteJob(ctx, long[0].ID, "a"); err != nil {
			t.Errorf("a could not complete the job it holds: %v", err)
		}
	})
}
