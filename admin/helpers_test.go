package admin

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/store/sqlite"
)

const aliceToken = "alice-secret-token-0123456789abcdefghijkl"

type env struct {
	t     *testing.T
	st    *sqlite.Store
	svc   *connector.Service
	clock *testkit.Clock
	srv   *Server
	ts    *httptest.Server
}

func newEnv(t *testing.T, tlsServer bool) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := testkit.NewClock(testkit.Epoch)
	svc := connector.NewService(st, connector.Options{Clock: clock, Policy: connector.PolicyOptions{
		AllowedDomains: []string{"gov.sg", "*.gov.sg"}, BlockedDomains: []string{"blocked.gov.sg"}}})
	srv, err := New(Options{Service: svc, Console: st, Tokens: []Token{{Name: "alice", SHA256: config.HashToken(aliceToken)}}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, svc: svc, clock: clock, srv: srv}
	if tlsServer {
		e.ts = httptest.NewTLSServer(srv.Handler())
	} else {
		e.ts = httptest.NewServer(srv.Handler())
	}
	t.Cleanup(e.ts.Close)
	return e
}

// client returns a client with a cookie jar that does not follow redirects.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := e.ts.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in:\n%s", body)
	}
	return m[1]
}

func (e *env) get(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Get(e.ts.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *env) post(c *http.Client, path string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.PostForm(e.ts.URL+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn signs c in and returns the session's CSRF token.
func (e *env) signIn(c *http.Client) string {
	e.t.Helper()
	_, body := e.get(c, "/admin/login")
	resp, _ := e.post(c, "/admin/login", url.Values{"csrf": {csrfOf(e.t, body)}, "token": {aliceToken}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
		e.t.Fatalf("sign in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = e.get(c, "/admin/")
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("overview after sign-in: %d\n%s", resp.StatusCode, body)
	}
	return csrfOf(e.t, body)
}

// mkUser creates a user through the Service and then sets its facts as
// the worker and reconciler would have.
func (e *env) mkUser(email string, facts func(o *connector.Onboarding)) connector.User {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.svc.CreateUser(ctx, "scim:test", connector.User{UserName: email, Active: true, Emails: []string{email}})
	if err != nil {
		e.t.Fatal(err)
	}
	if facts == nil {
		return u
	}
	u, err = e.st.UpdateUser(ctx, u.ID, func(u *connector.User) (connector.Change, error) {
		facts(&u.Onboarding)
		return connector.Change{}, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func invited(now time.Time) func(o *connector.Onboarding) {
	return func(o *connector.Onboarding) {
		inv, exp := now, now.Add(3*24*time.Hour)
		o.InvitedAt, o.ExpiresAt, o.GuestID, o.State = &inv, &exp, "guest-1", connector.StateInvited
	}
}

func failed(o *connector.Onboarding) {
	o.Failed, o.LastError, o.State = true, "400 invalid e-mail address", connector.StateFailed
}

func (e *env) events(id string) []connector.Event {
	e.t.Helper()
	evs, err := e.st.SubjectEvents(context.Background(), id, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func hasEvent(evs []connector.Event, typ, actor string) bool {
	for _, ev := range evs {
		if ev.Type == typ && ev.Actor == actor {
			return true
		}
	}
	return false
}

func contains(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}
