package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// testLifecycleDue checks connector.LifecycleStore: the users whose
// lifecycle rule is due, by id, paged by afterID; a due time to the second
// compares as time (the connector rounds it up to the second).
func testLifecycleDue(t *testing.T, s connector.Store) {
	ctx := context.Background()
	ls, ok := s.(connector.LifecycleStore)
	if !ok {
		t.Fatalf("%T does not implement connector.LifecycleStore", s)
	}
	at := func(d time.Duration) *time.Time { v := t0.Add(d).Truncate(time.Second); return &v }
	mk := func(name string, due *time.Time) connector.User {
		u := newUser(name)
		u.Onboarding = connector.Onboarding{State: connector.StateExpired, LifecycleDueAt: due}
		return mustCreateUser(t, s, u)
	}
	past := mk("due-past@x.example", at(-48*time.Hour))
	now := mk("due-now@x.example", at(0))
	mk("due-later@x.example", at(time.Second))
	mk("due-none@x.example", nil)
	want := map[string]bool{past.ID: true, now.ID: true}

	// now carries a fraction: due at the whole second before it is due.
	got, err := ls.LifecycleDueUsers(ctx, t0.Truncate(time.Second).Add(500*time.Millisecond), "", 10)
	if err != nil {
		t.Fatalf("LifecycleDueUsers: %v", err)
	}
	if len(got) != 2 || !want[got[0].ID] || !want[got[1].ID] || got[0].ID >= got[1].ID {
		t.Fatalf("due users = %v, want due-past and due-now by id", userNames(got))
	}
	page1, err := ls.LifecycleDueUsers(ctx, t0, "", 1)
	if err != nil || len(page1) != 1 {
		t.Fatalf("limit 1: %v %v", userNames(page1), err)
	}
	page2, err := ls.LifecycleDueUsers(ctx, t0, page1[0].ID, 10)
	if err != nil || len(page2) != 1 || page2[0].ID == page1[0].ID {
		t.Fatalf("after %s: %v %v", page1[0].ID, userNames(page2), err)
	}
	// A user whose due time moves on is no longer returned.
	if _, err := s.UpdateUser(ctx, past.ID, func(u *connector.User) (connector.Change, error) {
		u.Onboarding.LifecycleDueAt = nil
		return connector.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := ls.LifecycleDueUsers(ctx, t0, "", 10); err != nil || len(got) != 1 || got[0].ID != now.ID {
		t.Fatalf("after clearing due-past: %v %v", userNames(got), err)
	}
}
