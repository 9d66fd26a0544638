package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/sqlite"
	"github.com/passbridge/passbridge/store/storetest"
)

func newStore(tb testing.TB) connector.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "passbridge.db"))
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) connector.Store { return newStore(t) })
}

func BenchmarkCreateUser(b *testing.B) { storetest.BenchCreateUser(b, newStore) }
func BenchmarkGetUser(b *testing.B)    { storetest.BenchGetUser(b, newStore) }
func BenchmarkCreateUserParallel(b *testing.B) {
	storetest.BenchCreateUserParallel(b, newStore)
}
func BenchmarkFilterUserName(b *testing.B) { storetest.BenchFilterUserName(b, newStore) }

// A restarted process alone on the database gets a dead process's leases
// back at once (issues 10 and 16): the lock file says nobody else is alive.
func TestRestartReleasesLeases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passbridge.db")
	storetest.RunRestart(t, func(t *testing.T) connector.Store {
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}, true)
}

// The invitation budget is shared by every process on the file and kept
// across a restart (issue 14).
func TestInviteBudget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passbridge.db")
	storetest.RunInviteBudget(t, func(t *testing.T) connector.Store {
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	})
}
