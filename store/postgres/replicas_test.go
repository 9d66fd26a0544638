package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/postgres"
)

// TestReplicas drives two stores on one schema, as two passbridge replicas
// would be: they migrate at the same time, share leases, claim jobs and
// update one user side by side.
func TestReplicas(t *testing.T) {
	ctx := context.Background()
	url := freshSchema(t)
	var stores [2]*postgres.Store
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(ctx, url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open during a concurrent migration: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	a, b := stores[0], stores[1]
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("leader lease", func(t *testing.T) {
		// The steps follow t0, not real time: leases on the caller's
		// clock here (TestLeaseClockSkew covers the database's).
		for _, s := range stores {
			postgres.UseCallerClock(s, true)
			defer postgres.UseCallerClock(s, false)
		}
		if ok, err := a.AcquireLease(ctx, "reconciler", "a", t0, time.Minute); !ok || err != nil {
			t.Fatalf("a acquires: %v, %v", ok, err)
		}
		if ok, _ := b.AcquireLease(ctx, "reconciler", "b", t0.Add(30*time.Second), time.Minute); ok {
			t.Error("b acquired a lease a holds")
		}
		if err := a.ReleaseLease(ctx, "reconciler", "a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := b.AcquireLease(ctx, "reconciler", "b", t0.Add(31*time.Second), time.Minute); !ok {
			t.Error("b could not take the released lease")
		}
		if ok, _ := a.AcquireLease(ctx, "reconciler", "a", t0.Add(91*time.Second), time.Minute); !ok {
			t.Error("a could not take over b's expired lease")
		}
	})

	t.Run("claims never overlap", func(t *testing.T) {
		jobs := make([]connector.Job, 100)
		for i := range jobs {
			jobs[i] = connector.Job{Kind: connector.JobInvite, Subject: fmt.Sprint(i), RunAt: t0}
		}
		if err := a.EnqueueJobs(ctx, jobs); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[int64]string{}
		var wg sync.WaitGroup
		for w := range 4 {
			s, name := a, fmt.Sprintf("a%d", w)
			if w%2 == 1 {
				s, name = b, fmt.Sprintf("b%d", w)
			}
			wg.Go(func() {
				for {
					got, err := s.ClaimJobs(ctx, name, t0, time.Hour, 3)
					if err != nil {
						t.Errorf("%s: %v", name, err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, j := range got {
						if prev, dup := seen[j.ID]; dup {
							t.Errorf("job %d claimed by %s and %s", j.ID, prev, name)
						}
						seen[j.ID] = name
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 100 {
			t.Errorf("%d jobs claimed, want 100", len(seen))
		}
	})

	t.Run("updates from both replicas", func(t *testing.T) {
		u, err := a.CreateUser(ctx, connector.User{UserName: "shared@agency.gov.sg", Doc: json.RawMessage(`{"n":0}`)}, connector.Change{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 40 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				_, err := s.UpdateUser(ctx, u.ID, func(u *connector.User) (connector.Change, error) {
					var d struct{ N int }
					if err := json.Unmarshal(u.Doc, &d); err != nil {
						return connector.Change{}, err
					}
					d.N++
					u.Doc, _ = json.Marshal(map[string]int{"n": d.N})
					return connector.Change{}, nil
				})
				if err != nil {
					t.Errorf("update: %v", err)
				}
			})
		}
		wg.Wait()
		got, err := b.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ N int }
		_ = json.Unmarshal(got.Doc, &d)
		if d.N != 40 || got.Version != 41 {
			t.Errorf("counter %d version %d, want 40, 41", d.N, got.Version)
		}
	})
}
