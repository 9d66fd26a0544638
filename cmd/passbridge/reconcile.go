package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
)

func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: passbridge reconcile [--config FILE]

Runs one reconcile pass and exits: asks Microsoft Graph about every user
whose onboarding can still change (redemption, MFA, agreements), terminates
expired invitations, and records what changed. Prints a JSON report. Exits 0
on success, 1 when the pass failed, 3 when another replica holds the
reconciler lease (nothing to do). For cron, beside or instead of "serve".

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
	dir, err := newDirectory(ctx, cfg, log)
	if err != nil {
		log.Error("cannot reach Microsoft Graph", "err", err)
		return 1
	}
	a, err := newApp(ctx, cfg, log, dir, nil)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	defer a.Close()
	r := connector.NewReconciler(a.store, dir, a.svc.Options())
	report, err := r.RunOnce(ctx)
	if !report.Skipped {
		// Hand the role back now: serve's reconciler, or the next cron run,
		// need not wait for it to run out.
		if rerr := r.Release(context.WithoutCancel(ctx)); rerr != nil {
			log.Warn("release reconciler lease failed", "err", rerr)
		}
	}
	b, _ := json.MarshalIndent(report, "", "  ")
	fmt.Fprintln(stdout, string(b))
	if err != nil {
		log.Error("reconcile failed", "err", err)
		return 1
	}
	if report.Skipped {
		log.Info("another replica holds the reconciler lease; nothing done")
		return 3
	}
	return 0
}
