package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/postgres"
	"github.com/passbridge/passbridge/store/storetest"
)

// testURL is the server the tests use; without one they skip, except in CI
// where a silently skipped backend would hide breakage.
func testURL(tb testing.TB) string {
	u := os.Getenv("PASSBRIDGE_TEST_POSTGRES")
	if u == "" {
		if os.Getenv("CI") == "" {
			tb.Skip("PASSBRIDGE_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
		}
		tb.Fatal("PASSBRIDGE_TEST_POSTGRES must be set when CI is")
	}
	return u
}

// freshSchema creates a schema of its own for one test, dropped when the
// test ends, and returns the URL that selects it: parallel packages and
// reruns never see each other's tables.
func freshSchema(tb testing.TB) string {
	base := testURL(tb)
	ctx := context.Background()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "pb_test_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close(ctx)
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("PASSBRIDGE_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// newStore opens a store on a fresh schema with leases on the caller's
// clock: the suite drives them with a fake one (TestLeaseClockSkew shows
// the database's clock at work).
func newStore(tb testing.TB) connector.Store {
	s, err := postgres.OpenCallerClock(context.Background(), freshSchema(tb))
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	testURL(t) // skip (or fail in CI) once, not per test
	storetest.Run(t, func(t *testing.T) connector.Store { return newStore(t) })
}

func BenchmarkCreateUser(b *testing.B) { storetest.BenchCreateUser(b, newStore) }
func BenchmarkGetUser(b *testing.B)    { storetest.BenchGetUser(b, newStore) }
func BenchmarkCreateUserParallel(b *testing.B) {
	storetest.BenchCreateUserParallel(b, newStore)
}
func BenchmarkFilterUserName(b *testing.B) { storetest.BenchFilterUserName(b, newStore) }

// PostgreSQL is shared by replicas: a store opened again keeps leases,
// which run out by themselves (they are short and renewed by their holder).
func TestRestartKeepsLeases(t *testing.T) {
	url := freshSchema(t)
	storetest.RunRestart(t, func(t *testing.T) connector.Store {
		s, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}, false)
}

// The invitation budget is shared by replicas and kept across a restart
// (issue 14), on the database's clock.
func TestInviteBudget(t *testing.T) {
	url := freshSchema(t)
	storetest.RunInviteBudget(t, func(t *testing.T) connector.Store {
		s, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	})
}
