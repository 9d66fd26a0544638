package connector_test

import (
	"errors"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

func TestSignUpInvitesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("alice@tech.gov.sg", false)
	if u.Onboarding.State != connector.StatePending || e.queued() != 1 {
		t.Fatalf("after sign-up: state %s, %d jobs; want pending, 1", u.Onboarding.State, e.queued())
	}
	e.drain()
	u = e.wantState(u.ID, connector.StateInvited)
	o := u.Onboarding
	if o.GuestID == "" || o.InvitedAt == nil || !o.ExpiresAt.Equal(o.InvitedAt.Add(720*time.Hour)) {
		t.Errorf("facts after invite: %+v", o)
	}
	if n := e.dir.invitationsTo("alice@tech.gov.sg"); n != 1 {
		t.Errorf("invitations = %d, want 1", n)
	}
	if !e.hasEvent(u.ID, "onboarding.invited") || !e.hasEvent(u.ID, "user.created") {
		t.Errorf("events: %+v", e.events(u.ID))
	}
	// A duplicate job (e.g. a replayed outbox row) does not invite again.
	if err := e.store.EnqueueJobs(e.ctx, []connector.Job{{Kind: connector.JobInvite, Subject: u.ID, RunAt: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if n := e.dir.invitationsTo("alice@tech.gov.sg"); n != 1 {
		t.Errorf("invitations after a duplicate job = %d, want 1", n)
	}
}

func TestSignUpRefusedByPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.svc.CreateUser(e.ctx, "scim:test", newUser("alice@gmail.com", false))
	ie, ok := connector.IsInputError(err)
	if !ok {
		t.Fatalf("CreateUser(gmail) = %v, want *InputError", err)
	}
	want := `"alice@gmail.com": gmail.com is not an organisational domain; sign up with your agency address (gov.sg or *.gov.sg)`
	if ie.Detail != want || ie.Field != connector.FieldEmails {
		t.Errorf("refusal = %q (field %q), want %q", ie.Detail, ie.Field, want)
	}
	lite := newUser("bob@tech.gov.sg", false)
	lite.MailboxType = "LiteMail"
	if _, err := e.svc.CreateUser(e.ctx, "scim:test", lite); err == nil {
		t.Errorf("LiteMail accepted")
	}
	page, err := e.store.ListUsers(e.ctx, connector.Query{Count: 10})
	if err != nil || page.Total != 0 {
		t.Fatalf("users stored after refusals: %d (%v)", page.Total, err)
	}
	e.drain()
	if _, reqs := e.dir.snapshot(); len(reqs) != 0 {
		t.Errorf("directory called for refused users: %v", reqs)
	}

	// The policy also guards a change of address.
	u := e.signUp("carol@tech.gov.sg", false)
	_, err = e.svc.UpdateUser(e.ctx, "scim:test", u.ID, nil, func(u *connector.User) error {
		u.Emails = []string{"carol@yahoo.com"}
		u.Doc = nil
		return nil
	})
	if ie, ok := connector.IsInputError(err); !ok || ie.Detail != `"carol@yahoo.com": yahoo.com is not an organisational domain; sign up with your agency address (gov.sg or *.gov.sg)` {
		t.Errorf("address change to yahoo.com: %v", err)
	}
	if got := e.user(u.ID); got.Onboarding.InviteEmail != "carol@tech.gov.sg" || got.Version != u.Version {
		t.Errorf("refused change was stored: %+v", got)
	}
}

func TestDeactivateReactivateDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("dan@tech.gov.sg", false)
	e.drain()
	guest := e.user(u.ID).Onboarding.GuestID

	e.patch(u.ID, func(u *connector.User) { u.Active = false })
	// Issue 10: "disabled" only once Graph confirmed it (this assertion
	// used to come before the drain, i.e. before the worker ran).
	if got := e.user(u.ID); got.Onboarding.State != connector.StateInvited || !connector.DeprovisionPending(got) {
		t.Errorf("before the worker ran: state %s, pending %v; want invited, pending", got.Onboarding.State, connector.DeprovisionPending(got))
	}
	e.drain()
	e.wantState(u.ID, connector.StateDisabled)
	g, _ := e.dir.guestByEmail("dan@tech.gov.sg")
	if g.AccountEnabled || e.dir.count("revokeSessions") != 1 {
		t.Errorf("after active=false: accountEnabled %v, revokeSessions %d", g.AccountEnabled, e.dir.count("revokeSessions"))
	}
	if !e.user(u.ID).Onboarding.Disabled || !e.hasEvent(u.ID, "onboarding.disabled") {
		t.Errorf("disabled fact not recorded")
	}

	e.patch(u.ID, func(u *connector.User) { u.Active = true })
	e.drain()
	e.wantState(u.ID, connector.StateInvited)
	g, _ = e.dir.guestByEmail("dan@tech.gov.sg")
	if !g.AccountEnabled || e.user(u.ID).Onboarding.Disabled {
		t.Errorf("after active=true: accountEnabled %v", g.AccountEnabled)
	}
	if e.dir.invitationsTo("dan@tech.gov.sg") != 1 {
		t.Errorf("reactivation within validity re-invited")
	}

	if err := e.svc.DeleteUser(e.ctx, "scim:test", u.ID, nil); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if _, ok := e.dir.guestByEmail("dan@tech.gov.sg"); ok {
		t.Errorf("guest %s not deleted", guest)
	}
	if !e.hasEvent(u.ID, "user.deleted") {
		t.Errorf("no user.deleted event kept")
	}
}

func TestDeleteBeforeInvitation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("erin@tech.gov.sg", false)
	if err := e.svc.DeleteUser(e.ctx, "scim:test", u.ID, nil); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if n := e.dir.invitationsTo("erin@tech.gov.sg"); n != 0 {
		t.Errorf("deleted user invited %d times", n)
	}
}

