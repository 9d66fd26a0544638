package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passbridge/passbridge/graph/graphsim"
)

// postgresURL returns a URL to a fresh schema of the test database, dropped
// after the test. Outside CI the test skips without PASSBRIDGE_TEST_POSTGRES.
func postgresURL(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	base := os.Getenv("PASSBRIDGE_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PASSBRIDGE_TEST_POSTGRES is not set in CI")
		}
		t.Skip("PASSBRIDGE_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", base, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pb_replica_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), conn
}

// Two "passbridge serve" processes on one PostgreSQL and one simulated
// tenant: sign-ups through both are each invited exactly once; when the
// replica holding the reconciler is killed, the other takes the role over
// within two lease periods and goes on mirroring the tenant; no user is lost.
func TestTwoReplicasOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dbURL, conn := postgresURL(t)
	sim, simSrv := graphsim.Start(graphsim.WithSeed(5))
	defer simSrv.Close()
	dir := t.TempDir()
	const lease = 3 * time.Second
	extra := "reconcile:\n  interval: 1s\n  lease: 3s\nworker:\n  lease: 10s\n"
	var procs [2]*proc
	for i := range procs {
		listen := freeAddr(t)
		cfgPath, token := writeConfig(t, dir, listen, dbURL, simSrv.URL, extra)
		procs[i] = startProc(t, cfgPath, listen, token, sim, simSrv.URL)
	}

	const n = 500
	ctx := context.Background()
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				p := procs[i%2]
				m, err := scimDo(ctx, "POST", p.base+"/Users", p.token, userBody(fmt.Sprintf("rep%03d@tech.gov.sg", i), false))
				if err != nil {
					errs <- err
					return
				}
				ids[i] = m["id"].(string)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}
	waitCount := func(p *proc, filter string, want int, limit time.Duration) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			m, err := scimDo(ctx, "GET", p.base+"/Users?count=0&filter="+url.QueryEscape(filter), p.token, "")
			if err == nil && m["totalResults"] == float64(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v (want %d), %v", filter, m["totalResults"], want, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitCount(procs[1], `onboardingState eq "invited"`, n, 2*time.Minute)
	stats := sim.Stats()
	for i := 0; i < n; i++ {
		if c := stats.InvitationsByEmail[fmt.Sprintf("rep%03d@tech.gov.sg", i)]; c != 1 {
			t.Errorf("rep%03d invited %d times", i, c)
		}
	}

	holder := func() string {
		var h string
		if err := conn.QueryRow(ctx, "SELECT holder FROM "+searchPath(dbURL)+".leases WHERE name = 'reconciler' AND until > now()").Scan(&h); err != nil {
			return ""
		}
		return h
	}
	owner := -1
	for deadline := time.Now().Add(10 * time.Second); owner < 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		h := holder()
		for i, p := range procs {
			if strings.Contains(h, fmt.Sprintf("-%d-", p.cmd.Process.Pid)) {
				owner = i
			}
		}
	}
	if owner < 0 {
		t.Fatalf("no replica holds the reconciler lease (holder %q)", holder())
	}
	other := procs[1-owner]
	killedAt := time.Now()
	procs[owner].kill(syscall.SIGKILL)
	var took time.Duration
	for {
		if strings.Contains(holder(), fmt.Sprintf("-%d-", other.cmd.Process.Pid)) {
			took = time.Since(killedAt)
			break
		}
		if time.Since(killedAt) > 4*lease {
			t.Fatalf("the surviving replica did not take the reconciler over in %s (holder %q)", 4*lease, holder())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("reconciler taken over %s after the holder was killed (lease %s)", took.Round(10*time.Millisecond), lease)
	if took > 2*lease {
		t.Errorf("takeover took %s, more than two lease periods (%s)", took, 2*lease)
	}
	// The survivor mirrors the tenant: ten people redeem their invitations.
	for i := 0; i < 10; i++ {
		if err := sim.Redeem(fmt.Sprintf("rep%03d@tech.gov.sg", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitCount(other, `onboardingState eq "redeemed"`, 10, time.Minute)
	waitCount(other, `userName pr`, n, 10*time.Second)
	other.kill(syscall.SIGTERM)
}

func searchPath(dbURL string) string {
	u, _ := url.Parse(dbURL)
	return pgx.Identifier{u.Query().Get("search_path")}.Sanitize()
}
