package sqlite

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The durability settings are what the package promises.
func TestPragmas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "p.db"))
	ctx := context.Background()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"foreign_keys": "1",
		"busy_timeout": "10000",
	} {
		var got string
		if err := s.w.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("writer PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	var qo string
	if err := s.r.QueryRowContext(ctx, "PRAGMA query_only").Scan(&qo); err != nil || qo != "1" {
		t.Errorf("reader query_only = %q, %v; want 1", qo, err)
	}
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "re.db")
	ctx := context.Background()
	s := open(t, path)
	u, err := s.CreateUser(ctx, connector.User{UserName: "keep@agency.gov.sg"}, connector.Change{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, path)
	if _, err := s2.GetUser(ctx, u.ID); err != nil {
		t.Errorf("after reopening: %v", err)
	}
	ms, err := sqlq.Migrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s2.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != len(ms) {
		t.Errorf("schema_migrations rows = %d, %v; want one per migration (%d)", n, err, len(ms))
	}
}

func TestOddPath(t *testing.T) {
	dir := t.TempDir()
	name := "we?ird#name %41.db"
	open(t, filepath.Join(dir, name))
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		t.Errorf("the file was not created under its own name: %v", err)
	}
}

func TestRejectsMemory(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file::memory:?cache=shared"} {
		if s, err := Open(context.Background(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// Two Stores on one file stand for two processes: BEGIN IMMEDIATE and the
// busy timeout keep their compare-and-swap updates exact.
func TestTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "two.db")
	ctx := context.Background()
	a, b := open(t, path), open(t, path)
	u, err := a.CreateUser(ctx, connector.User{UserName: "shared@agency.gov.sg", Doc: json.RawMessage(`{"n":0}`)}, connector.Change{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			_, err := s.UpdateUser(ctx, u.ID, func(u *connector.User) (connector.Change, error) {
				var d struct{ N int }
				if err := json.Unmarshal(u.Doc, &d); err != nil {
					return connector.Change{}, err
				}
				u.Doc, _ = json.Marshal(map[string]int{"n": d.N + 1})
				return connector.Change{}, nil
			})
			if err != nil {
				t.Errorf("update: %v", err)
			}
		})
	}
	wg.Wait()
	got, err := b.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ N int }
	_ = json.Unmarshal(got.Doc, &d)
	if d.N != 40 || got.Version != 41 {
		t.Errorf("counter %d version %d, want 40, 41", d.N, got.Version)
	}
}
