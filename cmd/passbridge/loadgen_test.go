package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The external generator refuses targets and listeners off this machine.
func TestBenchExternalFlagsLoopbackOnly(t *testing.T) {
	for _, args := range [][]string{
		{"--target", "http://10.0.0.1:8080/scim/v2", "--token", "t"},
		{"--target", "http://example.com/scim/v2", "--token", "t"},
		{"--target", "http://127.0.0.1:8080/scim/v2"}, // no token
		{"--baseline-listen", "0.0.0.0:8090"},
		{"--baseline-listen", ":8090"},
		{"--preload-into", "postgres://x"},
		{"--target", "http://127.0.0.1:8080/scim/v2", "--token", "t", "--duration", "1h"},
	} {
		var out, errw bytes.Buffer
		if code := run(context.Background(), append([]string{"bench"}, args...), &out, &errw, nil); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errw.String())
		}
	}
}

// --preload-into fills a SQLite file; --target then drives a server over
// loopback, here passbridge serving that file and the minimal handler.
func TestBenchExternalAgainstServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and a load generator; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := "sqlite:" + filepath.Join(t.TempDir(), "pb.db")
	var out, errw bytes.Buffer
	if code := run(ctx, []string{"bench", "--preload-into", db, "--users", "30", "--preload-queued"}, &out, &errw, nil); code != 0 {
		t.Fatalf("preload exited %d: %s", code, errw.String())
	}
	if !strings.Contains(out.String(), "preloaded 30 users") {
		t.Fatalf("preload output: %s", out.String())
	}

	// The minimal handler.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: baselineHandler(), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	out.Reset()
	args := []string{"bench", "--target", "http://" + ln.Addr().String() + "/scim/v2", "--token", "t", "--users", "30",
		"--conns", "2", "--duration", "200ms", "--warmup", "50ms", "--runs", "3", "--max-requests", "100000"}
	if code := run(ctx, args, &out, &errw, nil); code != 0 {
		t.Fatalf("target exited %d: %s\n%s", code, errw.String(), out.String())
	}
	for _, want := range []string{"GET filter userName eq, median", "GET by id, median", "POST create (durable), median"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "| GET") || strings.HasPrefix(line, "| POST") {
			if f := strings.Split(line, "|"); len(f) < 8 || strings.TrimSpace(f[7]) != "0" {
				t.Errorf("errors in %s", line)
			}
		}
	}

	// passbridge on the preloaded file (SCIM only; serve adds the worker
	// and reconciler): the preloaded userNames are found by filter and id.
	b := &benchFlags{db: "sqlite", dir: t.TempDir(), out: &out, errw: &errw}
	env, err := b.startOn(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer env.stop()
	out.Reset()
	args = []string{"bench", "--target", env.base, "--token", env.token, "--users", "30", "--ops", "filter,id",
		"--conns", "2", "--duration", "200ms", "--warmup", "50ms"}
	if code := run(ctx, args, &out, &errw, nil); code != 0 {
		t.Fatalf("target exited %d: %s\n%s", code, errw.String(), out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "| GET") {
			if f := strings.Split(line, "|"); len(f) < 8 || strings.TrimSpace(f[7]) != "0" {
				t.Errorf("errors in %s", line)
			}
		}
	}
}
