package connector_test

import (
	"strings"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

// seedTenantGroup puts an existing Entra group, with members passbridge did
// not add (staff, other partners' guests), into the fake tenant.
func (e *env) seedTenantGroup(id string, members ...string) {
	e.dir.mu.Lock()
	defer e.dir.mu.Unlock()
	e.dir.groups[id] = map[string]bool{}
	for _, m := range members {
		e.dir.groups[id][m] = true
	}
}

func wantInputError(t *testing.T, what string, err error, field, detail string) {
	t.Helper()
	ie, ok := connector.IsInputError(err)
	if !ok {
		t.Fatalf("%s: %v, want an InputError", what, err)
	}
	if ie.Field != field || !strings.Contains(ie.Detail, detail) {
		t.Errorf("%s: %s: %s, want field %s and %q", what, ie.Field, ie.Detail, field, detail)
	}
}

// A client that groups.map does not list for a mapped group cannot put
// users into it: not by creating it, not by another case, not by renaming
// its own group onto it, not by changing the members of a group an allowed
// client made. Nothing is created in its place.
func TestGroupMapClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) {
		o.GroupMap = map[string]string{"SEED Users": "entra-seed", "Open": "entra-open"}
		o.GroupClients = map[string][]string{"SEED Users": {"techbiz"}}
	})
	e.seedTenantGroup("entra-seed", "staff-1")
	a := e.signUp("ann@tech.gov.sg", false)
	e.drain()
	ga := e.user(a.ID).Onboarding.GuestID

	for _, name := range []string{"SEED Users", "seed users"} {
		_, err := e.svc.CreateGroup(e.ctx, "scim:portal", connector.Group{DisplayName: name, Members: []string{a.ID}})
		wantInputError(t, "portal creates "+name, err, "displayName", `this client ("portal") may not use`)
	}
	own, err := e.svc.CreateGroup(e.ctx, "scim:portal", connector.Group{DisplayName: "Portal users"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.UpdateGroup(e.ctx, "scim:portal", own.ID, nil, func(g *connector.Group) error {
		g.DisplayName, g.Members = "SEED Users", []string{a.ID}
		return nil
	})
	wantInputError(t, "portal renames onto SEED Users", err, "displayName", "groups.map[SEED Users].clients")

	seed, err := e.svc.CreateGroup(e.ctx, "scim:techbiz", connector.Group{DisplayName: "SEED Users"})
	if err != nil {
		t.Fatalf("techbiz, listed, creates SEED Users: %v", err)
	}
	_, err = e.svc.UpdateGroup(e.ctx, "scim:portal", seed.ID, nil, func(g *connector.Group) error {
		g.Members = []string{a.ID}
		return nil
	})
	wantInputError(t, "portal adds a member to SEED Users", err, "displayName", "may not use")
	// A mapped group without clients stays open to every client.
	if _, err := e.svc.CreateGroup(e.ctx, "scim:portal", connector.Group{DisplayName: "Open", Members: []string{a.ID}}); err != nil {
		t.Errorf("portal creates Open: %v", err)
	}
	e.drain()
	if e.dir.member("entra-seed", ga) || !e.dir.member("entra-seed", "staff-1") {
		t.Errorf("entra-seed: ann %v, staff %v", e.dir.member("entra-seed", ga), e.dir.member("entra-seed", "staff-1"))
	}
	if !e.dir.member("entra-open", ga) {
		t.Error("ann not in the open mapped group")
	}
	if n := e.dir.count("createGroup"); n != 1 { // "Portal users" only
		t.Errorf("createGroup called %d times, want 1", n)
	}
	if g, _ := e.store.GetGroup(e.ctx, seed.ID); g.EntraID != "entra-seed" || g.EntraOrigin != connector.GroupMapped || len(g.Members) != 0 {
		t.Errorf("SEED Users: %+v", g)
	}
	if g, _ := e.store.GetGroup(e.ctx, own.ID); g.EntraOrigin != connector.GroupCreated || g.DisplayName != "Portal users" {
		t.Errorf("Portal users: %+v", g)
	}
}

// groups.create false: an unmapped SCIM group is refused, naming it, and
// nothing is created in the tenant; mapped groups still work.
func TestGroupCreateDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) {
		o.GroupMap = map[string]string{"Ops": "entra-ops"}
		o.GroupCreateDisabled = true
	})
	_, err := e.svc.CreateGroup(e.ctx, "scim:test", connector.Group{DisplayName: "Engineers"})
	wantInputError(t, "create Engineers", err, "displayName", `"Engineers" is not mapped`)
	ops, err := e.svc.CreateGroup(e.ctx, "scim:test", connector.Group{DisplayName: "Ops"})
	if err != nil {
		t.Fatal(err)
	}
	rename := func() error {
		_, err := e.svc.UpdateGroup(e.ctx, "scim:test", ops.ID, nil, func(g *connector.Group) error {
			g.DisplayName = "Ops renamed"
			return nil
		})
		return err
	}
	// Not mirrored yet: the new name would decide, and it is not mapped.
	wantInputError(t, "rename before mirroring", rename(), "displayName", `"Ops renamed" is not mapped`)
	e.drain()
	// Mirrored to entra-ops: a new name does not move it.
	if err := rename(); err != nil {
		t.Errorf("rename a mirrored group: %v", err)
	}
	e.drain()
	if g, _ := e.store.GetGroup(e.ctx, ops.ID); g.EntraID != "entra-ops" {
		t.Errorf("renamed group: %+v", g)
	}
	if n := e.dir.count("createGroup"); n != 0 {
		t.Errorf("createGroup called %d times, want 0", n)
	}
	if page, _ := e.store.ListGroups(e.ctx, connector.Query{Count: 10}); page.Total != 1 {
		t.Errorf("%d groups stored, want 1", page.Total)
	}
}

