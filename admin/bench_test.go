package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/store/sqlite"
)

// benchUsers is the population of BenchmarkConsole.
const benchUsers = 100_000

// seedConsole stores n users in a realistic mix of states (each with its
// user.created event), with 32 writers so that SQLite's group commit
// batches them.
func seedConsole(b *testing.B, st connector.Store, n int, now time.Time) (someID string) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Value
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				email := fmt.Sprintf("user-%06d@agency%d.gov.sg", i, i%50)
				u := connector.User{UserName: email, Active: true, Emails: []string{email}, Created: now, Modified: now}
				o := &u.Onboarding
				inv, exp := now.Add(-time.Duration(i%30)*24*time.Hour), now.Add(time.Duration(i%30)*24*time.Hour)
				switch p := i % 100; {
				case p < 60:
					o.State, o.InvitedAt, o.ExpiresAt, o.OnboardedAt, o.GuestID = connector.StateOnboarded, &inv, &exp, &now, "g"
				case p < 80:
					o.State, o.InvitedAt, o.ExpiresAt, o.GuestID = connector.StateInvited, &inv, &exp, "g"
				case p < 85:
					o.State, o.InvitedAt, o.ExpiresAt, o.RedeemedAt, o.GuestID = connector.StateRedeemed, &inv, &exp, &now, "g"
				case p < 90:
					o.State = connector.StatePending
				case p < 93:
					o.State, o.Failed, o.LastError = connector.StateFailed, true, "400 invalid e-mail address"
				case p < 96:
					o.State, o.ExpiredAt = connector.StateExpired, &now
				case p < 99:
					u.Active, o.State, o.Disabled, o.GuestID = false, connector.StateDisabled, true, "g"
				default:
					u.Active, o.State, o.InvitedAt, o.GuestID = false, connector.StateInvited, &inv, "g"
				}
				ch := connector.Change{Events: []connector.Event{{Type: "user.created", Actor: "bench", At: now}}}
				created, err := st.CreateUser(context.Background(), u, ch)
				if err != nil {
					b.Error(err)
					return
				}
				if i == 20 { // an invited user
					first.Store(created.ID)
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	// Give the timeline user a history of its own.
	id := first.Load().(string)
	for k := 0; k < 20; k++ {
		if _, err := st.UpdateUser(context.Background(), id, func(u *connector.User) (connector.Change, error) {
			return connector.Change{Events: []connector.Event{{Subject: id, Type: "bench.event", Actor: "bench", At: now}}}, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	return id
}

// BenchmarkConsole renders the console's pages over 100k users (SQLite):
// go test -run XXX -bench Console -benchtime 200x ./admin/
func BenchmarkConsole(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "pb.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	clock := testkit.NewClock(testkit.Epoch)
	start := time.Now()
	id := seedConsole(b, st, benchUsers, clock.Now())
	b.Logf("seeded %d users in %s", benchUsers, time.Since(start).Round(time.Millisecond))
	svc := connector.NewService(st, connector.Options{Clock: clock})
	srv, err := New(Options{Service: svc, Console: st, Tokens: []Token{{Name: "alice", SHA256: config.HashToken(aliceToken)}}})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	sid, _ := srv.sessions.create("alice")
	pages := []struct{ name, path string }{
		{"Overview", "/admin/"},
		{"User", "/admin/users/" + url.PathEscape(id)},
		{"SearchExact", "/admin/search?email=user-050000@agency0.gov.sg"},
		{"SearchPrefix", "/admin/search?email=user-0500"},
		{"APIEvents", "/admin/api/events?after=50000&limit=1000"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", p.path, nil)
				req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sid})
				if strings.HasPrefix(p.path, "/admin/api/") {
					req.Header.Set("Authorization", "Bearer "+aliceToken)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK && rec.Code != http.StatusSeeOther {
					b.Fatalf("%s = %d: %s", p.path, rec.Code, rec.Body.String())
				}
			}
		})
	}
}