func TestDeactivatedWhileInviting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("fay@tech.gov.sg", false)
	// A worker claims the invitation and stalls; meanwhile the user is
	// deactivated.
	jobs, err := e.store.ClaimJobs(e.ctx, "worker-1", e.clock.Now(), time.Minute, 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	e.patch(u.ID, func(u *connector.User) { u.Active = false })
	// The claimed job's lease expires; the worker takes it and skips the
	// invitation of an inactive user.
	e.clock.Advance(2 * time.Minute)
	e.drain()
	if n := e.dir.invitationsTo("fay@tech.gov.sg"); n != 0 {
		t.Errorf("inactive user invited %d times", n)
	}
	e.patch(u.ID, func(u *connector.User) { u.Active = true })
	e.drain()
	e.wantState(u.ID, connector.StateInvited)
	if n := e.dir.invitationsTo("fay@tech.gov.sg"); n != 1 {
		t.Errorf("reactivated user invited %d times, want 1", n)
	}
}

func TestExpiryAndReinvite(t *testing.T) {
	t.Parallel()
	for name, again := range map[string]func(e *env, u connector.User) connector.User{
		"patch active=true": func(e *env, u connector.User) connector.User {
			return e.patch(u.ID, func(u *connector.User) { u.Active = true })
		},
		"sign up again": func(e *env, u connector.User) connector.User {
			return e.signUp("gus@tech.gov.sg", false)
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			u := e.signUp("gus@tech.gov.sg", false)
			e.drain()
			first := e.user(u.ID).Onboarding
			e.dir.redeem(first.GuestID)

			e.clock.Advance(29 * day)
			if rep := e.reconcile(); rep.Expired != 0 {
				t.Fatalf("expired before validity: %+v", rep)
			}
			e.wantState(u.ID, connector.StateRedeemed)
			e.clock.Advance(day)
			rep := e.reconcile()
			if rep.Expired != 1 {
				t.Fatalf("reconcile at expiry: %+v", rep)
			}
			exp := e.wantState(u.ID, connector.StateExpired)
			if exp.Onboarding.ExpiredAt == nil || !e.hasEvent(u.ID, "onboarding.expired") {
				t.Errorf("expiry facts: %+v", exp.Onboarding)
			}
			e.drain()
			if _, ok := e.dir.guestByEmail("gus@tech.gov.sg"); ok {
				t.Fatalf("expired guest not deleted")
			}
			if !e.user(u.ID).Onboarding.GuestGone {
				t.Errorf("guest deletion not recorded")
			}
			// A PATCH of something else does not re-invite.
			e.patch(u.ID, func(u *connector.User) { u.ExternalID = "ext-1" })
			e.wantState(u.ID, connector.StateExpired)

			e.clock.Advance(time.Hour)
			re := again(e, u)
			if re.ID != u.ID || re.Onboarding.State != connector.StatePending {
				t.Fatalf("re-invite: id %s state %s", re.ID, re.Onboarding.State)
			}
			e.drain()
			o := e.wantState(u.ID, connector.StateInvited).Onboarding
			if o.GuestID == first.GuestID || o.RedeemedAt != nil || !o.ExpiresAt.Equal(e.clock.Now().Add(720*time.Hour)) {
				t.Errorf("new onboarding facts: %+v (first guest %s)", o, first.GuestID)
			}
			if !e.hasEvent(u.ID, "onboarding.reset") {
				t.Errorf("old facts not kept in the event log")
			}
			if n := e.dir.invitationsTo("gus@tech.gov.sg"); n != 2 {
				t.Errorf("invitations = %d, want 2 (one per onboarding)", n)
			}
		})
	}
}

func TestSignUpAgainWhileActiveConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp("hal@tech.gov.sg", false)
	_, err := e.svc.CreateUser(e.ctx, "scim:test", newUser("hal@tech.gov.sg", false))
	if !errors.Is(err, connector.ErrAlreadyExists) {
		t.Errorf("second sign-up of an active onboarding = %v, want ErrAlreadyExists", err)
	}
}

func TestAddressChangeReinvites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("ivy@old.gov.sg", false)
	e.drain()
	e.patch(u.ID, func(u *connector.User) {
		u.Emails = []string{"ivy@new.gov.sg"}
		u.Doc = nil
	})
	e.drain()
	o := e.wantState(u.ID, connector.StateInvited).Onboarding
	if o.InviteEmail != "ivy@new.gov.sg" || e.dir.invitationsTo("ivy@new.gov.sg") != 1 {
		t.Errorf("after address change: %+v", o)
	}
	if _, ok := e.dir.guestByEmail("ivy@old.gov.sg"); ok {
		t.Errorf("guest of the old address kept")
	}
}
