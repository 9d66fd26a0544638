package scim_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/scim"
)

// Issue 11: thirty wrong tokens from one address, then the valid token from
// the same address is served; the failing client still gets 429.
func TestAuthLimitNeverRefusesValidToken(t *testing.T) {
	const tok = "sec-token-valid-0123456789abcdef"
	clk := testkit.NewClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	e := newSecEnv(t, tok, func(o *scim.Options) { o.AuthLimit.Clock = clk })
	const addr = "192.0.2.77:4000"
	for i := range 30 {
		e.from(addr, fmt.Sprintf("Bearer wrong-%d", i))
	}
	for i := range 5 {
		if w := e.from(addr, "Bearer "+tok); w.Code != 200 {
			t.Fatalf("valid token %d after 30 failures from its address: %d, want 200: %s", i, w.Code, w.Body)
		}
	}
	w := e.from(addr, "Bearer wrong-again")
	ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if w.Code != 429 || err != nil || ra < 1 || ra > 60 {
		t.Fatalf("the failing client: %d, Retry-After %q; want 429 with 1..60", w.Code, w.Header().Get("Retry-After"))
	}
	// Another address is not affected.
	if w := e.from("198.51.100.9:1", "Bearer wrong-elsewhere"); w.Code != 401 {
		t.Fatalf("a wrong token from another address: %d, want 401", w.Code)
	}
}

// Behind a load balancer missing from server.trustedProxies every client
// shares the balancer's address: a flood of failures through it still
// never locks out the valid client behind the same balancer.
func TestAuthLimitUntrustedBalancer(t *testing.T) {
	const tok = "sec-token-balancer-0123456789ab"
	clk := testkit.NewClock(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	e := newSecEnv(t, tok, func(o *scim.Options) { o.AuthLimit.Clock = clk })
	for i := range 50 {
		e.req("GET", "/scim/v2/Users", fmt.Sprintf("Bearer attacker-%d", i), nil, "X-Forwarded-For", "203.0.113.66")
	}
	if r := e.req("GET", "/scim/v2/Users", "Bearer "+tok, nil, "X-Forwarded-For", "203.0.113.10"); r.status != 200 {
		t.Fatalf("the valid client behind the balancer: %d, want 200: %s", r.status, r.body)
	}
	if r := e.req("GET", "/scim/v2/Users", "Bearer attacker-x", nil, "X-Forwarded-For", "203.0.113.66"); r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("the failing client behind the balancer: %d (Retry-After %q), want 429", r.status, r.header.Get("Retry-After"))
	}
}
