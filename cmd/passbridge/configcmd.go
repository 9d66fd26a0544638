package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/passbridge/passbridge/config"
)

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: passbridge config validate|check [--config FILE]\n")
		return 2
	}
	switch args[0] {
	case "validate":
		return runConfigValidate(args[1:], stdout, stderr, env)
	case "check":
		return runConfigCheck(ctx, args[1:], stdout, stderr, env)
	}
	fmt.Fprintf(stderr, "passbridge config: unknown subcommand %q (validate, check)\n", args[0])
	return 2
}

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "configuration file (YAML); default passbridge.yaml when it exists. PASSBRIDGE_<SECTION>_<KEY> variables override it")
}

// loadConfig resolves, loads and validates the configuration, printing every
// problem on failure.
func loadConfig(flagValue string, env []string, stderr io.Writer, opts ...config.ValidateOption) (*config.Config, bool) {
	path, err := config.ResolvePath(flagValue)
	if err != nil {
		fmt.Fprintf(stderr, "passbridge: %v\n", err)
		return nil, false
	}
	cfg, err := config.LoadValidated(path, env, opts...)
	if err != nil {
		var ps *config.Problems
		if errors.As(err, &ps) {
			fmt.Fprintf(stderr, "passbridge: %v\n", ps)
		} else {
			fmt.Fprintf(stderr, "passbridge: configuration: %v\n", err)
		}
		return nil, false
	}
	return cfg, true
}

func runConfigValidate(args []string, stdout, stderr io.Writer, env []string) int {
	fs := flag.NewFlagSet("config validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: passbridge config validate [--config FILE]

Loads the configuration file and the PASSBRIDGE_* environment, expands ${VAR}
references, and lists every problem with its key and how to fix it. Exits 1
when there is any problem, 0 when the configuration can be served.

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
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	fmt.Fprintln(stdout, "configuration OK")
	return 0
}
