package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"
)

func runConfigCheck(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: passbridge config check [--config FILE]

Connects to the tenant with the configured credentials: gets a token, then
calls each Microsoft Graph endpoint passbridge needs with a harmless request
(no invitation is sent, nothing is changed) and reports, per application
permission, OK or what is missing and how to grant it. Exits 1 when anything
is missing or cannot be verified as working. Sign-in activity (the
lifecycle.inactivity rules: Entra ID P1 and AuditLog.Read.All) is reported
as OFF when the tenant does not give it, without failing the check.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, env, stderr)
	if !ok {
		return 1
	}
	log := newLogger(stderr, cfg.Log)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	dir, err := newDirectory(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "passbridge config check: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Microsoft Graph at %s, credential %q\n", cfg.Graph.Endpoint, cfg.Azure.Credential)
	failed := 0
	for _, c := range dir.CheckPermissions(ctx) {
		mark := "OK     "
		switch {
		case c.Optional && !c.OK:
			// A feature is (or may be) off; passbridge works without it.
			mark = "OFF    "
			if c.Unverified {
				mark = "UNSURE "
			}
		case c.Unverified:
			mark = "UNSURE " // could not tell without changing the tenant
			failed++
		case !c.OK:
			mark = "MISSING"
			failed++
		}
		fmt.Fprintf(stdout, "  %s %-36s %s\n", mark, c.Permission, c.Detail)
		if !c.OK && c.Fix != "" {
			fmt.Fprintf(stdout, "          fix: %s\n", c.Fix)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d problem(s): passbridge cannot work until they are fixed\n", failed)
		return 1
	}
	fmt.Fprintln(stdout, "all permissions passbridge needs are granted")
	return 0
}
