package main

import (
	"bytes"
	"context"
	"strconv"
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
	for _, args := range [][]string{{"--db", "mysql"}, {"--scenarios", "nope"}, {"--users", "x"}, {"--conns", "0"}, {"--ops", "delete"}} {
		if code := run(context.Background(), append([]string{"bench"}, args...), &out, &errw, nil); code != 2 {
			t.Errorf("bench %v: exit %d, want 2", args, code)
		}
	}
}

// --preload-queued leaves every preloaded user's invitation queued (the
// worker is off), and --ops create runs only the create phase: the deep
// outbox that issue 14's create measurement needs.
func TestBenchPreloadQueued(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and a load generator; skipped with -short")
	}
	var out, errw bytes.Buffer
	args := []string{"bench", "--scenarios", "scim", "--ops", "create", "--preload-queued", "--users", "40", "--conns", "4",
		"--duration", "200ms", "--warmup", "50ms", "--dir", t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := run(ctx, args, &out, &errw, nil); code != 0 {
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errw.String())
	}
	if strings.Contains(out.String(), "GET by id") || strings.Contains(out.String(), "GET filter") {
		t.Errorf("--ops create ran read phases:\n%s", out.String())
	}
	var row string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "| 40 | POST create (durable) |") {
			row = line
		}
	}
	if row == "" {
		t.Fatalf("no create row:\n%s", out.String())
	}
	cols := strings.Split(strings.Trim(row, "| "), " | ")
	if cols[5] != "0" {
		t.Errorf("errors in %s", row)
	}
	// The queued-jobs column: the 40 preloaded invitations plus one per
	// create of the phase, none sent.
	creates, _ := strconv.ParseFloat(cols[2], 64)
	queued, err := strconv.Atoi(cols[len(cols)-1])
	if err != nil || queued < 40 || creates <= 0 {
		t.Errorf("queued jobs %q (want at least the 40 preloaded), creates/s %q: %s", cols[len(cols)-1], cols[2], row)
	}
}
