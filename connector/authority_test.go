package connector_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

// Authority (issue 10): passbridge acts only on accounts it invited.

func (e *env) deleteUser(id string) {
	e.t.Helper()
	if err := e.svc.DeleteUser(e.ctx, "scim:test", id, nil); err != nil {
		e.t.Fatalf("delete %s: %v", id, err)
	}
}

func (e *env) tombstones() connector.Page[connector.Tombstone] {
	e.t.Helper()
	p, err := e.store.ListTombstones(e.ctx, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// wantUntouched fails unless the account is still there and enabled and
// passbridge wrote nothing in the tenant.
func (e *env) wantUntouched(email, id string) {
	e.t.Helper()
	g, ok := e.dir.guestByEmail(email)
	if !ok || g.ID != id || !g.AccountEnabled {
		e.t.Fatalf("account %s at %s: present %v, %+v; want untouched and enabled", id, email, ok, g)
	}
	if w, _ := e.dir.snapshot(); w != 0 {
		e.t.Errorf("tenant writes = %d, want 0", w)
	}
	if n := e.dir.invitationsTo(email); n != 0 {
		e.t.Errorf("invitations to %s = %d, want 0", email, n)
	}
}

// The first scenario: another partner's guest's address, then
// active=false, then DELETE.
func TestForeignGuestNeverTouched(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := e.dir.addAccount("pat@tech.gov.sg", "Guest")
	u := e.signUp("pat@tech.gov.sg", false)
	e.drain()
	got := e.wantState(u.ID, connector.StateConflict)
	if le := got.Onboarding.LastError; !strings.Contains(le, other) || !strings.Contains(le, "userType Guest") ||
		!strings.Contains(le, "invitation.adoptExistingGuests") || strings.Contains(le, "pat@") {
		t.Errorf("lastError %q: want the account id and userType, what to do, and no address", le)
	}
	if got.Onboarding.GuestID != "" || !e.hasEvent(u.ID, "onboarding.conflict") {
		t.Errorf("guest %q recorded, conflict event %v", got.Onboarding.GuestID, e.hasEvent(u.ID, "onboarding.conflict"))
	}
	e.patch(u.ID, func(u *connector.User) { u.Active = false })
	e.drain()
	e.deleteUser(u.ID)
	e.drain()
	e.wantUntouched("pat@tech.gov.sg", other)
	if p := e.tombstones(); p.Total != 0 {
		t.Errorf("tombstones %+v for a user that held no guest", p)
	}
}

// The second scenario: a member's address, created inactive, then
// DELETE. Also active, and with adoptExistingGuests: never adopted.
func TestMemberNeverDeleted(t *testing.T) {
	t.Parallel()
	for _, adopt := range []bool{false, true} {
		e := newEnv(t, func(o *connector.Options) { o.AdoptExistingGuests = adopt })
		member := e.dir.addAccount("staff@tech.gov.sg", "Member")
		nu := newUser("staff@tech.gov.sg", false)
		nu.Active = false
		u, err := e.svc.CreateUser(e.ctx, "scim:test", nu)
		if err != nil {
			t.Fatal(err)
		}
		e.drain()
		e.deleteUser(u.ID)
		e.drain()
		e.wantUntouched("staff@tech.gov.sg", member)

		a := e.signUp("staff@tech.gov.sg", false)
		e.drain()
		got := e.wantState(a.ID, connector.StateConflict)
		if le := got.Onboarding.LastError; !strings.Contains(le, member) || !strings.Contains(le, "userType Member") {
			t.Errorf("adopt=%v: lastError %q", adopt, le)
		}
		e.patch(a.ID, func(u *connector.User) { u.Active = false })
		e.drain()
		e.deleteUser(a.ID)
		e.drain()
		e.wantUntouched("staff@tech.gov.sg", member)
	}
}

func TestAdoptExistingGuests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.AdoptExistingGuests = true })
	other := e.dir.addAccount("ann@tech.gov.sg", "Guest")
	u := e.signUp("ann@tech.gov.sg", false)
	e.drain()
	got := e.wantState(u.ID, connector.StateInvited)
	if got.Onboarding.GuestID != other || e.dir.invitationsTo("ann@tech.gov.sg") != 0 {
		t.Fatalf("guest %q, invitations %d; want %s adopted without an invitation", got.Onboarding.GuestID, e.dir.invitationsTo("ann@tech.gov.sg"), other)
	}
	var reason string
	for _, ev := range e.events(u.ID) {
		if ev.Type == "onboarding.guestAdopted" {
			reason = string(ev.Data)
		}
	}
	if !strings.Contains(reason, `"reason":"existingGuest"`) {
		t.Errorf("guestAdopted event data %q, want reason existingGuest", reason)
	}
	// Adopted is passbridge's: the deletion goes ahead, by id.
	e.deleteUser(u.ID)
	e.drain()
	if _, ok := e.dir.guestByEmail("ann@tech.gov.sg"); ok {
		t.Errorf("adopted guest not deleted with its user")
	}
}

// A lost answer: the retry adopts its own invitation, no second guest or
// e-mail.
func TestLostAnswerAdoptsOwnInvitation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	lost := false
	e.dir.setFaults(nil, func(op string) error {
		if op == "invite" && !lost {
			lost = true
			return &connector.DirectoryError{Class: connector.Transient, Op: op, Message: "timeout after commit"}
		}
		return nil
	})
	u := e.signUp("lou@tech.gov.sg", false)
	e.drain()
	got := e.wantState(u.ID, connector.StateInvited)
	if n := e.dir.invitationsTo("lou@tech.gov.sg"); n != 1 {
		t.Errorf("invitations = %d, want 1", n)
	}
	if g, _ := e.dir.guestByEmail("lou@tech.gov.sg"); g.ID != got.Onboarding.GuestID {
		t.Errorf("recorded guest %q, tenant's %q", got.Onboarding.GuestID, g.ID)
	}
	if !e.hasEvent(u.ID, "onboarding.guestAdopted") {
		t.Errorf("no guestAdopted event")
	}
}

