package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/graph/graphsim"
)

// "passbridge config check" with the real credential chain (managed
// identity against the simulator's token endpoint) names the permission the
// tenant withholds and how to grant it.
func TestConfigCheckNamesMissingPermission(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	cases := map[string]struct {
		withhold []string
		wantCode int
		want     []string
	}{
		"ok/all-granted": {nil, 0, []string{"all permissions passbridge needs are granted"}},
		"fail/audit-log": {[]string{"AuditLog.Read.All"}, 1, []string{
			"MISSING AuditLog.Read.All", "fix: grant AuditLog.Read.All (Application) and admin-consent"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var opts []graphsim.Option
			if len(tc.withhold) > 0 {
				opts = append(opts, graphsim.WithoutPermission(tc.withhold...))
			}
			sim, srv := graphsim.Start(opts...)
			defer srv.Close()
			dir := t.TempDir()
			cfgPath, _ := writeConfig(t, dir, "127.0.0.1:0", "sqlite:"+dir+"/pb.db", srv.URL, "")
			cmd := exec.Command(os.Args[0], "config", "check", "--config", cfgPath)
			cmd.Env = append(os.Environ(), "PB_TEST_RUN_MAIN=1",
				"IDENTITY_ENDPOINT="+graphsim.IdentityEndpoint(srv.URL), "IDENTITY_HEADER="+sim.IdentityHeader())
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tc.wantCode {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if n := sim.Calls("POST /invitations"); n != 0 {
				t.Errorf("config check sent %d invitations", n)
			}
		})
	}
}
