package scim_test

import (
	"strings"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

// A group the configuration does not let this client use is a 400 that
// names displayName and says why, not a silently created group.
func TestGroupAccessRefused(t *testing.T) {
	e := newEnv(t, connector.Options{
		GroupMap:            map[string]string{"SEED Users": "5e8c3a1f-2b9d-4f7e-a6c4-1d0b9e8f7a6c"},
		GroupClients:        map[string][]string{"SEED Users": {"portal"}},
		GroupCreateDisabled: true,
	})
	for name, want := range map[string]string{
		"SEED Users": `this client ("techbiz") may not use`,
		"Unmapped":   "groups.create is false",
	} {
		r := e.do("POST", "/scim/v2/Groups", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name})
		b := r.json(t)
		detail, _ := b["detail"].(string)
		if r.status != 400 || b["scimType"] != "invalidValue" || !strings.HasPrefix(detail, "displayName: ") || !strings.Contains(detail, want) {
			t.Errorf("POST /Groups %q: %d %s", name, r.status, r.body)
		}
	}
	if page, _ := e.svc.ListGroups(t.Context(), connector.Query{}); page.Total != 0 {
		t.Errorf("%d groups stored", page.Total)
	}
}
