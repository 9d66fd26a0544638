package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph/graphsim"
)

// The lifecycle rules end to end, through HTTP against the Graph
// simulator, with the configuration's defaults, on a test clock shared by
// passbridge and the simulator: without mail.smtp a reminder invites again
// through Graph; a resend too soon is a 400 naming the time; inactivity
// from signInActivity disables at day 90.
func TestE2ELifecycle(t *testing.T) {
	// The SCIM service keeps the real clock (tweak reaches the worker and the
	// reconciler): the test clock runs with the real one, moved on by Set.
	clk := &offsetClock{}
	s := newStack(t, []graphsim.Option{graphsim.WithClock(clk.Now)}, func(_ *config.Config, o *connector.Options) { o.Clock = clk })
	const email = "lena@tech.gov.sg"
	id := s.create(email)
	u := s.waitState(id, connector.StateInvited)
	inv, _ := time.Parse(time.RFC3339, ext(u)["invitedAt"].(string))

	patch := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"%s:resendInvitation","value":true}]}`,
		"urn:ietf:params:scim:schemas:extension:techpass:2.0:User")
	st, m := s.do("PATCH", "/Users/"+id, patch)
	// invitedAt is shown to the second, the time allowed rounded up to it.
	want, want1 := inv.Add(24*time.Hour).Format(time.RFC3339), inv.Add(24*time.Hour+time.Second).Format(time.RFC3339)
	detail, _ := m["detail"].(string)
	if st != 400 || m["scimType"] != "invalidValue" || !(strings.Contains(detail, want) || strings.Contains(detail, want1)) {
		t.Fatalf("resend too soon: %d %v, want 400 invalidValue naming %s", st, m, want)
	}

	clk.Set(inv.Add(23 * 24 * time.Hour))
	s.wait(id, "reminded", 20*time.Second, func(u map[string]any) bool { return ext(u)["remindersSent"] == float64(1) })
	waitSim(t, "the reminder's invitation through Graph", func() bool { return s.sim.InvitationCount(email) == 2 })

	// Onboard, sign in, then nothing for 90 days.
	if err := s.sim.Redeem(email); err != nil {
		t.Fatal(err)
	}
	if err := s.sim.RegisterMFA(email, ""); err != nil {
		t.Fatal(err)
	}
	for _, ag := range demoAgreements {
		if err := s.sim.AcceptAgreement(email, ag.ID, ag.Name); err != nil {
			t.Fatal(err)
		}
	}
	u = s.waitState(id, connector.StateOnboarded)
	if err := s.sim.SetLastSignIn(email, time.Time{}); err != nil {
		t.Fatal(err)
	}
	signedIn := clk.Now()
	clk.Set(signedIn.Add(7 * time.Hour)) // the next sign-in sweep
	s.wait(id, "lastSignInAt read", 20*time.Second, func(u map[string]any) bool {
		return ext(u)["lastSignInAt"] == signedIn.UTC().Truncate(time.Second).Format(time.RFC3339)
	})
	clk.Set(signedIn.Add(90 * 24 * time.Hour))
	u = s.waitState(id, connector.StateInactive)
	if ext(u)["disabledReason"] != "inactivity" || u["active"] != true {
		t.Errorf("inactive: %v", u)
	}
	waitSim(t, "the guest disabled in the tenant", func() bool {
		g, ok := s.sim.User(email)
		return ok && !g.AccountEnabled
	})
}

// offsetClock is the real time moved on by Set (a frozen test clock would
// never reach the jobs the real-time SCIM service queues).
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.off)
}

func (c *offsetClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := time.Until(t); d > c.off {
		c.off = d
	}
}
