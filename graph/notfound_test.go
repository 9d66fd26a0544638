package graph_test

import (
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/graph/graphsim"
)

// A write that takes access away counts the object as already gone only on
// Request_ResourceNotFound: Directory_ObjectNotFound right after an
// invitation is replication lag, and a 404 with another code is retried.
// Before, DeleteUser and RemoveGroupMember returned nil for any 404.
func TestDeprovisionNotFoundIsOnlyResourceNotFound(t *testing.T) {
	f := setup(t, graph.Options{MaxRetries: 1}, graphsim.WithReplicationLag(time.Hour))
	r, err := f.client.Invite(ctx, invitation("lag@agency.gov.sg"))
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"disable": f.client.SetAccountEnabled(ctx, r.GuestID, false),
		"revoke":  f.client.RevokeSessions(ctx, r.GuestID),
	} {
		if de := dirErr(t, err); de.Class != connector.Transient || de.Code != "Directory_ObjectNotFound" {
			t.Errorf("%s during replication lag: %+v, want Transient Directory_ObjectNotFound", name, de)
		}
	}

	f.sim.InjectFault(graphsim.Fault{Route: "DELETE /users/{id}", Status: 404})
	if err := f.client.DeleteUser(ctx, r.GuestID); err == nil || connector.ClassOf(err) != connector.Transient {
		t.Errorf("DeleteUser with a 404 that is not Request_ResourceNotFound = %v, want a Transient error", err)
	}
	if u, ok := f.sim.User(r.GuestID); !ok || u.Deleted {
		t.Fatalf("guest deleted by a refused call")
	}
	gid, err := f.client.CreateGroup(ctx, "g", "g")
	if err != nil {
		t.Fatal(err)
	}
	f.sim.InjectFault(graphsim.Fault{Route: "DELETE /groups/{id}/members/{memberId}/$ref", Status: 404})
	if err := f.client.RemoveGroupMember(ctx, gid, r.GuestID); err == nil || connector.ClassOf(err) != connector.Transient {
		t.Errorf("RemoveGroupMember with a 404 that is not Request_ResourceNotFound = %v, want a Transient error", err)
	}
	f.sim.ClearFaults()

	// Graph's own "does not exist" is still "already gone".
	if err := f.client.DeleteUser(ctx, "00000000-0000-0000-0000-000000000000"); err != nil {
		t.Errorf("DeleteUser of a missing guest: %v", err)
	}
	err = f.client.SetAccountEnabled(ctx, "00000000-0000-0000-0000-000000000000", false)
	if de := dirErr(t, err); de.Class != connector.NotFound || de.Code != "Request_ResourceNotFound" {
		t.Errorf("disable missing: %+v", de)
	}
}
