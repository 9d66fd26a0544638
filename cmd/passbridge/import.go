package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/passbridge/passbridge/admin"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store"
)

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	csvPath := fs.String("csv", "", "the CSV file to import (required; - reads standard input)")
	dry := fs.Bool("dry-run", false, "print each row's sign-up policy verdict and create nothing")
	asJSON := fs.Bool("json", false, "print one JSON object per row (and a summary object) instead of text")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: passbridge import --csv FILE [--dry-run] [--json] [--config FILE]

Bulk onboarding: creates one user per CSV row, exactly as a SCIM create would
(the sign-up policy, the invitation job, the events; the actor recorded is
"import:<file name>"). The running "serve" sends the invitations.

The CSV has a header row naming its columns, in any order:
  email        the address to invite (required); also the userName
  givenName    optional
  familyName   optional
  seed         true or false: SEED device provisioning requested
  accountType  the mailbox type the sign-up policy checks (e.g. LiteMail)

The file is read row by row (any size). Each row is printed as it is done:
its line, address, outcome and the policy's verdict and why. Outcomes:
would create (dry run), created, refused (the policy says no), duplicate (the
address is on an earlier line of the file), exists (a user with this userName
exists), invalid (the row cannot be read), error (the database failed).

With --dry-run nothing is created: check a file before importing it.

Exit status: 0 when every row was (or, dry, would be) created; 1 when a row
was not; 2 on a usage, configuration, file or database error.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *csvPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "passbridge import: --csv FILE is required (and nothing else after the flags)")
		fs.Usage()
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, env, stderr)
	if !ok {
		return 2
	}
	var in io.Reader = os.Stdin
	name := "stdin"
	if *csvPath != "-" {
		f, err := os.Open(*csvPath)
		if err != nil {
			fmt.Fprintf(stderr, "passbridge import: %v\n", err)
			return 2
		}
		defer f.Close()
		in, name = f, filepath.Base(*csvPath)
	}
	log := newLogger(stderr, cfg.Log)
	opts, err := connectorOptions(cfg, log, nil)
	if err != nil {
		fmt.Fprintf(stderr, "passbridge import: %v\n", err)
		return 2
	}
	st, err := store.Open(ctx, cfg.Database.URL)
	if err != nil {
		fmt.Fprintf(stderr, "passbridge import: open database: %v\n", err)
		return 2
	}
	defer st.Close()
	im := admin.Importer{Service: connector.NewService(st, opts), Actor: "import:" + name, DryRun: *dry}
	enc := json.NewEncoder(stdout)
	if !*asJSON {
		fmt.Fprintf(stdout, "%5s  %-40s  %-12s  %-7s  %s\n", "line", "email", "outcome", "policy", "why")
	}
	sum, err := im.Run(ctx, in, func(row admin.ImportRow) error {
		if *asJSON {
			return enc.Encode(row)
		}
		policy, why := "refused", row.Verdict.Reason
		if row.Verdict.Allowed {
			policy = "allowed"
		}
		if row.Detail != "" {
			why = row.Detail
		}
		_, err := fmt.Fprintf(stdout, "%5d  %-40s  %-12s  %-7s  %s\n", row.Line, row.Email, row.Outcome, policy, why)
		return err
	})
	if *asJSON {
		_ = enc.Encode(map[string]any{"summary": sum, "dryRun": *dry, "file": name})
	} else {
		keys := make([]string, 0, len(sum.ByOutcome))
		for k := range sum.ByOutcome {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		mode := "import"
		if *dry {
			mode = "dry run (nothing created)"
		}
		fmt.Fprintf(stdout, "\n%s of %s: %d row(s)", mode, name, sum.Rows)
		for _, k := range keys {
			fmt.Fprintf(stdout, "; %s %d", k, sum.ByOutcome[k])
		}
		fmt.Fprintln(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "passbridge import: %v\n", err)
		return 2
	}
	if sum.ByOutcome[admin.RowCreated]+sum.ByOutcome[admin.RowWouldCreate] != sum.Rows {
		return 1
	}
	return 0
}
