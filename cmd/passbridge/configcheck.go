package main

import (
	"context"
	"fmt"
	"io"
)

// runConfigCheck is not built yet: it waits for graph.Client's permission
// checks. TODO(graph): call graph.Client.CheckPermissions and print each.
func runConfigCheck(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	fmt.Fprintln(stderr, "passbridge config check: not implemented yet")
	return 1
}
