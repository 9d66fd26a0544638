package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// Authority (issue 10): one invited address belongs to at most one user,
// the guest id is findable, tombstones are kept until removed.

func withInvite(u connector.User, addr, guest string) connector.User {
	u.Onboarding.InviteEmail = addr
	u.Onboarding.GuestID = guest
	return u
}

func testInviteAddressUnique(t *testing.T, s connector.Store) {
	ctx := context.Background()
	a := mustCreateUser(t, s, withInvite(newUser("a@agency.gov.sg"), "shared@agency.gov.sg", ""))
	_, err := s.CreateUser(ctx, withInvite(newUser("b@agency.gov.sg"), "Shared@Agency.gov.sg", ""), connector.Change{})
	if !errors.Is(err, connector.ErrAddressTaken) {
		t.Fatalf("second user with the same invite address (another case): %v, want ErrAddressTaken", err)
	}
	if errors.Is(err, connector.ErrAlreadyExists) {
		t.Errorf("address conflict also reads as a userName conflict: %v", err)
	}
	// Users without an invite address do not collide with each other.
	mustCreateUser(t, s, newUser("none1@agency.gov.sg"))
	mustCreateUser(t, s, newUser("none2@agency.gov.sg"))
	c := mustCreateUser(t, s, withInvite(newUser("c@agency.gov.sg"), "c@agency.gov.sg", ""))
	// An update onto a held address is refused and changes nothing.
	_, err = s.UpdateUser(ctx, c.ID, func(u *connector.User) (connector.Change, error) {
		u.Onboarding.InviteEmail = "shared@agency.gov.sg"
		return connector.Change{}, nil
	})
	if !errors.Is(err, connector.ErrAddressTaken) {
		t.Fatalf("update onto a held address: %v, want ErrAddressTaken", err)
	}
	if got := mustGetUser(t, s, c.ID); got.Onboarding.InviteEmail != "c@agency.gov.sg" || got.Version != c.Version {
		t.Errorf("refused update left %q version %d", got.Onboarding.InviteEmail, got.Version)
	}
	// Once the holder is deleted, the address is free.
	if err := s.DeleteUser(ctx, a.ID, func(connector.User) (connector.Change, error) { return connector.Change{}, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, c.ID, func(u *connector.User) (connector.Change, error) {
		u.Onboarding.InviteEmail = "shared@agency.gov.sg"
		return connector.Change{}, nil
	}); err != nil {
		t.Fatalf("update onto a freed address: %v", err)
	}
}

// Concurrent creates of one address: exactly one wins (on PostgreSQL, two
// transactions must not both commit).
func testInviteAddressConcurrent(t *testing.T, s connector.Store) {
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			u := withInvite(newUser("racer"+string(rune('a'+i))+"@agency.gov.sg"), "race@agency.gov.sg", "")
			_, errs[i] = s.CreateUser(ctx, u, connector.Change{})
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, connector.ErrAddressTaken):
			t.Errorf("create %d: %v, want nil or ErrAddressTaken", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d creates of one address won, want 1", won)
	}
}

func testGuestIDFilter(t *testing.T, s connector.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s, withInvite(newUser("g@agency.gov.sg"), "g@agency.gov.sg", "guest-1"))
	mustCreateUser(t, s, withInvite(newUser("h@agency.gov.sg"), "h@agency.gov.sg", "guest-2"))
	page, err := s.ListUsers(ctx, connector.Query{Filter: connector.Eq(connector.AttrGuestID, "guest-1"), Count: 10})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != u.ID {
		t.Fatalf("users with guest-1: %+v, %v", page.Items, err)
	}
	if _, err := s.UpdateUser(ctx, u.ID, func(u *connector.User) (connector.Change, error) {
		u.Onboarding.GuestID = "guest-3"
		return connector.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	page, err = s.ListUsers(ctx, connector.Query{Filter: connector.Eq(connector.AttrGuestID, "guest-1"), Count: 10})
	if err != nil || len(page.Items) != 0 {
		t.Errorf("users with guest-1 after it changed: %+v, %v", page.Items, err)
	}
}

func testTombstones(t *testing.T, s connector.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s, withInvite(newUser("t@agency.gov.sg"), "t@agency.gov.sg", "guest-t"))
	// A tombstone committed with the deletion, in its transaction.
	err := s.DeleteUser(ctx, u.ID, func(connector.User) (connector.Change, error) {
		return connector.Change{Tombstones: []connector.Tombstone{{GuestID: "guest-t", UserID: u.ID, At: t0}}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// An aborted deletion leaves none.
	v := mustCreateUser(t, s, withInvite(newUser("v@agency.gov.sg"), "v@agency.gov.sg", "guest-v"))
	err = s.DeleteUser(ctx, v.ID, func(connector.User) (connector.Change, error) {
		return connector.Change{Tombstones: []connector.Tombstone{{GuestID: "guest-v", UserID: v.ID, At: t0}}}, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("aborted delete: %v", err)
	}
	if err := s.AddTombstone(ctx, connector.Tombstone{GuestID: "guest-x", UserID: "user-x", At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	// Adding again keeps the first.
	if err := s.AddTombstone(ctx, connector.Tombstone{GuestID: "guest-x", UserID: "user-y", At: t0.Add(time.Hour)}); err != nil {
		t.Fatalf("add again: %v", err)
	}
	page, err := s.ListTombstones(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []connector.Tombstone{{GuestID: "guest-t", UserID: u.ID, At: t0}, {GuestID: "guest-x", UserID: "user-x", At: t0.Add(time.Minute)}}
	if page.Total != 2 || len(page.Items) != 2 {
		t.Fatalf("tombstones %+v, want %+v", page, want)
	}
	for i, w := range want {
		if g := page.Items[i]; g.GuestID != w.GuestID || g.UserID != w.UserID || !g.At.Equal(w.At) {
			t.Errorf("tombstone %d = %+v, want %+v", i, g, w)
		}
	}
	if page, err := s.ListTombstones(ctx, 0); err != nil || page.Total != 2 || len(page.Items) != 0 {
		t.Errorf("count only: %+v, %v", page, err)
	}
	for id, want := range map[string]bool{"guest-t": true, "guest-v": false, "guest-x": true} {
		if got, err := s.HasTombstone(ctx, id); err != nil || got != want {
			t.Errorf("HasTombstone(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
	if err := s.RemoveTombstone(ctx, "guest-t"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveTombstone(ctx, "guest-none"); err != nil {
		t.Errorf("removing a missing tombstone: %v", err)
	}
	if got, _ := s.HasTombstone(ctx, "guest-t"); got {
		t.Errorf("tombstone still there after RemoveTombstone")
	}
	if page, err := s.ListTombstones(ctx, 10); err != nil || page.Total != 1 {
		t.Errorf("after removal: %+v, %v", page, err)
	}
}
