package connector_test

import (
	"fmt"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

// OwnedUsers answers for more ids than one query names (chunked), leaves out
// other owners', unowned and missing ids, and owns nothing for owner "".
func TestOwnedUsersChunksAndFilters(t *testing.T) {
	e := newEnv(t)
	var ids []string
	mine := map[string]bool{}
	for i := 0; i < 120; i++ {
		u := newUser(fmt.Sprintf("u%03d@agency.gov.sg", i), false)
		switch i % 3 {
		case 0:
			u.CreatedBy = "portal"
		case 1:
			u.CreatedBy = "techbiz"
		}
		created, err := e.store.CreateUser(e.ctx, u, connector.Change{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, created.ID)
		if i%3 == 0 {
			mine[created.ID] = true
		}
	}
	ids = append(ids, "no-such-user", ids[0]) // a missing id, a repeat
	got, err := e.svc.OwnedUsers(e.ctx, "portal", ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(mine) {
		t.Errorf("%d owned, want %d", len(got), len(mine))
	}
	for id := range mine {
		if !got[id] {
			t.Errorf("%s not reported owned", id)
		}
	}
	if none, err := e.svc.OwnedUsers(e.ctx, "", ids); err != nil || len(none) != 0 {
		t.Errorf("owner \"\": %v, %v", none, err)
	}
}