// One invited address belongs to one live user: a second create, and an
// e-mail change onto a held address, are refused.
func TestOneAddressOneUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp("amy@tech.gov.sg", false)
	second := newUser("AMY@tech.gov.sg", false)
	second.UserName = "amy-again"
	if _, err := e.svc.CreateUser(e.ctx, "scim:test", second); !errors.Is(err, connector.ErrAddressTaken) {
		t.Fatalf("second user with amy's address: %v, want ErrAddressTaken", err)
	}
	b := e.signUp("bob@tech.gov.sg", false)
	e.drain()
	_, err := e.svc.UpdateUser(e.ctx, "scim:test", b.ID, nil, func(u *connector.User) error {
		nu := newUser("amy@tech.gov.sg", false)
		u.Emails, u.Doc = nu.Emails, nu.Doc
		return nil
	})
	if !errors.Is(err, connector.ErrAddressTaken) {
		t.Fatalf("e-mail change onto amy's address: %v, want ErrAddressTaken", err)
	}
	e.drain()
	if n := e.dir.invitationsTo("amy@tech.gov.sg"); n != 1 {
		t.Errorf("invitations to amy = %d, want 1", n)
	}
	ga, gb := e.user(a.ID).Onboarding.GuestID, e.user(b.ID).Onboarding.GuestID
	if ga == "" || gb == "" || ga == gb {
		t.Errorf("guests %q and %q", ga, gb)
	}
}

// A deleted user's guest is tombstoned until Graph confirmed its deletion;
// meanwhile a new user at the address neither adopts it nor is put in
// conflict by it, and is invited once it is gone.
func TestTombstoneUntilDeletionConfirmed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("tom@tech.gov.sg", false)
	e.drain()
	old := e.user(u.ID).Onboarding.GuestID
	refuse := true
	e.dir.setFaults(func(op string) error {
		if op == "deleteUser" && refuse {
			return &connector.DirectoryError{Class: connector.Transient, Op: op, Status: 503, Message: "injected"}
		}
		return nil
	}, nil)
	e.deleteUser(u.ID)
	for range 3 {
		if _, err := e.worker.RunOnce(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	p := e.tombstones()
	if p.Total != 1 || p.Items[0].GuestID != old || p.Items[0].UserID != u.ID {
		t.Fatalf("tombstones %+v, want one for %s", p, old)
	}
	v := e.signUp("tom@tech.gov.sg", false)
	for range 3 {
		if _, err := e.worker.RunOnce(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.user(v.ID).Onboarding; got.GuestID == old || got.Conflict {
		t.Fatalf("new user took the tombstoned guest or went into conflict: %+v", got)
	}
	refuse = false
	e.drain()
	got := e.wantState(v.ID, connector.StateInvited).Onboarding
	if got.GuestID == "" || got.GuestID == old {
		t.Errorf("new user's guest %q (old %s)", got.GuestID, old)
	}
	if p := e.tombstones(); p.Total != 0 {
		t.Errorf("tombstones after confirmation: %+v", p)
	}
}

// Out of conflict: the admin removes the other account and the client sets
// active=true again, or the client changes the address.
func TestConflictResolved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.dir.addAccount("cy@tech.gov.sg", "Guest")
	other := e.dir.addAccount("di@tech.gov.sg", "Guest")
	c := e.signUp("cy@tech.gov.sg", false)
	d := e.signUp("di@tech.gov.sg", false)
	e.drain()
	e.wantState(c.ID, connector.StateConflict)
	e.wantState(d.ID, connector.StateConflict)

	// An address change re-checks.
	e.patch(c.ID, func(u *connector.User) {
		nu := newUser("cy.new@tech.gov.sg", false)
		u.Emails, u.Doc = nu.Emails, nu.Doc
	})
	e.drain()
	if got := e.wantState(c.ID, connector.StateInvited); got.Onboarding.LastError != "" {
		t.Errorf("lastError kept: %q", got.Onboarding.LastError)
	}

	// The admin removes the other account; active=true re-checks.
	if err := e.dir.DeleteUser(e.ctx, other); err != nil {
		t.Fatal(err)
	}
	e.patch(d.ID, func(u *connector.User) { u.Active = true })
	e.drain()
	e.wantState(d.ID, connector.StateInvited)
	if n := e.dir.invitationsTo("di@tech.gov.sg"); n != 1 {
		t.Errorf("invitations to di = %d, want 1", n)
	}
}

// An old deletion job without a guest id (queued by address) deletes
// nothing: passbridge never deletes what an address lookup finds.
func TestDeletionByAddressNeverRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	member := e.dir.addAccount("old@tech.gov.sg", "Member")
	job := connector.Job{Kind: connector.JobDeleteGuest, Subject: "gone-user",
		Payload: []byte(`{"email":"old@tech.gov.sg","reason":"deleted"}`)}
	if err := e.store.EnqueueJobs(e.ctx, []connector.Job{job}); err != nil {
		t.Fatal(err)
	}
	e.drain()
	e.wantUntouched("old@tech.gov.sg", member)
}

// A plain invitation, whose answer is readable at once, is not an adoption.
func TestFreshInvitationIsNotAdoption(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("fay@tech.gov.sg", false)
	e.drain()
	e.wantState(u.ID, connector.StateInvited)
	if e.hasEvent(u.ID, "onboarding.guestAdopted") {
		t.Errorf("guestAdopted event for a fresh invitation")
	}
}
