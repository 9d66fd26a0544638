package graphsim_test

import (
	"bytes"
	"testing"
)

// The control API sets a person's last sign-in; GET /users/{id} and GET
// /users serve it with $select=signInActivity; a tenant without P1 is 403.
func TestSignInActivityControl(t *testing.T) {
	e := newEnv(t)
	post := e.post
	id := e.mustInvite("a@agency.gov.sg")
	r := e.do("GET", "/v1.0/users/"+id+"?$select=id,signInActivity", nil)
	sa, _ := r.body["signInActivity"].(map[string]any)
	if r.status != 200 || sa == nil || sa["lastSuccessfulSignInDateTime"] != nil {
		t.Fatalf("before a sign-in: %d %s", r.status, r.raw)
	}
	if st := post("/_sim/signin", map[string]string{"email": "a@agency.gov.sg", "at": "2025-03-04T05:06:07Z"}); st != 204 {
		t.Fatalf("POST /_sim/signin: %d", st)
	}
	r = e.do("GET", "/v1.0/users/"+id+"?$select=id,signInActivity", nil)
	sa, _ = r.body["signInActivity"].(map[string]any)
	if sa["lastSuccessfulSignInDateTime"] != "2025-03-04T05:06:07Z" {
		t.Errorf("after a sign-in: %s", r.raw)
	}
	if r := e.do("GET", "/v1.0/users/"+id, nil); bytes.Contains(r.raw, []byte("signInActivity")) {
		t.Errorf("signInActivity returned without $select: %s", r.raw)
	}
	if st := post("/_sim/signin", map[string]string{"email": "nobody@agency.gov.sg"}); st != 404 {
		t.Errorf("sign-in of nobody: %d", st)
	}
	if st := post("/_sim/signInActivity", map[string]bool{"available": false}); st != 204 {
		t.Fatalf("POST /_sim/signInActivity: %d", st)
	}
	for _, p := range []string{"/v1.0/users/" + id + "?$select=id,signInActivity", "/v1.0/users?$select=id,signInActivity"} {
		if r := e.do("GET", p, nil); r.status != 403 || !bytes.Contains(r.raw, []byte("Authentication_RequestFromNonPremiumTenantOrB2CTenant")) {
			t.Errorf("without P1 %s: %d %s", p, r.status, r.raw)
		}
	}
}
