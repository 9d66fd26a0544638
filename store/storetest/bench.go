package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

// Bench runs every benchmark of the suite as sub-benchmarks.
func Bench(b *testing.B, newStore func(tb testing.TB) connector.Store) {
	b.Run("CreateUser", func(b *testing.B) { BenchCreateUser(b, newStore) })
	b.Run("CreateUserParallel", func(b *testing.B) { BenchCreateUserParallel(b, newStore) })
	b.Run("GetUser", func(b *testing.B) { BenchGetUser(b, newStore) })
	b.Run("FilterUserName", func(b *testing.B) { BenchFilterUserName(b, newStore) })
}

func benchStore(b *testing.B, newStore func(tb testing.TB) connector.Store) connector.Store {
	b.Helper()
	s := newStore(b)
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// seedUsers creates n users named bench-<i>@agency.gov.sg and returns their ids.
func seedUsers(b *testing.B, s connector.Store, n int) []string {
	b.Helper()
	ids := make([]string, n)
	for i := range n {
		u, err := s.CreateUser(context.Background(), newUser(fmt.Sprintf("bench-%d@agency.gov.sg", i)), connector.Change{})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = u.ID
	}
	return ids
}

// BenchCreateUser measures a durable create with its outbox job and event,
// which is what a SCIM POST costs the store.
func BenchCreateUser(b *testing.B, newStore func(tb testing.TB) connector.Store) {
	s := benchStore(b, newStore)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		u := newUser(fmt.Sprintf("create-%d@agency.gov.sg", i))
		i++
		_, err := s.CreateUser(ctx, u, connector.Change{
			Jobs:   []connector.Job{{Kind: connector.JobInvite, Subject: u.UserName}},
			Events: []connector.Event{{Subject: u.UserName, Type: "user.created", Actor: "bench"}},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchCreateUserParallel measures durable creates from 16 goroutines per
// CPU, as a SCIM server under load makes them (group commit shows here).
func BenchCreateUserParallel(b *testing.B, newStore func(tb testing.TB) connector.Store) {
	s := benchStore(b, newStore)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := newUser(fmt.Sprintf("par-%d@agency.gov.sg", n.Add(1)))
			_, err := s.CreateUser(ctx, u, connector.Change{
				Jobs:   []connector.Job{{Kind: connector.JobInvite, Subject: u.UserName}},
				Events: []connector.Event{{Subject: u.UserName, Type: "user.created", Actor: "bench"}},
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchGetUser measures reading one user by id among 1000.
func BenchGetUser(b *testing.B, newStore func(tb testing.TB) connector.Store) {
	s := benchStore(b, newStore)
	ids := seedUsers(b, s, 1000)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := s.GetUser(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchFilterUserName measures the lookup a SCIM client does before it
// creates a user (userName eq …) among 1000 users.
func BenchFilterUserName(b *testing.B, newStore func(tb testing.TB) connector.Store) {
	s := benchStore(b, newStore)
	seedUsers(b, s, 1000)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		q := connector.Query{Filter: connector.Eq(connector.AttrUserName, fmt.Sprintf("BENCH-%d@agency.gov.sg", i%1000)), Count: 10}
		page, err := s.ListUsers(ctx, q)
		if err != nil || page.Total != 1 {
			b.Fatalf("ListUsers: %d, %v", page.Total, err)
		}
		i++
	}
}
