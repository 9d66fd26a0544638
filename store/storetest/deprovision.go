package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// testJobKindStats: JobKindStats counts the queued (and claimed) jobs of the
// kinds asked for, not failed ones nor other kinds, and reports the oldest
// one's Created: /metrics' pending deprovisionings and their age.
func testJobKindStats(t *testing.T, s connector.Store) {
	ctx := context.Background()
	kinds := connector.DeprovisioningKinds()
	n, oldest, err := s.JobKindStats(ctx, kinds)
	if err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty JobKindStats = %d, %v, %v", n, oldest, err)
	}
	if n, _, err := s.JobKindStats(ctx, nil); err != nil || n != 0 {
		t.Fatalf("JobKindStats(no kinds) = %d, %v", n, err)
	}
	if err := s.EnqueueJobs(ctx, []connector.Job{
		{Kind: connector.JobInvite, Subject: "a", RunAt: t0, Created: t0.Add(-time.Hour)},
		{Kind: connector.JobDisable, Subject: "b", RunAt: t0.Add(time.Hour), Created: t0.Add(-10 * time.Minute)},
		{Kind: connector.JobDeleteGuest, Subject: "c", RunAt: t0, Created: t0},
		{Kind: connector.JobDisable, Subject: "d", RunAt: t0.Add(-time.Minute), Created: t0.Add(-time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	n, oldest, err = s.JobKindStats(ctx, kinds)
	if err != nil || n != 3 || !oldest.Equal(t0.Add(-10*time.Minute)) {
		t.Errorf("JobKindStats = %d, %v, %v; want 3, %v (the invitation is not counted)", n, oldest, err, t0.Add(-10*time.Minute))
	}
	if n, oldest, err := s.JobKindStats(ctx, []connector.JobKind{connector.JobDeleteGuest}); err != nil || n != 1 || !oldest.Equal(t0) {
		t.Errorf("JobKindStats(deleteGuest) = %d, %v, %v; want 1, %v", n, oldest, err, t0)
	}
	// A claimed job is still pending; a failed one is not.
	jobs := claim(t, s, "w", t0, time.Minute, 4)
	for _, j := range jobs {
		if j.Subject == "d" {
			if err := s.FailJob(ctx, j.ID, "w", "x"); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, oldest, err = s.JobKindStats(ctx, kinds)
	if err != nil || n != 2 || !oldest.Equal(t0.Add(-10*time.Minute)) {
		t.Errorf("JobKindStats after claim and failure = %d, %v, %v; want 2, %v", n, oldest, err, t0.Add(-10*time.Minute))
	}
}
