package graph_test

import (
	"testing"
	"time"

	"github.com/passbridge/passbridge/graph"
)

// The facts the provenance check needs (userType, creationType,
// createdDateTime) come back from the lookup by e-mail and the $batch read.
func TestProvenanceFields(t *testing.T) {
	f := setup(t, graph.Options{})
	guest, err := f.sim.AddGuest("elsewhere@agency.gov.sg", "")
	if err != nil {
		t.Fatal(err)
	}
	member, err := f.sim.AddMember("staff@agency.gov.sg", "")
	if err != nil {
		t.Fatal(err)
	}
	now := f.sim.Now()
	g, err := f.client.FindGuestByEmail(ctx, "elsewhere@agency.gov.sg")
	if err != nil || g.ID != guest || g.UserType != "Guest" || g.CreationType != "Invitation" ||
		g.Created == nil || !g.Created.Before(now.Add(-30*time.Minute)) {
		t.Fatalf("guest invited elsewhere: %+v %v", g, err)
	}
	m, err := f.client.FindGuestByEmail(ctx, "staff@agency.gov.sg")
	if err != nil || m.ID != member || m.UserType != "Member" || m.CreationType != "" {
		t.Fatalf("member: %+v %v", m, err)
	}
	rs, err := f.client.GetGuests(ctx, []string{guest, member})
	if err != nil {
		t.Fatal(err)
	}
	if r := rs[guest]; r.Err != nil || r.Guest.UserType != "Guest" || r.Guest.CreationType != "Invitation" || r.Guest.Created == nil {
		t.Errorf("batch guest: %+v", r)
	}
	if r := rs[member]; r.Err != nil || r.Guest.UserType != "Member" || r.Guest.Created == nil {
		t.Errorf("batch member: %+v", r)
	}
}