// DELETE of a group passbridge created deletes the Entra group.
func TestDeleteCreatedGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp("ann@tech.gov.sg", false)
	e.drain()
	g, err := e.svc.CreateGroup(e.ctx, "scim:test", connector.Group{DisplayName: "Engineers", Members: []string{a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	e.drain()
	g, _ = e.store.GetGroup(e.ctx, g.ID)
	if !e.dir.groupExists(g.EntraID) || g.EntraOrigin != connector.GroupCreated {
		t.Fatalf("not mirrored: %+v", g)
	}
	if err := e.svc.DeleteGroup(e.ctx, "scim:test", g.ID, nil); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if e.dir.groupExists(g.EntraID) {
		t.Error("the Entra group passbridge created is still in the tenant")
	}
}

// DELETE of a mapped group removes passbridge's guests from it and leaves
// the group and everyone else in it.
func TestDeleteMappedGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.GroupMap = map[string]string{"Ops": "entra-ops"} })
	e.seedTenantGroup("entra-ops", "staff-1", "partner-guest-2")
	a, b := e.signUp("ann@tech.gov.sg", false), e.signUp("bob@tech.gov.sg", false)
	e.drain()
	g, err := e.svc.CreateGroup(e.ctx, "scim:test", connector.Group{DisplayName: "Ops", Members: []string{a.ID, b.ID}})
	if err != nil {
		t.Fatal(err)
	}
	e.drain()
	ga, gb := e.user(a.ID).Onboarding.GuestID, e.user(b.ID).Onboarding.GuestID
	if !e.dir.member("entra-ops", ga) || !e.dir.member("entra-ops", gb) {
		t.Fatal("not synced")
	}
	if err := e.svc.DeleteGroup(e.ctx, "scim:test", g.ID, nil); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if !e.dir.groupExists("entra-ops") || e.dir.count("deleteGroup") != 0 {
		t.Fatal("the mapped group was deleted")
	}
	if e.dir.member("entra-ops", ga) || e.dir.member("entra-ops", gb) {
		t.Errorf("passbridge's guests still in the mapped group: ann %v bob %v", e.dir.member("entra-ops", ga), e.dir.member("entra-ops", gb))
	}
	if !e.dir.member("entra-ops", "staff-1") || !e.dir.member("entra-ops", "partner-guest-2") {
		t.Error("a member passbridge did not add was removed")
	}
	if n := e.dir.count("removeGroupMember"); n != 2 {
		t.Errorf("removeGroupMember called %d times, want 2", n)
	}
}

// A permanent error on an add does not drop the removals of the same change:
// each removal is its own job and runs before the adds.
func TestGroupRemovalSurvivesFailedAdd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.signUp("ann@tech.gov.sg", false), e.signUp("bob@tech.gov.sg", false)
	e.drain()
	g, err := e.svc.CreateGroup(e.ctx, "scim:test", connector.Group{DisplayName: "Engineers", Members: []string{a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	e.drain()
	g, _ = e.store.GetGroup(e.ctx, g.ID)
	ga := e.user(a.ID).Onboarding.GuestID
	if !e.dir.member(g.EntraID, ga) {
		t.Fatal("not synced")
	}
	e.dir.setFaults(func(op string) error {
		if op == "addGroupMember" {
			return &connector.DirectoryError{Class: connector.Permanent, Op: op, Status: 400, Code: "Request_BadRequest", Message: "injected"}
		}
		return nil
	}, nil)
	if _, err := e.svc.UpdateGroup(e.ctx, "scim:test", g.ID, nil, func(g *connector.Group) error {
		g.Members = []string{b.ID} // ann out, bob in
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if e.dir.member(g.EntraID, ga) {
		t.Error("ann is still in the group: the failed add dropped the removal")
	}
}

// A member removal is deprovisioning: refused far more often than
// worker.maxAttempts allows, it is still retried until Graph confirms.
func TestGroupRemovalNeverGivenUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.Worker.MaxAttempts = 2 })
	a := e.signUp("rem@tech.gov.sg", false)
	e.drain()
	g, err := e.svc.CreateGroup(e.ctx, "scim:test", connector.Group{DisplayName: "Reviewers", Members: []string{a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	e.drain()
	g, _ = e.store.GetGroup(e.ctx, g.ID)
	ga := e.user(a.ID).Onboarding.GuestID
	if !e.dir.member(g.EntraID, ga) {
		t.Fatal("not synced")
	}
	refused := 0
	e.dir.setFaults(func(op string) error {
		if op == "removeGroupMember" && refused < 10 {
			refused++
			return &connector.DirectoryError{Class: connector.Transient, Op: op, Status: 503, Code: "ServiceUnavailable"}
		}
		return nil
	}, nil)
	if _, err := e.svc.UpdateGroup(e.ctx, "scim:test", g.ID, nil, func(g *connector.Group) error {
		g.Members = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if e.dir.member(g.EntraID, ga) || refused != 10 {
		t.Errorf("member still in the group after %d refusals", refused)
	}
}
