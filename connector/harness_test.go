package connector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/store/sqlite"
)

// t0 is a Tuesday, 09:00 in Singapore.
var t0 = time.Date(2025, 7, 1, 1, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

var testAgreements = []connector.Agreement{
	{Name: "Terms of Use", ID: "agr-tou", RequiredWhen: "always"},
	{Name: "Privacy Policy", ID: "agr-pp", RequiredWhen: "always"},
	{Name: "MDM AUP", ID: "agr-mdm", RequiredWhen: "seed"},
}

// env is one passbridge engine over a real SQLite store and the fake tenant.
type env struct {
	t      *testing.T
	ctx    context.Context
	clock  *testkit.Clock
	dir    *fakeDir
	store  connector.Store
	opts   connector.Options
	svc    *connector.Service
	worker *connector.Worker
	rec    *connector.Reconciler
}

func testLogger() *slog.Logger {
	if os.Getenv("PB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t *testing.T, mods ...func(o *connector.Options)) *env {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "passbridge.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	clock := testkit.NewClock(t0)
	opts := connector.Options{
		Clock:  clock,
		Logger: testLogger(),
		Policy: connector.PolicyOptions{AllowedDomains: []string{"gov.sg", "*.gov.sg"}},
		Invitation: connector.Invitation{
			RedirectURL: "https://portal.example/welcome", SendEmail: true,
		},
		Agreements: testAgreements,
		Seed:       connector.SeedOptions{GroupID: "seed-group"},
		Worker:     connector.WorkerOptions{Owner: "worker-1", Concurrency: 4, JitterSeed: 42},
		Reconcile:  connector.ReconcileOptions{Holder: "reconciler-1", BatchSize: 50},
	}
	for _, m := range mods {
		m(&opts)
	}
	dir := newFakeDir(clock)
	return &env{
		t: t, ctx: ctx, clock: clock, dir: dir, store: st, opts: opts,
		svc:    connector.NewService(st, opts),
		worker: connector.NewWorker(st, dir, opts),
		rec:    connector.NewReconciler(st, dir, opts),
	}
}

func newUser(email string, seed bool) connector.User {
	doc, _ := json.Marshal(map[string]any{
		"userName": email,
		"emails":   []map[string]any{{"value": email, "type": "work", "primary": true}},
	})
	return connector.User{UserName: email, Active: true, Emails: []string{email}, Doc: doc, SeedRequested: seed}
}

func (e *env) signUp(email string, seed bool) connector.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(e.ctx, "scim:test", newUser(email, seed))
	if err != nil {
		e.t.Fatalf("sign up %s: %v", email, err)
	}
	return u
}

func (e *env) patch(id string, edit func(u *connector.User)) connector.User {
	e.t.Helper()
	u, err := e.svc.UpdateUser(e.ctx, "scim:test", id, nil, func(u *connector.User) error { edit(u); return nil })
	if err != nil {
		e.t.Fatalf("update %s: %v", id, err)
	}
	return u
}

func (e *env) user(id string) connector.User {
	e.t.Helper()
	u, err := e.store.GetUser(e.ctx, id)
	if err != nil {
		e.t.Fatalf("get user %s: %v", id, err)
	}
	return u
}

// drain runs the worker until the queue is empty, moving the fake clock to
// the next due job (backoff) or past a held lease; no real sleeps.
func (e *env) drain() {
	e.t.Helper()
	for i := 0; i < 10000; i++ {
		n, err := e.worker.RunOnce(e.ctx)
		if err != nil {
			e.t.Fatalf("worker: %v", err)
		}
		if n > 0 {
			continue
		}
		depth, oldest, err := e.store.JobStats(e.ctx)
		if err != nil {
			e.t.Fatalf("job stats: %v", err)
		}
		if depth == 0 {
			return
		}
		if oldest.After(e.clock.Now()) {
			e.clock.Set(oldest)
		} else {
			e.clock.Advance(3 * time.Minute) // a lease held by a crashed worker
		}
	}
	e.t.Fatalf("queue did not drain")
}

func (e *env) reconcile() connector.ReconcileReport {
	e.t.Helper()
	rep, err := e.rec.RunOnce(e.ctx)
	if err != nil {
		e.t.Fatalf("reconcile: %v (report %+v)", err, rep)
	}
	return rep
}

func (e *env) events(subject string) []connector.Event {
	e.t.Helper()
	evs, err := e.store.ListEvents(e.ctx, subject, 0, 0)
	if err != nil {
		e.t.Fatalf("list events: %v", err)
	}
	return evs
}

func (e *env) hasEvent(subject, typ string) bool {
	for _, ev := range e.events(subject) {
		if ev.Type == typ {
			return true
		}
	}
	return false
}

func (e *env) wantState(id string, want connector.State) connector.User {
	e.t.Helper()
	u := e.user(id)
	if u.Onboarding.State != want {
		e.t.Fatalf("user %s state = %s, want %s (facts %+v)", id, u.Onboarding.State, want, u.Onboarding)
	}
	return u
}

func (e *env) queued() int {
	e.t.Helper()
	depth, _, err := e.store.JobStats(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return depth
}

func email(i int) string { return fmt.Sprintf("user%03d@tech.gov.sg", i) }
