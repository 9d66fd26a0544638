package scim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/scim"
)

// After PATCH active=false the resource does not say "disabled" until the
// worker recorded Graph's confirmation: the state stays what it was and the
// readOnly extension attribute deprovisionPending is true. Before, it said
// "disabled" at once.
func TestDisablePendingUntilConfirmed(t *testing.T) {
	e := newEnv(t, connector.Options{})
	u := createUser(t, e, "pending@agency.gov.sg", nil)
	id := fmt.Sprint(u["id"])
	// The worker invited the user (no worker runs in these tests).
	invited := time.Date(2025, 7, 1, 1, 0, 0, 0, time.UTC)
	if _, err := e.store.UpdateUser(context.Background(), id, func(u *connector.User) (connector.Change, error) {
		u.Onboarding.GuestID, u.Onboarding.InvitedAt = "guest-1", &invited
		u.Onboarding.State = connector.StateInvited
		return connector.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	r := e.do("PATCH", "/scim/v2/Users/"+id, map[string]any{"schemas": []string{patchURN}, "Operations": []any{
		map[string]any{"op": "replace", "path": "active", "value": false}}})
	if r.status != 200 {
		t.Fatalf("PATCH active=false: %d %s", r.status, r.body)
	}
	for _, got := range []map[string]any{r.json(t), e.do("GET", "/scim/v2/Users/"+id, nil).json(t)} {
		tp, _ := got[scim.URNTechPass].(map[string]any)
		if got["active"] != false || tp["onboardingState"] != "invited" || tp["deprovisionPending"] != true {
			t.Errorf("while Graph has not confirmed: active %v, onboardingState %v, deprovisionPending %v; want false, invited, true",
				got["active"], tp["onboardingState"], tp["deprovisionPending"])
		}
	}
	// The worker records Graph's confirmation.
	if _, err := e.store.UpdateUser(context.Background(), id, func(u *connector.User) (connector.Change, error) {
		u.Onboarding.Disabled = true
		u.Onboarding.State = connector.Derive(*u, invited, nil)
		return connector.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	got := e.do("GET", "/scim/v2/Users/"+id, nil).json(t)
	tp, _ := got[scim.URNTechPass].(map[string]any)
	if _, ok := tp["deprovisionPending"]; ok || tp["onboardingState"] != "disabled" {
		t.Errorf("after confirmation: onboardingState %v, deprovisionPending %v; want disabled, absent", tp["onboardingState"], tp["deprovisionPending"])
	}
	if s := e.do("GET", "/scim/v2/Schemas/"+scim.URNTechPass, nil); s.status != 200 || !strings.Contains(string(s.body), `"deprovisionPending"`) {
		t.Errorf("schema does not describe deprovisionPending: %d %s", s.status, s.body)
	}
}
