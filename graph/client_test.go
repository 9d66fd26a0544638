package graph_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/graph/graphsim"
	"github.com/passbridge/passbridge/internal/testkit"
)

// simCred is a static credential: tokens minted by the simulator.
type simCred struct {
	sim   *graphsim.Sim
	roles []string // nil: the simulator's granted permissions
	calls int
	mu    sync.Mutex
}

func (c *simCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	res := strings.TrimSuffix(o.Scopes[0], "/.default")
	var tok string
	var exp time.Time
	if c.roles != nil {
		tok, exp = c.sim.TokenWithRoles(res, c.roles...)
	} else {
		tok, exp = c.sim.Token(res)
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: exp}, nil
}

type fixture struct {
	sim    *graphsim.Sim
	url    string
	client *graph.Client
	clock  *testkit.Clock
}

func setup(t *testing.T, opts graph.Options, simOpts ...graphsim.Option) *fixture {
	t.Helper()
	clk := testkit.NewClock(time.Now().UTC().Truncate(time.Second))
	sim, srv := graphsim.Start(append([]graphsim.Option{graphsim.WithClock(clk.Now)}, simOpts...)...)
	t.Cleanup(srv.Close)
	opts.Endpoint = srv.URL
	if opts.TokenCredential == nil {
		opts.TokenCredential = &simCred{sim: sim}
	}
	opts.Now, opts.Sleep = clk.Now, clk.Sleep
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 5 * time.Second
	}
	c, err := graph.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sim: sim, url: srv.URL, client: c, clock: clk}
}

func dirErr(t *testing.T, err error) *connector.DirectoryError {
	t.Helper()
	var de *connector.DirectoryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a DirectoryError", err, err)
	}
	return de
}

var ctx = context.Background()

func invitation(email string) connector.Invitation {
	return connector.Invitation{Email: email, RedirectURL: "https://portal.example/welcome", SendEmail: true}
}

