package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
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

  server.tls.certFile, server.tls.keyFile
        PEM certificate (chain) and private key: serve HTTPS (TLS 1.2 or
        later) instead of plain HTTP. The pair is re-read within seconds when
        the files change; a new pair that does not load is logged and the old
        one kept.
  server.adminListen
        serve /healthz, /readyz, /metrics and the admin console on this
        address instead (same TLS settings); server.listen then answers only
        /scim/v2.
  server.pprof
        true: Go's profiler at /debug/pprof/ on server.adminListen (which it
        needs), e.g. go tool pprof http://ADMIN/debug/pprof/profile?seconds=20
  mail.smtp.host, mail.from
        passbridge's own mail over SMTP (STARTTLS required unless
        mail.smtp.starttls is false); with invitation.sendEmail false it
        mails each invitation, with its redeem link, itself.
  admin.tokens
        the admin console at /admin/ and its API /admin/api/ (sign-in with
        one of these tokens); no tokens: the console is off (logged).

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
	applyRuntime(cfg.Runtime, env, log)
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
	l, err := openListeners(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := a.serveOn(ctx, l); err != nil {
		log.Error("server stopped", "err", err)
		return 1
	}
	return 0
}

// openListeners listens on server.listen and server.adminListen and loads
// the TLS pair, as the configuration says.
func openListeners(cfg *config.Config, log *slog.Logger) (listeners, error) {
	var l listeners
	if t := cfg.Server.TLS; t.Enabled() {
		r, err := newCertReloader(t.CertFile, t.KeyFile, log.With("component", "tls"))
		if err != nil {
			return l, err
		}
		l.tls = serverTLSConfig(r)
	}
	var err error
	if l.scim, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
		return l, fmt.Errorf("server.listen: %w", err)
	}
	if cfg.Server.AdminListen != "" {
		if l.admin, err = net.Listen("tcp", cfg.Server.AdminListen); err != nil {
			l.scim.Close()
			return l, fmt.Errorf("server.adminListen: %w", err)
		}
	}
	return l, nil
}
