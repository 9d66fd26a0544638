// Command passbridge onboards people pushed over SCIM 2.0 into a Microsoft
// Entra ID tenant as B2B guests and mirrors their onboarding back on the
// SCIM resource. Run "passbridge help" for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	// seed.timeZone must load on hosts without a time zone database
	// (distroless images).
	_ "time/tzdata"
)

const usage = `passbridge onboards people pushed over SCIM 2.0 into a Microsoft Entra ID
tenant as B2B guests, and mirrors on each SCIM user whether the invitation was
redeemed, MFA registered and the Terms of Use accepted.

Usage:
  passbridge <command> [flags]

Commands:
  demo              everything in one process against the built-in Graph
                    simulator and SQLite in a temporary folder; prints a token
                    and curl lines to watch a user reach "onboarded"
  serve             SCIM server + outbox worker + reconciler + /healthz, /readyz
  reconcile         one reconcile pass, then exit (for cron); non-zero on failure
  config validate   load the configuration and list every problem with its key
  config check      connect to the tenant and check credentials and Graph permissions
  token new         print a new SCIM bearer token and the SHA-256 for scim.tokens
  graphsim          run the Microsoft Graph simulator alone
  status            counts by state, the queue, failures, pending deprovisioning
                    (from the database); exit 1 when something needs an admin
  import            bulk onboarding from a CSV (--csv FILE [--dry-run]): each
                    row's sign-up policy verdict, then the users created
  bench             measure SCIM, invitation and reconcile throughput (BENCHMARKS.md)
  version           print the version

Configuration comes from --config FILE (default: passbridge.yaml when present)
and PASSBRIDGE_<SECTION>_<KEY> environment variables, e.g.
PASSBRIDGE_DATABASE_URL=postgres://... ; see config/passbridge.example.yaml.

Run "passbridge <command> --help" for a command's flags.
`

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// run dispatches a command; it returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, "passbridge", version)
		return 0
	case "token":
		return runToken(rest, stdout, stderr)
	case "config":
		return runConfig(ctx, rest, stdout, stderr, env)
	case "serve":
		return runServe(ctx, rest, stdout, stderr, env)
	case "reconcile":
		return runReconcile(ctx, rest, stdout, stderr, env)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr, env)
	case "bench":
		return runBench(ctx, rest, stdout, stderr, env)
	case "status":
		return runStatus(ctx, rest, stdout, stderr, env)
	case "import":
		return runImport(ctx, rest, stdout, stderr, env)
	case "graphsim":
		return runGraphsim(ctx, rest, stdout, stderr, env)
	}
	fmt.Fprintf(stderr, "passbridge: unknown command %q\n\n%s", cmd, usage)
	return 2
}
