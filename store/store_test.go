package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store"
)

func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := map[string]struct {
		url  string
		file string // the file that must exist afterwards
	}{
		"sqlite relative":    {"sqlite:rel.db", filepath.Join(dir, "rel.db")},
		"sqlite absolute":    {"sqlite://" + filepath.Join(dir, "abs.db"), filepath.Join(dir, "abs.db")},
		"sqlite // relative": {"sqlite://sub.db", filepath.Join(dir, "sub.db")},
		"file relative":      {"file:f.db", filepath.Join(dir, "f.db")},
		"file absolute":      {"file://" + filepath.Join(dir, "fa.db"), filepath.Join(dir, "fa.db")},
		"SQLite upper case":  {"SQLITE:upper.db", filepath.Join(dir, "upper.db")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tc.url)
			if err != nil {
				t.Fatalf("Open(%q): %v", tc.url, err)
			}
			defer s.Close()
			if err := s.Ping(context.Background()); err != nil {
				t.Errorf("Ping: %v", err)
			}
			if _, err := os.Stat(tc.file); err != nil {
				t.Errorf("database file: %v", err)
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	tests := map[string]struct {
		url, wantIn, secret string
	}{
		"no scheme":        {"passbridge.db", store.Forms, ""},
		"empty":            {"", store.Forms, ""},
		"unknown scheme":   {"mysql://root:hunter2@db/pb", store.Forms, "hunter2"},
		"sqlite no path":   {"sqlite:", "path is required", ""},
		"file with params": {"file:x.db?mode=memory", "not supported", ""},
		"file remote host": {"file://server/share/x.db", "only local files", ""},
		"sqlite memory":    {"sqlite::memory:", "in-memory", ""},
		"bad postgres url": {"postgres://u:hunter2@[bad/db", "postgres", "hunter2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tc.url)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tc.url)
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q does not mention %q", err, tc.wantIn)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
}

// An unreachable PostgreSQL server is ErrUnavailable, and the error does
// not carry the password. Port 1 on loopback refuses at once; no server is
// needed.
func TestOpenPostgresUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := store.Open(ctx, "postgres://passbridge:s3cr%2Ft@127.0.0.1:1/pb?connect_timeout=5")
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if !errors.Is(err, connector.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "s3cr") {
		t.Errorf("error leaks the password: %q", err)
	}
}

func TestOpenPostgres(t *testing.T) {
	base := os.Getenv("PASSBRIDGE_TEST_POSTGRES")
	if base == "" {
		t.Skip("PASSBRIDGE_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	// A schema of its own, so that the migrations do not touch public.
	schema := fmt.Sprintf("pb_test_open_%d", time.Now().UnixNano())
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE") //nolint:errcheck // best effort
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	s, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if _, err := s.GetUser(ctx, "x"); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("GetUser on the migrated schema: %v", err)
	}
}
