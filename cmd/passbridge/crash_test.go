package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/passbridge/passbridge/graph/graphsim"
)

// crashBound is well below the leases a dead process used to leave behind
// (worker.lease 2m, reconcile.lease 5m).
const crashBound = 45 * time.Second

// After kill -9 the restarted "passbridge serve" takes up the jobs the dead
// one had claimed and the reconciler role it held at once, not after their
// leases: the invitations the dead worker was sending go out within seconds
// of the restart (issue 10), and a redemption made in the tenant is
// mirrored within about one reconcile.interval (issue 16). worker.lease and
// reconcile.lease keep their defaults (2m, 5m). On SQLite the restarted
// process knows it is alone (lock file) and frees the leases at start; on
// PostgreSQL they are short and run out within about 15 s.
func TestCrashRecoveryTimes(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		crashRecovery(t, dir, "sqlite:"+filepath.Join(dir, "pb.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		dbURL, _ := postgresURL(t)
		crashRecovery(t, t.TempDir(), dbURL)
	})
}

func crashRecovery(t *testing.T, dir, dbURL string) {
	sim, simSrv := graphsim.Start(graphsim.WithSeed(17))
	defer simSrv.Close()
	listen := freeAddr(t)
	cfgPath, token := writeConfig(t, dir, listen, dbURL, simSrv.URL, "reconcile:\n  interval: 1s\n")
	p := startProc(t, cfgPath, listen, token, sim, simSrv.URL)
	ctx := context.Background()

	count := func(p *proc, filter string) int {
		m, err := scimDo(ctx, "GET", p.base+"/Users?count=0&filter="+url.QueryEscape(filter), p.token, "")
		if err != nil {
			return -1
		}
		n, _ := m["totalResults"].(float64)
		return int(n)
	}
	waitUntil := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(limit); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, limit)
			}
		}
	}

	// Users invited before the crash, to redeem after it.
	const before = 3
	for i := range before {
		if _, err := scimDo(ctx, "POST", p.base+"/Users", token, userBody(fmt.Sprintf("early%d@tech.gov.sg", i), false)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil("early users invited", 30*time.Second, func() bool { return count(p, `onboardingState eq "invited"`) == before })

	// Graph stops answering invitations: the worker's claimed jobs hang
	// in POST /invitations (nothing is created) when the process dies.
	sim.InjectFault(graphsim.Fault{Route: "POST /invitations", Hang: true})
	const n = 30
	calls0 := sim.Calls("POST /invitations")
	for i := range n {
		if _, err := scimDo(ctx, "POST", p.base+"/Users", token, userBody(fmt.Sprintf("late%02d@tech.gov.sg", i), false)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil("invitations in flight", 30*time.Second, func() bool { return sim.Calls("POST /invitations")-calls0 >= 4 })
	inFlight := sim.Calls("POST /invitations") - calls0
	p.kill(syscall.SIGKILL)
	sim.ClearFaults()

	restart := time.Now()
	if err := sim.Redeem("early0@tech.gov.sg"); err != nil {
		t.Fatal(err)
	}
	p2 := startProc(t, cfgPath, listen, token, sim, simSrv.URL)
	ready := time.Since(restart)

	var redeemedAfter, invitedAfter time.Duration
	for redeemedAfter == 0 || invitedAfter == 0 {
		el := time.Since(restart)
		if redeemedAfter == 0 && count(p2, `onboardingState eq "redeemed"`) == 1 {
			redeemedAfter = el
		}
		if invitedAfter == 0 && count(p2, `onboardingState eq "invited"`)+count(p2, `onboardingState eq "redeemed"`) == before+n {
			invitedAfter = el
		}
		if el > 3*time.Minute {
			t.Fatalf("after %s: redeemed mirrored after %s, all invited after %s (0: not yet)\n%s", el, redeemedAfter, invitedAfter, p2.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s: killed with %d invitations in flight; restart ready after %.1fs; last invitation %.1fs after the restart; first redemption mirrored %.1fs after the restart",
		t.Name(), inFlight, ready.Seconds(), invitedAfter.Seconds(), redeemedAfter.Seconds())
	if invitedAfter > crashBound {
		t.Errorf("last invitation %s after the restart, want under %s", invitedAfter, crashBound)
	}
	if redeemedAfter > crashBound {
		t.Errorf("first redemption mirrored %s after the restart, want under %s", redeemedAfter, crashBound)
	}
	for i := range n {
		email := fmt.Sprintf("late%02d@tech.gov.sg", i)
		if c := sim.InvitationCount(email); c != 1 {
			t.Errorf("%s invited %d times, want 1", email, c)
		}
	}
	p2.kill(syscall.SIGTERM)
}
