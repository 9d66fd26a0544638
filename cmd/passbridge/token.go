package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/passbridge/passbridge/config"
)

func runToken(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprint(stderr, "usage: passbridge token new [--name NAME]\n")
		return 2
	}
	fs := flag.NewFlagSet("token new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "techbiz", "the token's name: it appears in logs and the event log (never the token)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: passbridge token new [--name NAME]

Prints a new random 256-bit SCIM bearer token and the YAML entry to add to
scim.tokens. Give the token to the SCIM client (TechBiz, the portal, Microsoft
Entra's "Secret Token"); keep only the SHA-256 in the configuration. Several
tokens may be configured at once, for rotation.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	tok, sum, err := config.NewToken()
	if err != nil {
		fmt.Fprintf(stderr, "passbridge: token new: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "token:  %s\nsha256: %s\n\n# add to your configuration:\nscim:\n  tokens:\n    - name: %s\n      sha256: %s\n", tok, sum, *name, sum)
	return 0
}
