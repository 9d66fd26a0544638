package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
)

// faultyStore fails chosen store calls; the rest go to the real store.
type faultyStore struct {
	connector.Store
	listUsers    error                                         // returned by every ListUsers
	acquireLease func(call int) (override, ok bool, err error) // the n-th call
	leaseCalls   atomic.Int32
}

func (s *faultyStore) ListUsers(ctx context.Context, q connector.Query) (connector.Page[connector.User], error) {
	if s.listUsers != nil {
		return connector.Page[connector.User]{}, s.listUsers
	}
	return s.Store.ListUsers(ctx, q)
}

func (s *faultyStore) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	n := int(s.leaseCalls.Add(1))
	if s.acquireLease != nil {
		if override, ok, err := s.acquireLease(n); override {
			return ok, err
		}
	}
	return s.Store.AcquireLease(ctx, name, holder, now, ttl)
}

// A sign-up whose userName is taken, when the store cannot say by whom,
// is unavailable (503: retry), not a conflict (409: give up).
func TestResignUpLookupFailureIsUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp("again@tech.gov.sg", false)
	dbErr := errors.New("database is locked")
	svc := connector.NewService(&faultyStore{Store: e.store, listUsers: dbErr}, e.opts)
	_, err := svc.CreateUser(e.ctx, "scim:test", newUser("again@tech.gov.sg", false))
	if !errors.Is(err, connector.ErrUnavailable) || !errors.Is(err, dbErr) {
		t.Fatalf("err = %v, want ErrUnavailable wrapping the store's error", err)
	}
	if errors.Is(err, connector.ErrAlreadyExists) {
		t.Fatalf("err = %v: a conflict, although nobody knows yet whether it is one", err)
	}
}

// A lease renewal that fails on the database says so; only a lease that
// another holder took says "held elsewhere".
func TestReconcilerLeaseRenewalCause(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *connector.Options) { o.Reconcile.BatchSize = 2 })
	for i := range 5 {
		e.signUp(email(i), false)
	}
	e.drain()
	dbErr := errors.New("connection reset")
	for _, tc := range []struct {
		name    string
		ok      bool
		err     error
		wantIs  error
		want    string
		notWant string
	}{
		{name: "database error", err: dbErr, wantIs: dbErr, want: "renew reconciler lease", notWant: "held elsewhere"},
		{name: "taken", ok: false, want: "held elsewhere"},
	} {
		fs := &faultyStore{Store: e.store, acquireLease: func(call int) (bool, bool, error) {
			return call == 2, tc.ok, tc.err // the renewal before the second page
		}}
		o := e.opts
		o.Reconcile.Holder = "reconciler-" + tc.name
		e.clock.Advance(10 * time.Minute) // past any earlier holder's lease
		_, err := connector.NewReconciler(fs, e.dir, o).RunOnce(e.ctx)
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
			t.Errorf("%s: err = %v, want it to wrap %v", tc.name, err, tc.wantIs)
		}
		if !strings.Contains(err.Error(), tc.want) || (tc.notWant != "" && strings.Contains(err.Error(), tc.notWant)) {
			t.Errorf("%s: err = %q, want %q and not %q", tc.name, err, tc.want, tc.notWant)
		}
	}
}

