package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// testConsole checks connector.ConsoleStore: the admin console's lists.
func testConsole(t *testing.T, s connector.Store) {
	ctx := context.Background()
	cs, ok := s.(connector.ConsoleStore)
	if !ok {
		t.Fatalf("%T does not implement connector.ConsoleStore", s)
	}
	mk := func(name string, active bool, o connector.Onboarding) connector.User {
		u := newUser(name)
		u.Active = active
		u.Onboarding = o
		return mustCreateUser(t, s, u)
	}
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	day := 24 * time.Hour
	soon2 := mk("soon2@x.example", true, connector.Onboarding{State: connector.StateRedeemed, ExpiresAt: at(2 * day)})
	soon1 := mk("soon1@x.example", true, connector.Onboarding{State: connector.StateInvited, ExpiresAt: at(day + 500*time.Millisecond)})
	mk("later@x.example", true, connector.Onboarding{State: connector.StateInvited, ExpiresAt: at(9 * day)})
	mk("past@x.example", true, connector.Onboarding{State: connector.StateInvited, ExpiresAt: at(-day)})
	mk("done@x.example", true, connector.Onboarding{State: connector.StateOnboarded, ExpiresAt: at(day)})
	pend := mk("deprov@x.example", false, connector.Onboarding{State: connector.StateInvited, GuestID: "g1"})
	mk("disabled@x.example", false, connector.Onboarding{State: connector.StateDisabled, Disabled: true})

	page, err := cs.ExpiringUsers(ctx, t0, t0.Add(7*day), 10)
	if err != nil {
		t.Fatalf("ExpiringUsers: %v", err)
	}
	if page.Total != 2 || len(page.Items) != 2 || page.Items[0].ID != soon1.ID || page.Items[1].ID != soon2.ID {
		t.Errorf("ExpiringUsers = total %d %v, want soon1, soon2", page.Total, userNames(page.Items))
	}
	if page, err = cs.ExpiringUsers(ctx, t0, t0.Add(7*day), 1); err != nil || page.Total != 2 || len(page.Items) != 1 {
		t.Errorf("ExpiringUsers limit 1 = total %d, %d items, %v; want 2, 1", page.Total, len(page.Items), err)
	}

	dp, err := cs.DeprovisionPendingUsers(ctx, 10)
	if err != nil {
		t.Fatalf("DeprovisionPendingUsers: %v", err)
	}
	if dp.Total != 1 || len(dp.Items) != 1 || dp.Items[0].ID != pend.ID {
		t.Errorf("DeprovisionPendingUsers = total %d %v, want only deprov", dp.Total, userNames(dp.Items))
	}

	if _, ok, err := cs.OldestQueuedJob(ctx); err != nil || ok {
		t.Errorf("OldestQueuedJob on an empty queue = %v, %v; want none", ok, err)
	}
	if err := s.EnqueueJobs(ctx, []connector.Job{
		{Kind: connector.JobInvite, Subject: "a", RunAt: t0.Add(time.Hour), Created: t0},
		{Kind: connector.JobDisable, Subject: "b", RunAt: t0, Created: t0.Add(time.Minute)},
		{Kind: connector.JobDeleteGuest, Subject: "c", RunAt: t0.Add(2 * time.Hour), Created: t0},
	}); err != nil {
		t.Fatal(err)
	}
	j, ok, err := cs.OldestQueuedJob(ctx)
	if err != nil || !ok || j.Subject != "b" {
		t.Errorf("OldestQueuedJob = %+v, %v, %v; want the disable of b", j, ok, err)
	}
	jobs, err := cs.QueuedJobsOfKinds(ctx, connector.DeprovisioningKinds(), 10)
	if err != nil || len(jobs) != 2 || jobs[0].Subject != "c" || jobs[1].Subject != "b" {
		t.Errorf("QueuedJobsOfKinds = %v, %v; want c then b (by creation)", jobIDs(jobs), err)
	}

	fj, err := cs.FailedJobs(ctx, 10)
	if err != nil || fj.Total != 0 {
		t.Errorf("FailedJobs before = %+v, %v", fj, err)
	}
	got := claim(t, s, "w", t0.Add(3*time.Hour), time.Minute, 3)
	for _, j := range got {
		if j.Subject == "a" {
			if err := s.FailJob(ctx, j.ID, "w", "400 invalid address"); err != nil {
				t.Fatal(err)
			}
		}
	}
	fj, err = cs.FailedJobs(ctx, 10)
	if err != nil || fj.Total != 1 || len(fj.Items) != 1 || fj.Items[0].Subject != "a" || fj.Items[0].LastError != "400 invalid address" {
		t.Errorf("FailedJobs = %+v, %v; want a's invite with its lastError", fj, err)
	}

	if _, err := s.UpdateUser(ctx, soon1.ID, func(u *connector.User) (connector.Change, error) {
		return connector.Change{Events: []connector.Event{
			{Subject: u.ID, Type: "t.one", Actor: "x", At: t0},
			{Subject: u.ID, Type: "t.two", Actor: "admin:ann", At: t0},
			{Subject: "other", Type: "t.other", Actor: "x", At: t0},
		}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	evs, err := cs.SubjectEvents(ctx, soon1.ID, 10)
	if err != nil || len(evs) < 2 || evs[0].Type != "t.two" || evs[1].Type != "t.one" {
		t.Errorf("SubjectEvents = %+v, %v; want newest first", evs, err)
	}
	for _, e := range evs {
		if e.Subject != soon1.ID {
			t.Errorf("SubjectEvents returned an event of %s", e.Subject)
		}
	}
	if evs, err := cs.SubjectEvents(ctx, soon1.ID, 1); err != nil || len(evs) != 1 {
		t.Errorf("SubjectEvents limit 1 = %d events, %v", len(evs), err)
	}
}

func userNames(us []connector.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.UserName
	}
	return out
}
