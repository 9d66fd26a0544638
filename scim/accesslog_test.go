package scim_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/scim"
	"github.com/passbridge/passbridge/store/sqlite"
)

// accessLines counts the "scim request" lines at level in logs.
func accessLines(logs *testkit.Buffer, level string) int {
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"scim request"`) && strings.Contains(line, `"level":"`+level+`"`) {
			n++
		}
	}
	return n
}

// The access log is the operator's choice: successes at the chosen level,
// one in Every, or none; 4xx always at INFO and 5xx always at WARN.
func TestAccessLogChoices(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name             string
		log              scim.AccessLog
		logLevel         slog.Level
		wantOK, wantInfo int // "scim request" lines for 10 GETs that succeed, 3 that are 404s
	}{
		{"default: each success at info", scim.AccessLog{}, slog.LevelInfo, 10, 13},
		{"debug level hidden at info", scim.AccessLog{Level: slog.LevelDebug}, slog.LevelInfo, 0, 3},
		{"debug level shown at debug", scim.AccessLog{Level: slog.LevelDebug}, slog.LevelDebug, 10, 3},
		{"one in five", scim.AccessLog{Every: 5}, slog.LevelInfo, 2, 5},
		{"off", scim.AccessLog{Off: true}, slog.LevelDebug, 0, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pb.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			logs := &testkit.Buffer{}
			s, err := scim.New(connector.NewService(st, connector.Options{}), scim.Options{
				Tokens:    []scim.Token{{Name: "techbiz", SHA256: config.HashToken(testToken)}},
				Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: tc.logLevel})),
				AccessLog: tc.log,
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(s)
			t.Cleanup(srv.Close)
			c := testkit.SCIM{Base: srv.URL + "/scim/v2", Token: testToken}
			for range 10 {
				if r := c.Do(t, "GET", "/Users", nil); r.Status != 200 {
					t.Fatalf("GET /Users: %d", r.Status)
				}
			}
			for range 3 {
				if r := c.Do(t, "GET", "/Users/no-such-user", nil); r.Status != 404 {
					t.Fatalf("GET unknown: %d", r.Status)
				}
			}
			okLevel := "INFO"
			if tc.log.Level == slog.LevelDebug {
				okLevel = "DEBUG"
			}
			if okLevel == "INFO" {
				if got := accessLines(logs, "INFO"); got != tc.wantInfo {
					t.Errorf("INFO access lines = %d, want %d", got, tc.wantInfo)
				}
			} else {
				if got := accessLines(logs, "DEBUG"); got != tc.wantOK {
					t.Errorf("DEBUG access lines = %d, want %d", got, tc.wantOK)
				}
				if got := accessLines(logs, "INFO"); got != tc.wantInfo {
					t.Errorf("INFO access lines (the 404s) = %d, want %d", got, tc.wantInfo)
				}
			}
		})
	}
}
