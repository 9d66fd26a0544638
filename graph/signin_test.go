package graph_test

import (
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph"
)

// signInActivity through $batch against the simulator, and a tenant
// without Entra ID P1 answering 403 for the whole call.
func TestSignInActivity(t *testing.T) {
	f := setup(t, graph.Options{})
	var ids []string
	for _, e := range []string{"a@agency.gov.sg", "b@agency.gov.sg"} {
		r, err := f.client.Invite(ctx, invitation(e))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.GuestID)
	}
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := f.sim.SetLastSignIn(ids[0], at); err != nil {
		t.Fatal(err)
	}
	got, err := f.client.SignInActivity(ctx, append(ids, "00000000-0000-0000-0000-000000000000"))
	if err != nil {
		t.Fatal(err)
	}
	if r := got[ids[0]]; r.Err != nil || r.LastSuccessfulSignIn == nil || !r.LastSuccessfulSignIn.Equal(at) {
		t.Errorf("signed in: %+v", r)
	}
	if r := got[ids[1]]; r.Err != nil || r.LastSuccessfulSignIn != nil {
		t.Errorf("never signed in: %+v", r)
	}
	if r := got["00000000-0000-0000-0000-000000000000"]; r.Err == nil || connector.ClassOf(r.Err) != connector.NotFound {
		t.Errorf("unknown user: %+v", r)
	}

	f.sim.SetSignInActivityAvailable(false)
	_, err = f.client.SignInActivity(ctx, ids)
	if connector.ClassOf(err) != connector.Permanent {
		t.Fatalf("without P1: %v, want a permanent error for the call", err)
	}
	if de := dirErr(t, err); de.Status != 403 || de.Permission == "" {
		t.Errorf("without P1: %+v", de)
	}
}
