package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/metrics"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: passbridge serve [--config FILE]

Serves the SCIM API at /scim/v2 on server.listen, with /healthz, /readyz and
Prometheus metrics at /metrics (unauthenticated: do not expose it publicly),
runs the outbox worker that invites users through Microsoft Graph and the
reconciler that mirrors their onboarding back every reconcile.interval.
Stops gracefully on SIGTERM or Ctrl-C.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, env, stderr, config.ForServe())
	if !ok {
		return 1
	}
	log := newLogger(stderr, cfg.Log)
	m := metrics.New(metrics.Options{Logger: log.With("component", "metrics")})
	dir, err := newDirectory(ctx, cfg, log, withMetrics(m))
	if err != nil {
		log.Error("cannot reach Microsoft Graph", "err", err)
		return 1
	}
	a, err := newApp(ctx, cfg, log, dir, nil, withMetrics(m))
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.Server.Listen, "err", err)
		return 1
	}
	if err := a.serve(ctx, ln); err != nil {
		log.Error("server stopped", "err", err)
		return 1
	}
	return 0
}
