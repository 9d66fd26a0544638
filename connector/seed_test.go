package connector_test

import (
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

func TestSeedDueDate(t *testing.T) {
	t.Parallel()
	fri := time.Date(2025, 8, 8, 2, 0, 0, 0, time.UTC) // Friday 10:00 in Singapore
	tests := map[string]struct {
		holidays []time.Time
		want     time.Time
	}{
		"across a weekend":           {want: time.Date(2025, 8, 13, 2, 0, 0, 0, time.UTC)},
		"across a weekend + holiday": {holidays: []time.Time{time.Date(2025, 8, 11, 0, 0, 0, 0, time.UTC)}, want: time.Date(2025, 8, 14, 2, 0, 0, 0, time.UTC)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(o *connector.Options) { o.Seed.Holidays = tc.holidays })
			e.clock.Set(fri)
			u := e.signUp("sam@tech.gov.sg", true)
			s := u.Onboarding.Seed
			if !s.Requested || s.State != connector.SeedRequested || !s.RequestedAt.Equal(fri) || !s.DueAt.Equal(tc.want) {
				t.Errorf("seed facts %+v, due %s, want due %s", s, s.DueAt, tc.want)
			}
		})
	}
}

func TestSeedProvisioningAndAgreements(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("sue@tech.gov.sg", true)
	e.drain()
	o := e.wantState(u.ID, connector.StateInvited).Onboarding
	g := o.GuestID
	if !e.dir.member("seed-group", g) {
		t.Fatalf("guest not in the SEED group")
	}
	s := o.Seed
	if s.State != connector.SeedProvisioned || s.ProvisionedAt == nil || !s.ExpiresAt.Equal(s.ProvisionedAt.Add(720*time.Hour)) {
		t.Errorf("seed facts: %+v", s)
	}
	if !e.hasEvent(u.ID, "seed.requested") || !e.hasEvent(u.ID, "seed.provisioned") {
		t.Errorf("seed events missing")
	}

	// With SEED provisioned, the MDM AUP is required too.
	e.dir.redeem(g)
	e.dir.registerMFA(g, authenticator)
	e.dir.accept(g, "agr-tou", "", e.clock.Now())
	e.dir.accept(g, "agr-pp", "", e.clock.Now())
	e.clock.Advance(time.Minute)
	e.reconcile()
	e.wantState(u.ID, connector.StateMFARegistered)
	e.clock.Advance(time.Minute)
	e.dir.accept(g, "agr-mdm", "", e.clock.Now())
	e.clock.Advance(time.Minute)
	e.reconcile()
	e.wantState(u.ID, connector.StateOnboarded)

	// SEED expires on its own; the onboarding stays.
	e.clock.Advance(30 * day)
	e.reconcile()
	o = e.wantState(u.ID, connector.StateOnboarded).Onboarding
	if o.Seed.State != connector.SeedExpired || !e.hasEvent(u.ID, "seed.expired") {
		t.Fatalf("seed after its validity: %+v", o.Seed)
	}

	// Asking again (seedRequested=true while it already is) re-provisions.
	e.clock.Advance(time.Hour)
	again := e.patch(u.ID, func(u *connector.User) { u.SeedRequested = true })
	if again.Onboarding.Seed.State != connector.SeedRequested {
		t.Fatalf("re-request: %+v", again.Onboarding.Seed)
	}
	e.drain()
	o = e.user(u.ID).Onboarding
	if o.Seed.State != connector.SeedProvisioned || !o.Seed.ProvisionedAt.Equal(e.clock.Now()) ||
		e.dir.count("removeGroupMember") != 1 || !e.dir.member("seed-group", g) {
		t.Errorf("re-provisioning: %+v, removes %d", o.Seed, e.dir.count("removeGroupMember"))
	}

	// Withdrawn, then asked for again.
	e.patch(u.ID, func(u *connector.User) { u.SeedRequested = false })
	if s := e.user(u.ID).Onboarding.Seed; s.Requested {
		t.Errorf("withdrawal: %+v", s)
	}
	e.patch(u.ID, func(u *connector.User) { u.SeedRequested = true })
	e.drain()
	if s := e.user(u.ID).Onboarding.Seed; s.State != connector.SeedProvisioned {
		t.Errorf("second request: %+v", s)
	}
	// A PATCH of something else leaves SEED alone.
	v := e.user(u.ID).Onboarding.Seed.RequestedAt
	e.patch(u.ID, func(u *connector.User) { u.ExternalID = "x" })
	if s := e.user(u.ID).Onboarding.Seed; !s.RequestedAt.Equal(*v) {
		t.Errorf("unrelated PATCH re-requested SEED")
	}
}

func TestSeedRequestedLater(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("sid@tech.gov.sg", false)
	e.drain()
	e.patch(u.ID, func(u *connector.User) { u.SeedRequested = true })
	e.drain()
	o := e.user(u.ID).Onboarding
	if o.Seed.State != connector.SeedProvisioned || !e.dir.member("seed-group", o.GuestID) {
		t.Errorf("seed: %+v", o.Seed)
	}
}

func TestGroupSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.GroupMap = map[string]string{"Ops": "entra-ops"} })
	a := e.signUp("ann@tech.gov.sg", false)
	e.drain()
	b := e.signUp("bob@tech.gov.sg", false) // not invited yet when the group syncs
	grp, err := e.svc.CreateGroup(e.ctx, "scim:test", connector.Group{DisplayName: "Engineers", Members: []string{a.ID, b.ID}})
	if err != nil {
		t.Fatal(err)
	}
	e.drain()
	grp, err = e.store.GetGroup(e.ctx, grp.ID)
	if err != nil || grp.EntraID == "" {
		t.Fatalf("entra id not recorded: %+v %v", grp, err)
	}
	ga, gb := e.user(a.ID).Onboarding.GuestID, e.user(b.ID).Onboarding.GuestID
	if !e.dir.member(grp.EntraID, ga) || !e.dir.member(grp.EntraID, gb) {
		t.Errorf("memberships: a %v b %v", e.dir.member(grp.EntraID, ga), e.dir.member(grp.EntraID, gb))
	}
	if _, err := e.svc.UpdateGroup(e.ctx, "scim:test", grp.ID, nil, func(g *connector.Group) error {
		g.Members = []string{b.ID}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if e.dir.member(grp.EntraID, ga) || !e.dir.member(grp.EntraID, gb) {
		t.Errorf("after removing a: a %v b %v", e.dir.member(grp.EntraID, ga), e.dir.member(grp.EntraID, gb))
	}
	if e.dir.count("createGroup") != 1 {
		t.Errorf("createGroup called %d times", e.dir.count("createGroup"))
	}

	ops, err := e.svc.CreateGroup(e.ctx, "scim:test", connector.Group{DisplayName: "Ops", Members: []string{a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	e.drain()
	if ops, _ = e.store.GetGroup(e.ctx, ops.ID); ops.EntraID != "entra-ops" || !e.dir.member("entra-ops", ga) || e.dir.count("createGroup") != 1 {
		t.Errorf("mapped group: %+v", ops)
	}
}
