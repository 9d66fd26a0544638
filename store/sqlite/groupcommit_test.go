package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

// Concurrent creates share transactions; each caller still gets exactly its
// own result: one winner per userName, ErrAlreadyExists for the others, and
// every acknowledged user (with its job and event) readable, nothing else.
func TestGroupCommitExactResults(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "g.db"))
	ctx := context.Background()
	const names, tries = 40, 5
	type result struct {
		name string
		id   string
		err  error
	}
	results := make(chan result, names*tries)
	var wg sync.WaitGroup
	for i := range names * tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("user-%d@agency.gov.sg", i%names)
			if i%7 == 0 {
				name = fmt.Sprintf("USER-%d@agency.gov.sg", i%names) // folded: the same user
			}
			u := connector.User{UserName: name, Active: true, Emails: []string{name},
				Onboarding: connector.Onboarding{State: connector.StatePending}}
			got, err := s.CreateUser(ctx, u, connector.Change{
				Jobs:   []connector.Job{{Kind: connector.JobInvite, Subject: name}},
				Events: []connector.Event{{Subject: name, Type: "user.created", Actor: "test"}},
			})
			results <- result{name, got.ID, err}
		}()
	}
	// A cancelled caller is refused without disturbing the others.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.CreateUser(cctx, connector.User{UserName: "cancelled@agency.gov.sg", Active: true}, connector.Change{}); err == nil {
		t.Error("create with a cancelled context succeeded")
	}
	wg.Wait()
	close(results)
	won := map[int]string{}
	for r := range results {
		var n int
		fmt.Sscanf(r.name[5:], "%d", &n)
		switch {
		case r.err == nil:
			if prev, ok := won[n]; ok {
				t.Errorf("user %d created twice: %s and %s", n, prev, r.id)
			}
			won[n] = r.id
		case !errors.Is(r.err, connector.ErrAlreadyExists):
			t.Errorf("create %s: %v, want nil or ErrAlreadyExists", r.name, r.err)
		}
	}
	if len(won) != names {
		t.Fatalf("%d users created, want %d", len(won), names)
	}
	for n, id := range won {
		if _, err := s.GetUser(ctx, id); err != nil {
			t.Errorf("user %d (%s) acknowledged but not readable: %v", n, id, err)
		}
	}
	page, err := s.ListUsers(ctx, connector.Query{Count: 1000})
	if err != nil || page.Total != names {
		t.Errorf("ListUsers: %d users, %v; want %d (the cancelled create must leave nothing)", page.Total, err, names)
	}
	depth, _, err := s.JobStats(ctx)
	if err != nil || depth != names {
		t.Errorf("JobStats: %d jobs, %v; want %d (one per created user)", depth, err, names)
	}
	events, err := s.ListEvents(ctx, "", 0, 0)
	if err != nil || len(events) != names {
		t.Errorf("ListEvents: %d events, %v; want %d", len(events), err, names)
	}
}
