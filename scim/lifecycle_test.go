package scim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/scim"
)

// The lifecycle attributes of the onboarding extension: accountType and
// lifecycleHold (readWrite), resendInvitation (writeOnly), and the readOnly
// remindersSent, lastReminderAt, terminatedAt, lastSignInAt, disabledReason.

func tpPatch(attr string, value any) map[string]any {
	return map[string]any{"schemas": []string{patchURN}, "Operations": []any{
		map[string]any{"op": "replace", "path": scim.URNTechPass + ":" + attr, "value": value}}}
}

func TestLifecycleAttributes(t *testing.T) {
	invited := time.Date(2025, 7, 1, 1, 0, 0, 0, time.UTC)
	clock := testkit.NewClock(invited.Add(3 * time.Hour))
	e := newEnv(t, connector.Options{Clock: clock, Lifecycle: connector.LifecycleOptions{ResendMinInterval: 24 * time.Hour}})

	// accountType: validated, returned.
	r := e.do("POST", "/scim/v2/Users", userBody("ann@agency.gov.sg", map[string]any{scim.URNTechPass: map[string]any{"accountType": "contractor"}}))
	if r.status != 400 || !strings.Contains(string(r.body), "accountType") || !strings.Contains(string(r.body), "invalidValue") ||
		!strings.Contains(string(r.body), "public_officer") {
		t.Fatalf("accountType contractor: %d %s", r.status, r.body)
	}
	u := createUser(t, e, "ann@agency.gov.sg", map[string]any{scim.URNTechPass: map[string]any{"accountType": "vendor"}})
	id := fmt.Sprint(u["id"])
	if tp, _ := u[scim.URNTechPass].(map[string]any); tp["accountType"] != "vendor" {
		t.Fatalf("accountType not returned: %v", tp)
	}

	// lifecycleHold over SCIM: set, kept by a PATCH of something else, cleared.
	if r := e.do("PATCH", "/scim/v2/Users/"+id, tpPatch("lifecycleHold", "training account")); r.status != 200 {
		t.Fatalf("PATCH lifecycleHold: %d %s", r.status, r.body)
	}
	if r := e.do("PATCH", "/scim/v2/Users/"+id, tpPatch("seedRequested", false)); r.status != 200 {
		t.Fatalf("PATCH seedRequested: %d %s", r.status, r.body)
	}
	got := e.do("GET", "/scim/v2/Users/"+id, nil).json(t)
	if tp, _ := got[scim.URNTechPass].(map[string]any); tp["lifecycleHold"] != "training account" || tp["accountType"] != "vendor" {
		t.Fatalf("after PATCHes: %v", tp)
	}
	evs, err := e.store.ListEvents(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	held := false
	for _, ev := range evs {
		held = held || (ev.Type == connector.EventLifecycleHoldSet && ev.Actor == "scim:techbiz")
	}
	if !held {
		t.Errorf("no lifecycle.holdSet event by scim:techbiz: %+v", evs)
	}
	if r := e.do("PATCH", "/scim/v2/Users/"+id, tpPatch("lifecycleHold", "")); r.status != 200 {
		t.Fatalf("clear lifecycleHold: %d %s", r.status, r.body)
	}

	// resendInvitation: queued invitation → 400; invited 3h ago → 400 with
	// the time it is allowed; after 24h → a new invitation.
	if r := e.do("PATCH", "/scim/v2/Users/"+id, tpPatch("resendInvitation", true)); r.status != 400 || !strings.Contains(string(r.body), "queued") {
		t.Fatalf("resend before the invitation: %d %s", r.status, r.body)
	}
	last := invited.Add(-48 * time.Hour)
	if _, err := e.store.UpdateUser(context.Background(), id, func(u *connector.User) (connector.Change, error) {
		u.Onboarding.GuestID, u.Onboarding.InvitedAt = "guest-1", &invited
		u.Onboarding.State, u.Onboarding.RemindersSent, u.Onboarding.LastReminderAt = connector.StateInvited, 2, &last
		return connector.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	before, _, _ := e.store.JobStats(context.Background())
	r = e.do("PATCH", "/scim/v2/Users/"+id, tpPatch("resendInvitation", true))
	if r.status != 400 || !strings.Contains(string(r.body), "resendInvitation") || !strings.Contains(string(r.body), "2025-07-02T01:00:00Z") {
		t.Fatalf("resend too soon: %d %s", r.status, r.body)
	}
	if after, _, _ := e.store.JobStats(context.Background()); after != before {
		t.Fatalf("a refused resend queued %d jobs", after-before)
	}
	clock.Set(invited.Add(24 * time.Hour))
	r = e.do("PATCH", "/scim/v2/Users/"+id, tpPatch("resendInvitation", "True"))
	if r.status != 200 {
		t.Fatalf("resend after 24h: %d %s", r.status, r.body)
	}
	if after, _, _ := e.store.JobStats(context.Background()); after != before+1 {
		t.Errorf("resend queued %d jobs, want 1", after-before)
	}
	if strings.Contains(string(r.body), "resendInvitation") {
		t.Errorf("writeOnly resendInvitation returned: %s", r.body)
	}

	// readOnly attributes.
	if _, err := e.store.UpdateUser(context.Background(), id, func(u *connector.User) (connector.Change, error) {
		u.Onboarding.RemindersSent, u.Onboarding.LastReminderAt, u.Onboarding.TerminatedAt = 3, &last, &invited
		u.Onboarding.LastSignInAt, u.Onboarding.DisabledReason = &last, connector.DisabledExpired
		return connector.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	tp, _ := e.do("GET", "/scim/v2/Users/"+id, nil).json(t)[scim.URNTechPass].(map[string]any)
	if tp["remindersSent"] != float64(3) || tp["lastReminderAt"] != "2025-06-29T01:00:00Z" || tp["terminatedAt"] != "2025-07-01T01:00:00Z" ||
		tp["lastSignInAt"] != "2025-06-29T01:00:00Z" || tp["disabledReason"] != "expired" {
		t.Errorf("readOnly lifecycle attributes: %v", tp)
	}
	s := e.do("GET", "/scim/v2/Schemas/"+scim.URNTechPass, nil)
	for _, a := range []string{"accountType", "lifecycleHold", "resendInvitation", "remindersSent", "lastReminderAt", "terminatedAt", "lastSignInAt", "disabledReason"} {
		if !strings.Contains(string(s.body), `"`+a+`"`) {
			t.Errorf("schema lacks %s", a)
		}
	}
}
