package storetest

import (
	"context"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

func owned(u connector.User, by string) connector.User {
	u.CreatedBy = by
	return u
}

// testUserCreatedBy: the creating client is stored with the user, survives
// every update unchanged, and narrows lists in the query itself, so that
// totals and pages count only that client's users.
func testUserCreatedBy(t *testing.T, s connector.Store) {
	ctx := context.Background()
	tb := mustCreateUser(t, s, owned(newUser("tb1@agency.gov.sg"), "techbiz"))
	var portal []connector.User
	for _, n := range []string{"p1@agency.gov.sg", "p2@agency.gov.sg", "p3@agency.gov.sg"} {
		portal = append(portal, mustCreateUser(t, s, owned(newUser(n), "portal")))
	}
	legacy := mustCreateUser(t, s, newUser("old@agency.gov.sg"))

	if got := mustGetUser(t, s, tb.ID).CreatedBy; got != "techbiz" {
		t.Errorf("CreatedBy after create = %q, want techbiz", got)
	}
	if got := mustGetUser(t, s, legacy.ID).CreatedBy; got != "" {
		t.Errorf("CreatedBy of a user created without one = %q", got)
	}
	upd, err := s.UpdateUser(ctx, tb.ID, func(u *connector.User) (connector.Change, error) {
		u.CreatedBy = "portal" // an update never changes the owner
		u.Active = false
		return connector.Change{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if upd.CreatedBy != "techbiz" || mustGetUser(t, s, tb.ID).CreatedBy != "techbiz" {
		t.Errorf("CreatedBy after an update = %q / %q, want techbiz", upd.CreatedBy, mustGetUser(t, s, tb.ID).CreatedBy)
	}

	own := connector.Eq(connector.AttrCreatedBy, "portal")
	page, err := s.ListUsers(ctx, connector.Query{Filter: own, Count: 2})
	if err != nil || page.Total != 3 || len(page.Items) != 2 {
		t.Fatalf("portal's first page: total %d, %d items, %v; want 3, 2", page.Total, len(page.Items), err)
	}
	page2, err := s.ListUsers(ctx, connector.Query{Filter: own, StartIndex: 3, Count: 2})
	if err != nil || page2.Total != 3 || len(page2.Items) != 1 {
		t.Fatalf("portal's second page: total %d, %d items, %v; want 3, 1", page2.Total, len(page2.Items), err)
	}
	seen := map[string]bool{}
	for _, u := range append(page.Items, page2.Items...) {
		if u.CreatedBy != "portal" {
			t.Errorf("portal's list holds %s created by %q", u.UserName, u.CreatedBy)
		}
		seen[u.ID] = true
	}
	for _, u := range portal {
		if !seen[u.ID] {
			t.Errorf("portal's list lacks %s", u.UserName)
		}
	}
	// Combined with a client's filter: another client's user does not match.
	page, err = s.ListUsers(ctx, connector.Query{Filter: connector.And(own, connector.Eq(connector.AttrUserName, "TB1@agency.gov.sg")), Count: 10})
	if err != nil || page.Total != 0 || len(page.Items) != 0 {
		t.Errorf("portal's filter on techbiz's userName: total %d, %+v, %v; want none", page.Total, page.Items, err)
	}
	page, err = s.ListUsers(ctx, connector.Query{Filter: connector.And(own, connector.Eq(connector.AttrUserName, "p2@agency.gov.sg")), Count: 10})
	if err != nil || page.Total != 1 || len(page.Items) != 1 || page.Items[0].ID != portal[1].ID {
		t.Errorf("portal's filter on its own userName: total %d, %+v, %v", page.Total, page.Items, err)
	}
	page, err = s.ListUsers(ctx, connector.Query{Filter: connector.Eq(connector.AttrCreatedBy, ""), Count: 10})
	if err != nil || page.Total != 1 || page.Items[0].ID != legacy.ID {
		t.Errorf("users without an owner: total %d, %+v, %v; want the one created without", page.Total, page.Items, err)
	}
}