func TestInvite(t *testing.T) {
	f := setup(t, graph.Options{})
	res, err := f.client.Invite(ctx, connector.Invitation{
		Email: "alice@agency.gov.sg", DisplayName: "Alice", RedirectURL: "https://portal.example/welcome",
		SendEmail: false, Message: "Welcome", CCRecipients: []string{"boss@agency.gov.sg"}, Language: "en-GB",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.GuestID == "" || res.Status != "PendingAcceptance" || !strings.HasPrefix(res.RedeemURL, "https://") {
		t.Errorf("result %v", res)
	}
	inv := f.sim.Invitations()[0]
	if inv.SendMessage || inv.Message != "Welcome" || inv.Language != "en-GB" || fmt.Sprint(inv.CCRecipients) != "[boss@agency.gov.sg]" ||
		inv.RedirectURL != "https://portal.example/welcome" || inv.DisplayName != "Alice" {
		t.Errorf("sent %+v", inv)
	}
	// Inviting again returns the same guest.
	again, err := f.client.Invite(ctx, invitation("alice@agency.gov.sg"))
	if err != nil || again.GuestID != res.GuestID {
		t.Errorf("again: %v %v", again, err)
	}
	if f.sim.MailsSent("alice@agency.gov.sg") != 1 {
		t.Errorf("mails sent %d", f.sim.MailsSent("alice@agency.gov.sg"))
	}
	// Invalid address: permanent, with Graph's code.
	_, err = f.client.Invite(ctx, invitation("not-an-address"))
	de := dirErr(t, err)
	if de.Class != connector.Permanent || de.Status != 400 || de.Code != "BadRequest" || de.Op != "invite" {
		t.Errorf("invalid address: %+v", de)
	}
	// Two cc recipients: refused before sending.
	calls := f.sim.Calls("POST /invitations")
	inv2 := invitation("bob@agency.gov.sg")
	inv2.CCRecipients = []string{"a@agency.gov.sg", "b@agency.gov.sg"}
	if _, err := f.client.Invite(ctx, inv2); connector.ClassOf(err) != connector.Permanent || f.sim.Calls("POST /invitations") != calls {
		t.Errorf("two cc: %v", err)
	}
}

func TestInviteNotRetried(t *testing.T) {
	f := setup(t, graph.Options{RequestTimeout: 100 * time.Millisecond})
	// The invitation takes effect, then the answer never comes.
	f.sim.InjectFault(graphsim.Fault{Route: "POST /invitations", Hang: true, AfterHandling: true, Times: 1})
	_, err := f.client.Invite(ctx, invitation("alice@agency.gov.sg"))
	if de := dirErr(t, err); de.Class != connector.Transient {
		t.Fatalf("timeout: %+v", de)
	}
	if n := f.sim.Calls("POST /invitations"); n != 1 {
		t.Errorf("POST /invitations sent %d times", n)
	}
	// The caller looks the guest up instead of inviting again.
	g, err := f.client.FindGuestByEmail(ctx, "alice@agency.gov.sg")
	if err != nil || g.ExternalUserState != "PendingAcceptance" {
		t.Errorf("lookup: %+v %v", g, err)
	}
	// 429 and 503 are not retried either (the SDK's retry handler is gone).
	for _, st := range []int{429, 503, 504} {
		f.sim.InjectFault(graphsim.Fault{Route: "POST /invitations", Status: st, RetryAfter: 2 * time.Second, Times: 1})
		before := f.sim.Calls("POST /invitations")
		_, err := f.client.Invite(ctx, invitation("bob@agency.gov.sg"))
		de := dirErr(t, err)
		if de.Class != connector.Transient || de.Status != st || de.RetryAfter != 2*time.Second {
			t.Errorf("%d: %+v", st, de)
		}
		if n := f.sim.Calls("POST /invitations") - before; n != 1 {
			t.Errorf("%d: sent %d times", st, n)
		}
	}
	if n := f.sim.InvitationCount("bob@agency.gov.sg"); n != 0 {
		t.Errorf("bob invited %d times", n)
	}
}

func TestInvitationRateLimit(t *testing.T) {
	f := setup(t, graph.Options{})
	for i := 0; i < 151; i++ {
		if _, err := f.client.Invite(ctx, invitation(fmt.Sprintf("u%d@agency.gov.sg", i))); err != nil {
			t.Fatalf("invite %d: %v", i, err)
		}
	}
	// The client waited rather than meeting Graph's 429: a window of 5 s
	// plus the default 250 ms margin.
	if s := f.clock.Sleeps(); len(s) != 1 || s[0] != 5*time.Second+250*time.Millisecond {
		t.Errorf("sleeps %v", s)
	}
	if n := len(f.sim.Invitations()); n != 151 {
		t.Errorf("invitations %d", n)
	}
}

func TestFindGuestByEmail(t *testing.T) {
	f := setup(t, graph.Options{})
	res, err := f.client.Invite(ctx, invitation("o'brien@agency.gov.sg"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := f.client.FindGuestByEmail(ctx, "O'Brien@agency.gov.sg")
	if err != nil || g.ID != res.GuestID || !g.AccountEnabled || g.StateChangedAt == nil {
		t.Fatalf("found %+v %v", g, err)
	}
	_, err = f.client.FindGuestByEmail(ctx, "nobody@agency.gov.sg")
	if de := dirErr(t, err); de.Class != connector.NotFound {
		t.Errorf("missing: %+v", de)
	}
	if n := f.sim.Calls("GET /users"); n != 3 { // mail, then otherMails for the missing one
		t.Errorf("GET /users %d", n)
	}
}

func TestGetGuestsBatchRetry(t *testing.T) {
	f := setup(t, graph.Options{})
	var ids []string
	for i := 0; i < 25; i++ {
		r, err := f.client.Invite(ctx, invitation(fmt.Sprintf("u%d@agency.gov.sg", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.GuestID)
	}
	if err := f.sim.Redeem(ids[3]); err != nil {
		t.Fatal(err)
	}
	if err := f.client.DeleteUser(ctx, ids[4]); err != nil {
		t.Fatal(err)
	}
	// Two sub-requests throttled inside a 200 $batch answer.
	f.sim.InjectFault(graphsim.Fault{Route: "GET /users/{id}", Status: 429, RetryAfter: 3 * time.Second, Times: 2})
	got, err := f.client.GetGuests(ctx, append(ids, ids[0], "00000000-0000-0000-0000-000000000000"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 26 {
		t.Errorf("results %d", len(got))
	}
	for i, id := range ids {
		r := got[id]
		switch i {
		case 3:
			if r.Err != nil || r.Guest.ExternalUserState != "Accepted" || r.Guest.StateChangedAt == nil {
				t.Errorf("redeemed: %+v", r)
			}
		case 4:
			if connector.ClassOf(r.Err) != connector.NotFound {
				t.Errorf("deleted: %+v", r)
			}
		default:
			if r.Err != nil || r.Guest.ID != id || r.Guest.ExternalUserState != "PendingAcceptance" || !r.Guest.AccountEnabled {
				t.Errorf("%d: %+v", i, r)
			}
		}
	}
	if s := f.clock.Sleeps(); len(s) != 1 || s[0] != 3*time.Second {
		t.Errorf("sleeps %v", s)
	}
	// 20 + 6 requests: two batches, plus one retry batch for the throttled.
	if n := f.sim.Calls("POST /$batch"); n != 3 {
		t.Errorf("batches %d", n)
	}
	if n := f.sim.Calls("GET /users/{id}"); n != 26+2 { // 25 + one unknown id (the duplicate is dropped)
		t.Errorf("sub-requests %d", n)
	}
}

func TestGetGuestsThrottledTooLong(t *testing.T) {
	f := setup(t, graph.Options{MaxRetries: 2})
	r, err := f.client.Invite(ctx, invitation("a@agency.gov.sg"))
	if err != nil {
		t.Fatal(err)
	}
	f.sim.InjectFault(graphsim.Fault{Route: "GET /users/{id}", Status: 503})
	got, err := f.client.GetGuests(ctx, []string{r.GuestID})
	if err != nil {
		t.Fatal(err)
	}
	de := dirErr(t, got[r.GuestID].Err)
	if de.Class != connector.Transient || de.Status != 503 {
		t.Errorf("got %+v", de)
	}
	if n := f.sim.Calls("GET /users/{id}"); n != 3 {
		t.Errorf("tries %d", n)
	}
	// Retry-After beyond MaxRetryWait goes back to the caller at once.
	f.sim.ClearFaults()
	f.sim.InjectFault(graphsim.Fault{Route: "GET /users/{id}", Status: 429, RetryAfter: 10 * time.Minute, RetryAfterDate: true, Times: 1})
	got, _ = f.client.GetGuests(ctx, []string{r.GuestID})
	de = dirErr(t, got[r.GuestID].Err)
	if de.Class != connector.Transient || de.RetryAfter != 10*time.Minute {
		t.Errorf("long retry-after: %+v", de)
	}
}

func TestJustInvitedIsTransient(t *testing.T) {
	f := setup(t, graph.Options{}, graphsim.WithReplicationLag(30*time.Second))
	r, err := f.client.Invite(ctx, invitation("a@agency.gov.sg"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.client.GetGuests(ctx, []string{r.GuestID})
	if err != nil {
		t.Fatal(err)
	}
	de := dirErr(t, got[r.GuestID].Err)
	if de.Class != connector.Transient || de.Code != "Directory_ObjectNotFound" || de.Status != 404 {
		t.Errorf("got %+v", de)
	}
}

func TestAuthenticationMethods(t *testing.T) {
	f := setup(t, graph.Options{})
	a, _ := f.client.Invite(ctx, invitation("a@agency.gov.sg"))
	b, _ := f.client.Invite(ctx, invitation("b@agency.gov.sg"))
	if err := f.sim.RegisterMFA(b.GuestID, "microsoftAuthenticatorAuthenticationMethod"); err != nil {
		t.Fatal(err)
	}
	got, err := f.client.AuthenticationMethods(ctx, []string{a.GuestID, b.GuestID, "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got[a.GuestID].Methods) != "[passwordAuthenticationMethod]" ||
		fmt.Sprint(got[b.GuestID].Methods) != "[passwordAuthenticationMethod microsoftAuthenticatorAuthenticationMethod]" {
		t.Errorf("methods %+v", got)
	}
	if connector.ClassOf(got["missing"].Err) != connector.NotFound {
		t.Errorf("missing: %+v", got["missing"])
	}
}

func TestGuestChanges(t *testing.T) {
	f := setup(t, graph.Options{}, graphsim.WithPageSize(2))
	var ids []string
	for _, e := range []string{"a@agency.gov.sg", "b@agency.gov.sg", "c@agency.gov.sg"} {
		r, err := f.client.Invite(ctx, invitation(e))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.GuestID)
	}
	changes, link, err := f.client.GuestChanges(ctx, "")
	if err != nil || len(changes) != 3 || link == "" {
		t.Fatalf("first round: %d %q %v", len(changes), link, err)
	}
	if changes[0].Mail != "a@agency.gov.sg" || changes[0].ExternalUserState != "PendingAcceptance" {
		t.Errorf("first: %+v", changes[0])
	}
	_ = f.sim.Redeem(ids[0])
	if err := f.client.DeleteUser(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	changes, link2, err := f.client.GuestChanges(ctx, link)
	if err != nil || len(changes) != 2 || link2 == "" {
		t.Fatalf("second round: %+v %v", changes, err)
	}
	if changes[0].ID != ids[0] || changes[0].ExternalUserState != "Accepted" || changes[1].ID != ids[1] || !changes[1].Removed {
		t.Errorf("changes %+v", changes)
	}
	if changes, _, err := f.client.GuestChanges(ctx, link2); err != nil || len(changes) != 0 {
		t.Errorf("third round: %+v %v", changes, err)
	}
	// A delta link Graph refuses starts a new round.
	changes, link3, err := f.client.GuestChanges(ctx, f.url+"/v1.0/users/delta?$deltatoken=garbage")
	if err != nil || len(changes) != 2 || link3 == "" {
		t.Errorf("refused link: %+v %v", changes, err)
	}
}

func TestAuditEvents(t *testing.T) {
	f := setup(t, graph.Options{}, graphsim.WithPageSize(2))
	r, _ := f.client.Invite(ctx, invitation("a@agency.gov.sg"))
	_ = f.sim.Redeem(r.GuestID)
	old := f.clock.Now()
	_ = f.sim.AcceptAgreement(r.GuestID, "tou-old", "Old")
	f.clock.Sleep(ctx, time.Hour)
	since := f.clock.Now()
	for i, name := range []string{"Privacy Policy", "Terms of Use", "MDM AUP"} {
		f.clock.Sleep(ctx, time.Minute)
		if i == 2 {
			_ = f.sim.DeclineAgreement(r.GuestID, "mdm", name)
			continue
		}
		_ = f.sim.AcceptAgreement(r.GuestID, fmt.Sprintf("agr-%d", i), name)
	}
	evs, err := f.client.AuditEvents(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("events %+v", evs)
	}
	if evs[0].TargetName != "Privacy Policy" || evs[0].Activity != "Accept Terms Of Use" || evs[0].UserID != r.GuestID ||
		!strings.Contains(evs[0].UserPrincipal, "#EXT#") || evs[0].TargetID != "agr-0" || evs[0].At.Before(since) {
		t.Errorf("first %+v", evs[0])
	}
	if evs[2].Activity != "Decline Terms Of Use" || evs[2].TargetID != "mdm" {
		t.Errorf("last %+v", evs[2])
	}
	all, err := f.client.AuditEvents(ctx, time.Time{})
	if err != nil || len(all) != 4 || !all[0].At.Equal(old) {
		t.Errorf("all: %+v %v", all, err)
	}
}

func TestUserWrites(t *testing.T) {
	f := setup(t, graph.Options{})
	r, _ := f.client.Invite(ctx, invitation("a@agency.gov.sg"))
	if err := f.client.SetAccountEnabled(ctx, r.GuestID, false); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.sim.User(r.GuestID); u.AccountEnabled {
		t.Error("still enabled")
	}
	if err := f.client.RevokeSessions(ctx, r.GuestID); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.sim.User(r.GuestID); u.SessionsRevokedAt.IsZero() {
		t.Error("sessions not revoked")
	}
	if err := f.client.DeleteUser(ctx, r.GuestID); err != nil {
		t.Fatal(err)
	}
	if err := f.client.DeleteUser(ctx, r.GuestID); err != nil {
		t.Errorf("delete again: %v", err)
	}
	err := f.client.SetAccountEnabled(ctx, r.GuestID, true)
	if de := dirErr(t, err); de.Class != connector.NotFound || de.Code != "Request_ResourceNotFound" {
		t.Errorf("patch deleted: %+v", de)
	}
}

func TestGroups(t *testing.T) {
	f := setup(t, graph.Options{})
	r, _ := f.client.Invite(ctx, invitation("a@agency.gov.sg"))
	gid, err := f.client.CreateGroup(ctx, "SEED users", "seed-users")
	if err != nil || gid == "" {
		t.Fatalf("create: %q %v", gid, err)
	}
	for i := 0; i < 2; i++ {
		if err := f.client.AddGroupMember(ctx, gid, r.GuestID); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	if m, _ := f.sim.GroupMembers(gid); fmt.Sprint(m) != "["+r.GuestID+"]" {
		t.Errorf("members %v", m)
	}
	for i := 0; i < 2; i++ {
		if err := f.client.RemoveGroupMember(ctx, gid, r.GuestID); err != nil {
			t.Fatalf("remove %d: %v", i, err)
		}
	}
	if m, _ := f.sim.GroupMembers(gid); len(m) != 0 {
		t.Errorf("members %v", m)
	}
	err = f.client.AddGroupMember(ctx, gid, "00000000-0000-0000-0000-000000000000")
	if connector.ClassOf(err) != connector.NotFound {
		t.Errorf("add missing user: %v", err)
	}
	// A 5xx on group creation is not retried (it may have been created).
	f.sim.InjectFault(graphsim.Fault{Route: "POST /groups", Status: 500, Times: 1})
	if _, err := f.client.CreateGroup(ctx, "x", "x"); connector.ClassOf(err) != connector.Transient || f.sim.Calls("POST /groups") != 2 {
		t.Errorf("5xx create: %v, calls %d", err, f.sim.Calls("POST /groups"))
	}
	// A 429 is (it was not processed).
	f.sim.InjectFault(graphsim.Fault{Route: "POST /groups", Status: 429, RetryAfter: time.Second, Times: 1})
	if _, err := f.client.CreateGroup(ctx, "y", "y"); err != nil || f.sim.Calls("POST /groups") != 4 {
		t.Errorf("429 create: %v, calls %d", err, f.sim.Calls("POST /groups"))
	}
}

func TestErrorClasses(t *testing.T) {
	f := setup(t, graph.Options{MaxRetries: 2}, graphsim.WithoutPermission(graphsim.PermAuditLogReadAll))
	r, _ := f.client.Invite(ctx, invitation("a@agency.gov.sg"))

	_, err := f.client.AuditEvents(ctx, time.Time{})
	de := dirErr(t, err)
	if de.Class != connector.Permanent || de.Status != 403 || de.Code != "Authorization_RequestDenied" || de.Permission != "AuditLog.Read.All" {
		t.Errorf("403: %+v", de)
	}
	if !strings.Contains(err.Error(), "grant AuditLog.Read.All (Application) and admin-consent") {
		t.Errorf("403 text: %s", err)
	}

	// 5xx on an idempotent call: retried with backoff, then transient.
	f.sim.InjectFault(graphsim.Fault{Route: "PATCH /users/{id}", Status: 500, Times: 5})
	err = f.client.SetAccountEnabled(ctx, r.GuestID, false)
	if de := dirErr(t, err); de.Class != connector.Transient || de.Status != 500 {
		t.Errorf("500: %+v", de)
	}
	if n := f.sim.Calls("PATCH /users/{id}"); n != 3 {
		t.Errorf("PATCH tries %d", n)
	}
	f.sim.ClearFaults()

	// 429 with an HTTP-date Retry-After, then success.
	before := len(f.clock.Sleeps())
	f.sim.InjectFault(graphsim.Fault{Route: "PATCH /users/{id}", Status: 429, RetryAfter: 7 * time.Second, RetryAfterDate: true, Times: 1})
	if err := f.client.SetAccountEnabled(ctx, r.GuestID, false); err != nil {
		t.Errorf("429 then ok: %v", err)
	}
	if s := f.clock.Sleeps()[before:]; len(s) != 1 || s[0] != 7*time.Second {
		t.Errorf("sleeps %v", s)
	}

	// 401: a token the simulator does not accept (transient: tenant
	// configuration, not the user's fault; not retried in the call).
	bad := setup(t, graph.Options{TokenCredential: badCred{}, MaxRetries: -1})
	_, err = bad.client.FindGuestByEmail(ctx, "a@agency.gov.sg")
	de = dirErr(t, err)
	if de.Class != connector.Transient || de.Status != 401 || de.Code != "InvalidAuthenticationToken" {
		t.Errorf("401: %+v", de)
	}
	if strings.Contains(err.Error(), "not-a-token") {
		t.Errorf("token in error text: %s", err)
	}

	// Timeouts are transient.
	slow := setup(t, graph.Options{RequestTimeout: 50 * time.Millisecond, MaxRetries: -1})
	slow.sim.InjectFault(graphsim.Fault{Route: "GET /users", Hang: true})
	_, err = slow.client.FindGuestByEmail(ctx, "a@agency.gov.sg")
	if de := dirErr(t, err); de.Class != connector.Transient {
		t.Errorf("timeout: %+v", de)
	}
}

type badCred struct{}

func (badCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "not-a-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestInviteErrorHidesSecrets(t *testing.T) {
	f := setup(t, graph.Options{})
	f.sim.InjectFault(graphsim.Fault{Route: "POST /invitations", Status: 500, Times: 1})
	_, err := f.client.Invite(ctx, invitation("secret-person@agency.gov.sg"))
	if err == nil || strings.Contains(err.Error(), "portal.example") || strings.Contains(err.Error(), "Bearer") {
		t.Errorf("error text %q", err)
	}
	res, err := f.client.Invite(ctx, invitation("secret-person@agency.gov.sg"))
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(res); strings.Contains(s, res.RedeemURL) {
		t.Errorf("redeem URL printed: %s", s)
	}
}

func TestCheckPermissions(t *testing.T) {
	f := setup(t, graph.Options{}, graphsim.WithoutPermission(graphsim.PermAuditLogReadAll, graphsim.PermGroupCreate))
	checks := f.client.CheckPermissions(ctx)
	byPerm := map[string]graph.PermissionCheck{}
	for _, c := range checks {
		byPerm[c.Permission] = c
	}
	for _, p := range []string{"credential", "User.ReadWrite.All", "User.Invite.All", "UserAuthenticationMethod.Read.All", "GroupMember.ReadWrite.All"} {
		if !byPerm[p].OK {
			t.Errorf("%s: %+v", p, byPerm[p])
		}
	}
	for _, p := range []string{"AuditLog.Read.All", "Group.Create"} {
		c := byPerm[p]
		if c.OK || c.Fix != "grant "+p+" (Application) and admin-consent" {
			t.Errorf("%s: %+v", p, c)
		}
	}
	if d := byPerm["AuditLog.Read.All"].Detail; !strings.Contains(d, "403") {
		t.Errorf("audit detail %q", d)
	}
	if f.sim.Calls("POST /invitations") != 0 || f.sim.Calls("POST /groups") != 0 {
		t.Error("CheckPermissions wrote")
	}
}

func TestCheckPermissionsOpaqueToken(t *testing.T) {
	f := setup(t, graph.Options{TokenCredential: graph.TokenFunc(func(context.Context, string) (string, time.Time, error) {
		return "opaque", time.Now().Add(time.Hour), nil
	})})
	for _, c := range f.client.CheckPermissions(ctx) {
		if c.Permission == "User.Invite.All" && (!c.Unverified || !strings.Contains(c.Detail, "not verifiable without sending an invitation")) {
			t.Errorf("invite: %+v", c)
		}
	}
}

// TestManagedIdentity runs azidentity's real managed identity credential
// (App Service: IDENTITY_ENDPOINT + IDENTITY_HEADER) against the simulator,
// alone and inside DefaultAzureCredential.
func TestManagedIdentity(t *testing.T) {
	for _, kind := range []string{graph.CredentialManaged, graph.CredentialDefault} {
		t.Run(kind, func(t *testing.T) {
			sim, srv := graphsim.Start() // real clock: MSAL caches tokens by wall time
			t.Cleanup(srv.Close)
			for _, k := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "MSI_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"} {
				t.Setenv(k, "") // registers the restore
				os.Unsetenv(k)
			}
			t.Setenv("IDENTITY_ENDPOINT", graphsim.IdentityEndpoint(srv.URL))
			t.Setenv("IDENTITY_HEADER", sim.IdentityHeader())
			c, err := graph.New(ctx, graph.Options{Endpoint: srv.URL + "/", Credential: kind})
			if err != nil {
				t.Fatal(err)
			}
			r, err := c.Invite(ctx, invitation("mi@agency.gov.sg"))
			if err != nil {
				t.Fatal(err)
			}
			g, err := c.FindGuestByEmail(ctx, "mi@agency.gov.sg")
			if err != nil || g.ID != r.GuestID {
				t.Fatalf("find: %+v %v", g, err)
			}
			if n := sim.Calls("GET /_sim/identity/token"); n != 1 {
				t.Errorf("token requests %d (want 1, cached)", n)
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	cases := map[string]graph.Options{
		"fail/http remote":     {Endpoint: "http://graph.example.com", TokenCredential: badCred{}},
		"fail/relative":        {Endpoint: "graph.microsoft.com", TokenCredential: badCred{}},
		"fail/unknown kind":    {Credential: "password"},
		"fail/secret no id":    {Credential: graph.CredentialSecret},
		"fail/cert no file":    {Credential: graph.CredentialCertificate, TenantID: "t", ClientID: "c", CertificatePath: "/nonexistent.pem"},
		"ok/national cloud":    {Endpoint: "https://graph.microsoft.us", Credential: graph.CredentialSecret, TenantID: "t", ClientID: "c", ClientSecret: "s", AuthorityHost: "https://login.microsoftonline.us"},
		"ok/localhost http":    {Endpoint: "http://localhost:8081", TokenCredential: badCred{}},
		"ok/default with v1.0": {Endpoint: "https://graph.microsoft.com/v1.0", TokenCredential: badCred{}},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := graph.New(ctx, o)
			if strings.HasPrefix(name, "ok/") != (err == nil) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestBatchForbiddenNamesPermission(t *testing.T) {
	f := setup(t, graph.Options{}, graphsim.WithoutPermission(graphsim.PermUserAuthMethodReadAll))
	r, _ := f.client.Invite(ctx, invitation("a@agency.gov.sg"))
	got, err := f.client.AuthenticationMethods(ctx, []string{r.GuestID})
	if err != nil {
		t.Fatal(err)
	}
	de := dirErr(t, got[r.GuestID].Err)
	if de.Class != connector.Permanent || de.Status != 403 || de.Permission != "UserAuthenticationMethod.Read.All" {
		t.Errorf("got %+v", de)
	}
}

func TestCertificateCredential(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048) // Entra app certificates are RSA
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "passbridge-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "app.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = graph.New(ctx, graph.Options{Credential: graph.CredentialCertificate, TenantID: "00000000-0000-0000-0000-000000000001",
		ClientID: "00000000-0000-0000-0000-000000000002", CertificatePath: path})
	if err != nil {
		t.Errorf("certificate credential: %v", err)
	}
}

// DeleteGroup deletes; a group already gone is not an error; a missing
// permission is a permanent error that names it.
func TestDeleteGroup(t *testing.T) {
	f := setup(t, graph.Options{}, graphsim.WithPermissions(append(graphsim.DefaultPermissions(), graphsim.PermGroupReadWriteAll)...))
	gid, err := f.client.CreateGroup(ctx, "Ours", "ours")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := f.client.DeleteGroup(ctx, gid); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	if _, ok := f.sim.GroupMembers(gid); ok {
		t.Error("group still there")
	}

	f = setup(t, graph.Options{})
	gid, _ = f.client.CreateGroup(ctx, "Ours", "ours")
	de := dirErr(t, f.client.DeleteGroup(ctx, gid))
	if de.Class != connector.Permanent || de.Status != 403 || de.Permission != graph.PermGroupDelete {
		t.Errorf("403: %+v", de)
	}
}

// Sign-in activity is optional: without Entra ID P1 the check says the
// inactivity rules stay off, and config check does not fail for it.
func TestCheckPermissionsSignInActivity(t *testing.T) {
	for _, available := range []bool{true, false} {
		f := setup(t, graph.Options{})
		if _, err := f.sim.AddGuest("someone@agency.gov.sg", ""); err != nil {
			t.Fatal(err)
		}
		f.sim.SetSignInActivityAvailable(available)
		var got *graph.PermissionCheck
		for _, c := range f.client.CheckPermissions(ctx) {
			if c.Permission == "signInActivity" {
				got = &c
			}
		}
		switch {
		case got == nil:
			t.Fatalf("available=%v: no signInActivity check", available)
		case !got.Optional:
			t.Errorf("available=%v: not optional: %+v", available, *got)
		case got.OK != available:
			t.Errorf("available=%v: OK=%v: %+v", available, got.OK, *got)
		case !available && (!strings.Contains(got.Detail, "403") || !strings.Contains(got.Fix, "Entra ID P1")):
			t.Errorf("unavailable check does not say why or what to do: %+v", *got)
		}
	}
}
