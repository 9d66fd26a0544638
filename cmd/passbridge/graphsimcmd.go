package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/passbridge/passbridge/graph/graphsim"
)

func runGraphsim(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	fs := flag.NewFlagSet("graphsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve the simulator on")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: passbridge graphsim [--listen ADDR]

Runs the Microsoft Graph v1.0 simulator alone, for integration tests of SCIM
clients and for trying passbridge without a tenant. Point passbridge at it with
graph.endpoint: http://ADDR and the managed-identity endpoint it serves:

  IDENTITY_ENDPOINT=http://ADDR/_sim/identity/token IDENTITY_HEADER=<printed below>

Act as a user through the control API, e.g.
  curl -X POST http://ADDR/_sim/redeem -d '{"user":"alice@agency.gov.sg"}'
  curl -X POST http://ADDR/_sim/mfa    -d '{"user":"alice@agency.gov.sg"}'
  curl http://ADDR/_sim/stats

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sim := graphsim.New()
	err := sim.Serve(ctx, *listen, func(a net.Addr) {
		fmt.Fprintf(stdout, "graphsim serving Microsoft Graph v1.0 at http://%s/v1.0\n", a)
		fmt.Fprintf(stdout, "IDENTITY_ENDPOINT=%s\nIDENTITY_HEADER=%s\n", graphsim.IdentityEndpoint("http://"+a.String()), sim.IdentityHeader())
	})
	if err != nil {
		fmt.Fprintf(stderr, "passbridge graphsim: %v\n", err)
		return 1
	}
	return 0
}
