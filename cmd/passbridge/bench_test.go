package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The bench command runs every scenario end to end at toy sizes. The real
// figures (BENCHMARKS.md) take minutes; this only proves the command works.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and a load generator; skipped with -short")
	}
	var out, errw bytes.Buffer
	args := []string{"--scenarios", "scim,invite,reconcile", "--users", "50", "--conns", "4",
		"--duration", "300ms", "--warmup", "100ms", "--invites", "20", "--reconcile-users", "400",
		"--sim-guests", "100", "--changed", "0.05", "--latency", "1ms", "--interval", "1s", "--dir", t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := run(ctx, append([]string{"bench"}, args...), &out, &errw, nil); code != 0 {
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errw.String())
	}
	for _, want := range []string{"GET filter userName eq", "GET by id", "POST create (durable)", "### Invitations", "### Reconcile", "| redeem | redeemed |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, line := range strings.Split(out.String(), "\n") {
		// No load phase may see a wrong answer.
		if strings.HasPrefix(line, "| 50 |") && !strings.Contains(line, "| 0 |") {
			t.Errorf("errors in %s", line)
		}
	}
}

func TestBenchFlags(t *testing.T) {
	var out, errw bytes.Buffer
	for _, args := range [][]string{{"--db", "mysql"}, {"--scenarios", "nope"}, {"--users", "x"}, {"--conns", "0"}} {
		if code := run(context.Background(), append([]string{"bench"}, args...), &out, &errw, nil); code != 2 {
			t.Errorf("bench %v: exit %d, want 2", args, code)
		}
	}
}