// An unreadable cursor restarts the feed, and says so in the log.
func TestUnreadableCursorIsLogged(t *testing.T) {
	t.Parallel()
	var logs testkit.Buffer
	e := newEnv(t, func(o *connector.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	if err := e.store.SetCursor(e.ctx, connector.CursorLastSweep, "not a time"); err != nil {
		t.Fatal(err)
	}
	if rep := e.reconcile(); !rep.Swept {
		t.Errorf("pass after an unreadable sweep mark did not sweep: %+v", rep)
	}
	if out := logs.String(); !strings.Contains(out, "cursor unreadable") || !strings.Contains(out, connector.CursorLastSweep) {
		t.Errorf("log does not name the unreadable cursor:\n%s", out)
	}
}

// A newly invited user's groups are all synced, beyond one page of them.
func TestInviteRequeuesEveryGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.signUp("member@tech.gov.sg", false)
	const n = 105 // more than a page
	var ids []string
	for i := range n {
		g, err := e.svc.CreateGroup(e.ctx, "scim:test", connector.Group{DisplayName: "group " + email(i), Members: []string{u.ID}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.ID)
	}
	// The first invitation fails, so every group's own sync runs before
	// the user has a guest: only the invitation's requeue can add it.
	var failed atomic.Bool
	e.dir.setFaults(func(op string) error {
		if op == "invite" && failed.CompareAndSwap(false, true) {
			return transientErr(op, 503, 0)
		}
		return nil
	}, nil)
	e.drain()
	guest := e.wantState(u.ID, connector.StateInvited).Onboarding.GuestID
	missing := 0
	for _, id := range ids {
		g, err := e.store.GetGroup(e.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if g.EntraID == "" || !e.dir.member(g.EntraID, guest) {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("guest missing from %d of %d groups", missing, n)
	}
}

// A guest deletion by address looks at every user holding the address,
// beyond one page of them.
func TestDeleteGuestSeesEveryHolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const addr = "shared@tech.gov.sg"
	res, err := e.dir.Invite(e.ctx, connector.Invitation{Email: addr})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 21 { // one page and one more; only the last holds the guest
		u := newUser(email(i), false)
		u.ID = "u-" + email(i)
		u.Emails = append(u.Emails, addr)
		if i == 20 {
			u.Onboarding = connector.Onboarding{State: connector.StateInvited, InviteEmail: addr, GuestID: res.GuestID}
		}
		if _, err := e.store.CreateUser(e.ctx, u, connector.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	payload, _ := json.Marshal(map[string]string{"guestId": res.GuestID, "email": addr, "reason": "expired"})
	job := connector.Job{Kind: connector.JobDeleteGuest, Subject: "gone", Payload: payload, RunAt: e.clock.Now(), Created: e.clock.Now()}
	if err := e.store.EnqueueJobs(e.ctx, []connector.Job{job}); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if _, err := e.dir.FindGuestByEmail(e.ctx, addr); err != nil {
		t.Fatalf("guest held by the 21st user was deleted: %v", err)
	}
}

// Lease holders are the host name, the pid and a random part: the pid is 1
// in every container, and the clock does not tell replicas apart.
func TestDefaultLeaseHoldersAreRandom(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.opts
	o.Worker.Owner, o.Reconcile.Holder = "", ""
	host, _ := os.Hostname()
	if host == "" {
		host = "passbridge"
	}
	re := regexp.MustCompile("^" + regexp.QuoteMeta(host) + "-" + strconv.Itoa(os.Getpid()) + "-[0-9a-f]{16}$")
	seen := map[string]bool{}
	for range 3 {
		for _, id := range []string{connector.NewWorker(e.store, e.dir, o).Owner(), connector.NewReconciler(e.store, e.dir, o).Holder()} {
			if !re.MatchString(id) {
				t.Errorf("holder %q, want %s-<pid>-<16 random hex digits>", id, host)
			}
			if seen[id] {
				t.Errorf("holder %q given twice", id)
			}
			seen[id] = true
		}
	}
}

// The ids the service gives are time-ordered (UUIDv7), like the stores':
// keyset sweeps then see older users first.
func TestServiceIDsAreTimeOrdered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prev := ""
	for i := range 30 {
		u := e.signUp(email(i), false)
		g, err := e.svc.CreateGroup(e.ctx, "scim:test", connector.Group{DisplayName: "g" + email(i)})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{u.ID, g.ID} {
			if len(id) != 36 || id[14] != '7' {
				t.Fatalf("id %q is not a UUIDv7", id)
			}
			if id <= prev {
				t.Fatalf("id %q does not sort after the previous %q", id, prev)
			}
			prev = id
		}
	}
}
