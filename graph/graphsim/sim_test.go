package graphsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/graph/graphsim"
	"github.com/passbridge/passbridge/internal/testkit"
)

type env struct {
	t     *testing.T
	sim   *graphsim.Sim
	srv   *httptest.Server
	token string
	clock *testkit.Clock
}

// post sends body as JSON to the control API and returns the status.
func (e *env) post(path string, body any) int {
	e.t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(e.srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func newEnv(t *testing.T, opts ...graphsim.Option) *env {
	t.Helper()
	clk := testkit.NewClock(testkit.Epoch)
	sim, srv := graphsim.Start(append([]graphsim.Option{graphsim.WithClock(clk.Now)}, opts...)...)
	t.Cleanup(srv.Close)
	tok, _ := sim.Token(srv.URL)
	return &env{t: t, sim: sim, srv: srv, token: tok, clock: clk}
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (e *env) do(method, path string, body any) resp {
	e.t.Helper()
	return e.doCtx(context.Background(), method, path, body)
}

func (e *env) doCtx(ctx context.Context, method, path string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.srv.URL + path
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("client-request-id", "test-crid")
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return resp{status: -1, raw: []byte(err.Error())}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

func (r resp) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r resp) errMessage() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["message"].(string)
	return c
}

func (r resp) values() []map[string]any {
	vs, _ := r.body["value"].([]any)
	var out []map[string]any
	for _, v := range vs {
		out = append(out, v.(map[string]any))
	}
	return out
}

func (e *env) invite(email string, send bool) resp {
	e.t.Helper()
	return e.do("POST", "/v1.0/invitations", map[string]any{
		"invitedUserEmailAddress": email, "inviteRedirectUrl": "https://portal.example/welcome",
		"sendInvitationMessage": send,
	})
}

func (e *env) mustInvite(email string) string {
	e.t.Helper()
	r := e.invite(email, true)
	if r.status != http.StatusCreated {
		e.t.Fatalf("invite %s: %d %s", email, r.status, r.raw)
	}
	return r.body["invitedUser"].(map[string]any)["id"].(string)
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	e.token = ""
	r := e.do("GET", "/v1.0/users", nil)
	if r.status != 401 || r.errCode() != "InvalidAuthenticationToken" {
		t.Fatalf("no token: %d %s", r.status, r.raw)
	}
	inner := r.body["error"].(map[string]any)["innerError"].(map[string]any)
	if inner["client-request-id"] != "test-crid" || inner["request-id"] == "" || inner["date"] == nil {
		t.Errorf("innerError = %v", inner)
	}
	e.token = "abc.def.ghi"
	if r := e.do("GET", "/v1.0/users", nil); r.status != 401 {
		t.Errorf("bad token: %d", r.status)
	}
	// Managed identity, App Service style.
	req, _ := http.NewRequest("GET", graphsim.IdentityEndpoint(e.srv.URL)+"?api-version=2019-08-01&resource="+url.QueryEscape(e.srv.URL), nil)
	req.Header.Set("X-IDENTITY-HEADER", "wrong")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("wrong identity header: %d", res.StatusCode)
	}
	req.Header.Set("X-IDENTITY-HEADER", e.sim.IdentityHeader())
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	if res.StatusCode != 200 || tok["token_type"] != "Bearer" || tok["resource"] != e.srv.URL || tok["expires_on"] == "" {
		t.Fatalf("identity token: %d %v", res.StatusCode, tok)
	}
	e.token = tok["access_token"].(string)
	if r := e.do("GET", "/v1.0/users?$top=1&$select=id", nil); r.status != 200 {
		t.Errorf("with MI token: %d %s", r.status, r.raw)
	}
	// Expiry follows the simulator's clock.
	e.clock.Advance(2 * time.Hour)
	if r := e.do("GET", "/v1.0/users", nil); r.status != 401 {
		t.Errorf("expired token: %d", r.status)
	}
}

func TestPermissionWithheld(t *testing.T) {
	e := newEnv(t, graphsim.WithoutPermission(graphsim.PermAuditLogReadAll))
	r := e.do("GET", "/v1.0/auditLogs/directoryAudits?$top=1", nil)
	if r.status != 403 || r.errCode() != "Authorization_RequestDenied" || r.errMessage() != "Insufficient privileges to complete the operation." {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1.0/users?$top=1", nil); r.status != 200 {
		t.Errorf("users: %d", r.status)
	}
	// A token minted without User.Invite.All but with User.ReadWrite.All may
	// still invite (Graph accepts the higher privilege).
	e.token, _ = e.sim.TokenWithRoles(e.srv.URL, graphsim.PermUserReadAll)
	if r := e.invite("a@agency.gov.sg", false); r.status != 403 {
		t.Errorf("invite with User.Read.All only: %d", r.status)
	}
}

func TestInvitation(t *testing.T) {
	e := newEnv(t)
	for name, email := range map[string]string{"no at": "alice", "spaces": "a b@x.gov.sg", "no domain dot": "a@localhost", "empty": ""} {
		r := e.invite(email, true)
		if r.status != 400 || r.errCode() != "BadRequest" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	r := e.do("POST", "/v1.0/invitations", map[string]any{"invitedUserEmailAddress": "a@agency.gov.sg"})
	if r.status != 400 {
		t.Errorf("missing redirect: %d", r.status)
	}
	r = e.do("POST", "/v1.0/invitations", map[string]any{
		"invitedUserEmailAddress": "alice@agency.gov.sg", "inviteRedirectUrl": "https://portal.example/",
		"sendInvitationMessage": true, "invitedUserDisplayName": "Alice",
		"invitedUserMessageInfo": map[string]any{"messageLanguage": "en-US", "customizedMessageBody": "hi", "ccRecipients": []any{
			map[string]any{"emailAddress": map[string]any{"address": "boss@agency.gov.sg"}},
		}},
	})
	if r.status != 201 {
		t.Fatalf("invite: %d %s", r.status, r.raw)
	}
	id := r.body["invitedUser"].(map[string]any)["id"].(string)
	if r.body["status"] != "PendingAcceptance" || !strings.HasPrefix(r.body["inviteRedeemUrl"].(string), "https://login.microsoftonline.com/redeem?rd=") || id == "" {
		t.Errorf("answer: %v", r.body)
	}
	// Repeat: same user, second invitation recorded, no mail this time.
	r2 := e.invite("Alice@agency.gov.sg", false)
	if got := r2.body["invitedUser"].(map[string]any)["id"]; got != id {
		t.Errorf("repeat invitation gave user %v, want %s", got, id)
	}
	if n := e.sim.InvitationCount("alice@agency.gov.sg"); n != 2 {
		t.Errorf("InvitationCount = %d", n)
	}
	if n := e.sim.MailsSent("alice@agency.gov.sg"); n != 1 {
		t.Errorf("MailsSent = %d", n)
	}
	inv := e.sim.Invitations()[0]
	if inv.Language != "en-US" || len(inv.CCRecipients) != 1 || inv.Message != "hi" {
		t.Errorf("recorded %+v", inv)
	}
	r = e.do("POST", "/v1.0/invitations", map[string]any{
		"invitedUserEmailAddress": "bob@agency.gov.sg", "inviteRedirectUrl": "https://portal.example/",
		"invitedUserMessageInfo": map[string]any{"ccRecipients": []any{
			map[string]any{"emailAddress": map[string]any{"address": "x@agency.gov.sg"}},
			map[string]any{"emailAddress": map[string]any{"address": "y@agency.gov.sg"}},
		}},
	})
	if r.status != 400 {
		t.Errorf("two cc: %d", r.status)
	}
	u, _ := e.sim.User(id)
	if u.UserPrincipalName != "alice_agency.gov.sg#EXT#@passbridgesim.onmicrosoft.com" {
		t.Errorf("UPN = %s", u.UserPrincipalName)
	}
	if err := e.sim.Redeem("alice@agency.gov.sg"); err != nil {
		t.Fatal(err)
	}
	if r := e.invite("alice@agency.gov.sg", false); r.body["status"] != "Completed" {
		t.Errorf("invitation of accepted guest: %v", r.body["status"])
	}
}

func TestGetUserSelectAndRedeem(t *testing.T) {
	e := newEnv(t)
	id := e.mustInvite("alice@agency.gov.sg")
	r := e.do("GET", "/v1.0/users/"+id, nil)
	if r.status != 200 || r.body["mail"] != "alice@agency.gov.sg" {
		t.Fatalf("get: %d %s", r.status, r.raw)
	}
	if _, ok := r.body["externalUserState"]; ok {
		t.Error("externalUserState returned without $select")
	}
	r = e.do("GET", "/v1.0/users/"+id+"?$select=externalUserState,externalUserStateChangeDateTime,accountEnabled,mail", nil)
	if r.body["externalUserState"] != "PendingAcceptance" || r.body["accountEnabled"] != true || r.body["id"] != id {
		t.Fatalf("select: %s", r.raw)
	}
	if _, ok := r.body["displayName"]; ok {
		t.Error("displayName returned though not selected")
	}
	e.clock.Advance(30 * time.Minute)
	if err := e.sim.Redeem(id); err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", "/v1.0/users/"+id+"?$select=externalUserState,externalUserStateChangeDateTime", nil)
	if r.body["externalUserState"] != "Accepted" || r.body["externalUserStateChangeDateTime"] != "2026-03-02T09:30:00Z" {
		t.Errorf("after redeem: %s", r.raw)
	}
	// By UPN (the # escaped).
	if r := e.do("GET", "/v1.0/users/"+url.PathEscape("alice_agency.gov.sg#EXT#@passbridgesim.onmicrosoft.com"), nil); r.status != 200 {
		t.Errorf("by UPN: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/v1.0/users/"+id+"?$select=nonsense", nil); r.status != 400 {
		t.Errorf("bad select: %d", r.status)
	}
	if r := e.do("GET", "/v1.0/users/00000000-0000-0000-0000-000000000000", nil); r.status != 404 || r.errCode() != "Request_ResourceNotFound" {
		t.Errorf("missing: %d %s", r.status, r.raw)
	}
	if err := e.sim.Redeem("nobody@x.gov.sg"); !errors.Is(err, graphsim.ErrNoUser) {
		t.Errorf("redeem unknown: %v", err)
	}
}

func TestReplicationLag(t *testing.T) {
	e := newEnv(t, graphsim.WithReplicationLag(10*time.Second))
	id := e.mustInvite("alice@agency.gov.sg")
	if r := e.do("GET", "/v1.0/users/"+id, nil); r.status != 404 || r.errCode() != "Directory_ObjectNotFound" {
		t.Errorf("just invited: %d %s", r.status, r.raw)
	}
	e.clock.Advance(11 * time.Second)
	if r := e.do("GET", "/v1.0/users/"+id, nil); r.status != 200 {
		t.Errorf("later: %d", r.status)
	}
}

func TestListUsersFilter(t *testing.T) {
	e := newEnv(t, graphsim.WithPageSize(2))
	a := e.mustInvite("o'brien@agency.gov.sg")
	b := e.mustInvite("bob@agency.gov.sg")
	c := e.mustInvite("carol@agency.gov.sg")
	cases := map[string]struct {
		filter string
		want   []string
	}{
		"mail eq with quote":  {"mail eq 'O''Brien@agency.gov.sg'", []string{a}},
		"otherMails any":      {"otherMails/any(m:m eq 'bob@agency.gov.sg')", []string{b}},
		"mail or otherMails":  {"mail eq 'carol@agency.gov.sg' or otherMails/any(x:x eq 'carol@agency.gov.sg')", []string{c}},
		"id in":               {fmt.Sprintf("id in ('%s','%s')", a, c), []string{a, c}},
		"startswith":          {"startswith(mail,'bo')", []string{b}},
		"and":                 {"userType eq 'Guest' and accountEnabled eq true and not startswith(mail,'c')", []string{a, b}},
		"no match":            {"mail eq 'nobody@agency.gov.sg'", nil},
		"creationType filter": {"creationType eq 'Invitation' and mail eq 'bob@agency.gov.sg'", []string{b}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := e.do("GET", "/v1.0/users?$select=id,mail&$filter="+url.QueryEscape(tc.filter), nil)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			var got []string
			for _, v := range r.values() {
				got = append(got, v["id"].(string))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v want %v", got, tc.want)
			}
		})
	}
	// Paging across three users, page size 2.
	r := e.do("GET", "/v1.0/users?$select=id", nil)
	next, _ := r.body["@odata.nextLink"].(string)
	if len(r.values()) != 2 || next == "" {
		t.Fatalf("page 1: %s", r.raw)
	}
	r = e.do("GET", next, nil)
	if len(r.values()) != 1 || r.body["@odata.nextLink"] != nil {
		t.Errorf("page 2: %s", r.raw)
	}
	if r := e.do("GET", "/v1.0/users?$filter="+url.QueryEscape("mail eq"), nil); r.status != 400 {
		t.Errorf("bad filter: %d", r.status)
	}
	if r := e.do("GET", "/v1.0/users?$filter="+url.QueryEscape("faxNumber eq '1'"), nil); r.status != 400 || r.errCode() != "Request_UnsupportedQuery" {
		t.Errorf("unsupported property: %d %s", r.status, r.raw)
	}
}

func TestDelta(t *testing.T) {
	e := newEnv(t, graphsim.WithPageSize(2))
	a := e.mustInvite("a@agency.gov.sg")
	b := e.mustInvite("b@agency.gov.sg")
	c := e.mustInvite("c@agency.gov.sg")
	var ids []string
	r := e.do("GET", "/v1.0/users/delta?$select=id,mail,externalUserState", nil)
	for {
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		for _, v := range r.values() {
			ids = append(ids, v["id"].(string))
			if v["externalUserState"] != "PendingAcceptance" {
				t.Errorf("select lost across pages: %v", v)
			}
		}
		next, _ := r.body["@odata.nextLink"].(string)
		if next == "" {
			break
		}
		r = e.do("GET", next, nil)
	}
	delta, _ := r.body["@odata.deltaLink"].(string)
	if fmt.Sprint(ids) != fmt.Sprint([]string{a, b, c}) || !strings.Contains(delta, "$deltatoken=") {
		t.Fatalf("initial round: %v, delta %q", ids, delta)
	}
	r = e.do("GET", delta, nil)
	if len(r.values()) != 0 {
		t.Errorf("no changes: %s", r.raw)
	}
	delta = r.body["@odata.deltaLink"].(string)
	_ = e.sim.Redeem(a)
	if r := e.do("DELETE", "/v1.0/users/"+b, nil); r.status != 204 {
		t.Fatal(r.status)
	}
	r = e.do("GET", delta, nil)
	vs := r.values()
	if len(vs) != 2 || vs[0]["id"] != a || vs[0]["externalUserState"] != "Accepted" || vs[1]["id"] != b || vs[1]["@removed"] == nil {
		t.Errorf("changes: %s", r.raw)
	}
	if r := e.do("GET", "/v1.0/users/delta?$deltatoken=!!", nil); r.status != 400 {
		t.Errorf("bad token: %d", r.status)
	}
}

func TestRedemptionOutsideDelta(t *testing.T) {
	e := newEnv(t, graphsim.WithRedemptionOutsideDelta())
	a := e.mustInvite("a@agency.gov.sg")
	r := e.do("GET", "/v1.0/users/delta?$select=id", nil)
	delta := r.body["@odata.deltaLink"].(string)
	_ = e.sim.Redeem(a)
	if r := e.do("GET", delta, nil); len(r.values()) != 0 {
		t.Errorf("redemption visible in delta: %s", r.raw)
	}
}

func TestAuthenticationMethods(t *testing.T) {
	e := newEnv(t)
	id := e.mustInvite("a@agency.gov.sg")
	types := func() []string {
		r := e.do("GET", "/v1.0/users/"+id+"/authentication/methods", nil)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		var out []string
		for _, v := range r.values() {
			out = append(out, v["@odata.type"].(string))
		}
		return out
	}
	if got := types(); fmt.Sprint(got) != "[#microsoft.graph.passwordAuthenticationMethod]" {
		t.Errorf("before: %v", got)
	}
	if err := e.sim.RegisterMFA(id, ""); err != nil {
		t.Fatal(err)
	}
	if got := types(); len(got) != 2 || got[1] != "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod" {
		t.Errorf("after: %v", got)
	}
	if r := e.do("GET", "/v1.0/users/nope/authentication/methods", nil); r.status != 404 {
		t.Errorf("missing user: %d", r.status)
	}
}

func TestAuditLog(t *testing.T) {
	e := newEnv(t, graphsim.WithPageSize(2))
	id := e.mustInvite("a@agency.gov.sg")
	start := e.clock.Now()
	for i := 0; i < 3; i++ {
		e.clock.Advance(time.Minute)
		if err := e.sim.AcceptAgreement(id, fmt.Sprintf("agr-%d", i), "Terms of Use"); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(time.Minute)
	_ = e.sim.DeclineAgreement(id, "agr-9", "MDM AUP")
	f := fmt.Sprintf("activityDateTime ge %s and (activityDisplayName eq 'Accept Terms Of Use' or activityDisplayName eq 'Decline Terms Of Use')",
		start.Add(90*time.Second).Format(time.RFC3339))
	r := e.do("GET", "/v1.0/auditLogs/directoryAudits?$filter="+url.QueryEscape(f), nil)
	var evs []map[string]any
	for {
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		evs = append(evs, r.values()...)
		next, _ := r.body["@odata.nextLink"].(string)
		if next == "" {
			break
		}
		r = e.do("GET", next, nil)
	}
	if len(evs) != 3 {
		t.Fatalf("got %d events", len(evs))
	}
	if evs[0]["activityDisplayName"] != "Decline Terms Of Use" {
		t.Errorf("not newest first: %v", evs[0]["activityDisplayName"])
	}
	ev := evs[1]
	user := ev["initiatedBy"].(map[string]any)["user"].(map[string]any)
	tr := ev["targetResources"].([]any)[0].(map[string]any)
	if ev["category"] != "Policy" || ev["loggedByService"] != "Terms Of Use" || user["id"] != id ||
		!strings.HasSuffix(user["userPrincipalName"].(string), "#EXT#@passbridgesim.onmicrosoft.com") ||
		tr["type"] != "Policy" || tr["id"] != "agr-2" || tr["displayName"] != "Terms of Use" {
		t.Errorf("event shape: %v", ev)
	}
	r = e.do("GET", "/v1.0/auditLogs/directoryAudits?$filter="+url.QueryEscape("startswith(activityDisplayName,'Redeem')"), nil)
	if len(r.values()) != 0 {
		t.Errorf("no redemption yet: %s", r.raw)
	}
	_ = e.sim.Redeem(id)
	r = e.do("GET", "/v1.0/auditLogs/directoryAudits?$top=1&$filter="+url.QueryEscape("activityDisplayName eq 'Redeem external user invite'"), nil)
	if len(r.values()) != 1 {
		t.Errorf("redemption event: %s", r.raw)
	}
	if r := e.do("GET", "/v1.0/auditLogs/directoryAudits?$filter="+url.QueryEscape("activityDateTime gt 2026-01-01T00:00:00Z"), nil); r.status != 400 {
		t.Errorf("gt accepted: %d", r.status)
	}
}

func TestUserWrites(t *testing.T) {
	e := newEnv(t)
	id := e.mustInvite("a@agency.gov.sg")
	if r := e.do("PATCH", "/v1.0/users/"+id, map[string]any{"accountEnabled": false}); r.status != 204 {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if u, _ := e.sim.User(id); u.AccountEnabled {
		t.Error("still enabled")
	}
	if r := e.do("POST", "/v1.0/users/"+id+"/revokeSignInSessions", nil); r.status != 200 || r.body["value"] != true {
		t.Errorf("revoke: %d %s", r.status, r.raw)
	}
	if r := e.do("DELETE", "/v1.0/users/"+id, nil); r.status != 204 {
		t.Errorf("delete: %d", r.status)
	}
	r := e.do("DELETE", "/v1.0/users/"+id, nil)
	if r.status != 404 || r.errCode() != "Request_ResourceNotFound" {
		t.Errorf("delete again: %d %s", r.status, r.raw)
	}
	if r := e.do("PATCH", "/v1.0/users/"+id, map[string]any{"accountEnabled": true}); r.status != 404 {
		t.Errorf("patch deleted: %d", r.status)
	}
	// A deleted guest invited again is a new user.
	if id2 := e.mustInvite("a@agency.gov.sg"); id2 == id {
		t.Error("deleted user reused")
	}
}

func TestGroups(t *testing.T) {
	e := newEnv(t)
	uid := e.mustInvite("a@agency.gov.sg")
	r := e.do("POST", "/v1.0/groups", map[string]any{"displayName": "SEED", "mailNickname": "seed", "mailEnabled": false, "securityEnabled": true})
	if r.status != 201 || r.body["securityEnabled"] != true {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	gid := r.body["id"].(string)
	if r := e.do("POST", "/v1.0/groups", map[string]any{"displayName": "x"}); r.status != 400 {
		t.Errorf("incomplete group: %d", r.status)
	}
	ref := map[string]any{"@odata.id": e.srv.URL + "/v1.0/directoryObjects/" + uid}
	if r := e.do("POST", "/v1.0/groups/"+gid+"/members/$ref", ref); r.status != 204 {
		t.Fatalf("add: %d %s", r.status, r.raw)
	}
	r = e.do("POST", "/v1.0/groups/"+gid+"/members/$ref", ref)
	if r.status != 400 || !strings.Contains(r.errMessage(), "One or more added object references already exist") {
		t.Errorf("add again: %d %s", r.status, r.raw)
	}
	if m, _ := e.sim.GroupMembers(gid); fmt.Sprint(m) != fmt.Sprint([]string{uid}) {
		t.Errorf("members %v", m)
	}
	if r := e.do("DELETE", "/v1.0/groups/"+gid+"/members/"+uid+"/$ref", nil); r.status != 204 {
		t.Errorf("remove: %d", r.status)
	}
	if r := e.do("DELETE", "/v1.0/groups/"+gid+"/members/"+uid+"/$ref", nil); r.status != 404 {
		t.Errorf("remove again: %d", r.status)
	}
	if r := e.do("POST", "/v1.0/groups/nope/members/$ref", ref); r.status != 404 {
		t.Errorf("missing group: %d", r.status)
	}
	if e.sim.Calls("POST /groups/{id}/members/$ref") != 3 || e.sim.Calls("DELETE /groups/{id}/members/{memberId}/$ref") != 2 {
		t.Errorf("calls: %v", e.sim.AllCalls())
	}
}

func TestBatch(t *testing.T) {
	e := newEnv(t, graphsim.WithoutPermission(graphsim.PermUserAuthMethodReadAll))
	a := e.mustInvite("a@agency.gov.sg")
	b := e.mustInvite("b@agency.gov.sg")
	var reqs []map[string]any
	for i := 0; i < 21; i++ {
		reqs = append(reqs, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/users/" + a})
	}
	if r := e.do("POST", "/v1.0/$batch", map[string]any{"requests": reqs}); r.status != 400 {
		t.Errorf("21 requests: %d", r.status)
	}
	e.sim.InjectFault(graphsim.Fault{Route: "GET /users/{id}", Status: 429, RetryAfter: 7 * time.Second, Times: 1})
	r := e.do("POST", "/v1.0/$batch", map[string]any{"requests": []any{
		map[string]any{"id": "1", "method": "GET", "url": "/users/" + a + "?$select=externalUserState"},
		map[string]any{"id": "2", "method": "GET", "url": "users/" + b + "?$select=externalUserState", "headers": map[string]any{"ConsistencyLevel": "eventual"}},
		map[string]any{"id": "3", "method": "GET", "url": "/users/missing"},
		map[string]any{"id": "4", "method": "GET", "url": "/users/" + a + "/authentication/methods"},
		map[string]any{"id": "5", "method": "PATCH", "url": "/users/" + b, "body": map[string]any{"accountEnabled": false}, "headers": map[string]any{"Content-Type": "application/json"}},
		map[string]any{"id": "6", "method": "GET", "url": "/nonsense"},
	}})
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	got := map[string]map[string]any{}
	for _, v := range r.body["responses"].([]any) {
		m := v.(map[string]any)
		got[m["id"].(string)] = m
	}
	status := func(id string) float64 { return got[id]["status"].(float64) }
	if status("1") != 429 || got["1"]["headers"].(map[string]any)["Retry-After"] != "7" {
		t.Errorf("1: %v", got["1"])
	}
	if status("2") != 200 || got["2"]["body"].(map[string]any)["externalUserState"] != "PendingAcceptance" {
		t.Errorf("2: %v", got["2"])
	}
	if status("3") != 404 || status("4") != 403 || status("5") != 204 || status("6") != 400 {
		t.Errorf("statuses: %v %v %v %v", status("3"), status("4"), status("5"), status("6"))
	}
	if u, _ := e.sim.User(b); u.AccountEnabled {
		t.Error("PATCH in batch not applied")
	}
	if e.sim.Calls("POST /$batch") != 2 || e.sim.Calls("GET /users/{id}") != 3 || len(e.sim.UnexpectedCalls()) != 1 {
		t.Errorf("calls %v unexpected %v", e.sim.AllCalls(), e.sim.UnexpectedCalls())
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, graphsim.WithSeed(7))
	e.sim.InjectFault(graphsim.Fault{Route: "GET /users", Status: 503, Times: 2, RetryAfter: 2 * time.Second})
	for i := 0; i < 2; i++ {
		r := e.do("GET", "/v1.0/users", nil)
		if r.status != 503 || r.header.Get("Retry-After") != "2" {
			t.Errorf("try %d: %d %v", i, r.status, r.header)
		}
	}
	if r := e.do("GET", "/v1.0/users", nil); r.status != 200 {
		t.Errorf("after faults: %d", r.status)
	}
	e.sim.InjectFault(graphsim.Fault{Status: 429, RetryAfter: 30 * time.Second, RetryAfterDate: true, Times: 1})
	r := e.do("GET", "/v1.0/users", nil)
	if d, err := http.ParseTime(r.header.Get("Retry-After")); r.status != 429 || err != nil || !d.Equal(e.clock.Now().Add(30*time.Second)) {
		t.Errorf("date retry-after: %d %q", r.status, r.header.Get("Retry-After"))
	}
	// Fractional faults.
	e.sim.InjectFault(graphsim.Fault{Route: "GET /users", Status: 500, Fraction: 0.5})
	fails := 0
	for i := 0; i < 40; i++ {
		if e.do("GET", "/v1.0/users", nil).status == 500 {
			fails++
		}
	}
	if fails < 8 || fails > 32 {
		t.Errorf("fraction 0.5 gave %d/40 failures", fails)
	}
	e.sim.ClearFaults()
	// Hang until the client gives up; with AfterHandling the invitation
	// takes effect but the answer is lost.
	e.sim.InjectFault(graphsim.Fault{Route: "POST /invitations", Hang: true, AfterHandling: true, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r = e.doCtx(ctx, "POST", "/v1.0/invitations", map[string]any{"invitedUserEmailAddress": "a@agency.gov.sg", "inviteRedirectUrl": "https://x.example/"})
	if r.status != -1 {
		t.Errorf("hang answered %d", r.status)
	}
	if _, ok := e.sim.User("a@agency.gov.sg"); !ok || e.sim.InvitationCount("a@agency.gov.sg") != 1 {
		t.Error("invitation not taken into effect before the hang")
	}
	// Latency.
	e.sim.InjectFault(graphsim.Fault{Route: "GET /users", Latency: 20 * time.Millisecond, Times: 1})
	t0 := time.Now()
	if r := e.do("GET", "/v1.0/users", nil); r.status != 200 || time.Since(t0) < 20*time.Millisecond {
		t.Errorf("latency: %d after %v", r.status, time.Since(t0))
	}
}

func TestInvitationRateLimit(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 150; i++ {
		if r := e.invite(fmt.Sprintf("u%d@agency.gov.sg", i), false); r.status != 201 {
			t.Fatalf("invite %d: %d", i, r.status)
		}
	}
	r := e.invite("late@agency.gov.sg", false)
	if r.status != 429 || r.header.Get("Retry-After") != "5" {
		t.Fatalf("151st: %d %v", r.status, r.header.Get("Retry-After"))
	}
	e.clock.Advance(5 * time.Second)
	if r := e.invite("late@agency.gov.sg", false); r.status != 201 {
		t.Errorf("after window: %d", r.status)
	}
}

func TestUnexpectedCalls(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/v1.0/me", nil); r.status != 400 {
		t.Errorf("/me: %d", r.status)
	}
	if r := e.do("GET", "/beta/users", nil); r.status != 400 {
		t.Errorf("beta: %d", r.status)
	}
	if got := e.sim.UnexpectedCalls(); len(got) != 2 || got[0] != "GET /v1.0/me" {
		t.Errorf("unexpected = %v", got)
	}
}

func TestControlHTTP(t *testing.T) {
	e := newEnv(t)
	post := e.post
	id := e.mustInvite("a@agency.gov.sg")
	if st := post("/_sim/redeem", map[string]string{"email": "a@agency.gov.sg"}); st != 204 {
		t.Errorf("redeem: %d", st)
	}
	if st := post("/_sim/mfa", map[string]string{"user": id}); st != 204 {
		t.Errorf("mfa: %d", st)
	}
	if st := post("/_sim/agreements", map[string]any{"user": id, "agreementId": "tou", "agreementName": "Terms of Use"}); st != 204 {
		t.Errorf("agreement: %d", st)
	}
	if st := post("/_sim/redeem", map[string]string{"user": "nobody@x.gov.sg"}); st != 404 {
		t.Errorf("unknown redeem: %d", st)
	}
	if st := post("/_sim/faults", map[string]any{"route": "GET /users", "status": 429, "retryAfter": "3s", "times": 1}); st != 204 {
		t.Errorf("fault: %d", st)
	}
	if r := e.do("GET", "/v1.0/users", nil); r.status != 429 || r.header.Get("Retry-After") != "3" {
		t.Errorf("injected via HTTP: %d", r.status)
	}
	res, err := http.Get(e.srv.URL + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st graphsim.Stats
	_ = json.NewDecoder(res.Body).Decode(&st)
	res.Body.Close()
	if st.InvitationsByEmail["a@agency.gov.sg"] != 1 || st.MailsByEmail["a@agency.gov.sg"] != 1 || st.Calls["GET /users"] != 1 {
		t.Errorf("stats: %+v", st)
	}
	res, err = http.Get(e.srv.URL + "/_sim/users/" + id)
	if err != nil {
		t.Fatal(err)
	}
	var u graphsim.UserState
	_ = json.NewDecoder(res.Body).Decode(&u)
	res.Body.Close()
	if u.ExternalUserState != "Accepted" || len(u.Methods) != 2 {
		t.Errorf("user: %+v", u)
	}
	var tok map[string]any
	b, _ := json.Marshal(map[string]any{"roles": []string{"User.Read.All"}, "resource": e.srv.URL})
	res, err = http.Post(e.srv.URL+"/_sim/token", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	e.token = tok["access_token"].(string)
	if r := e.do("GET", "/v1.0/users", nil); r.status != 200 {
		t.Errorf("control token: %d", r.status)
	}
	if r := e.do("GET", "/v1.0/auditLogs/directoryAudits", nil); r.status != 403 {
		t.Errorf("control token without AuditLog.Read.All: %d", r.status)
	}
}

func TestServe(t *testing.T) {
	sim := graphsim.New()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a }) }()
	addr := <-addrc
	res, err := http.Get("http://" + addr.String() + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("stats: %d", res.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestDeltaFunctionSyntaxAndDependsOn(t *testing.T) {
	e := newEnv(t)
	e.mustInvite("a@agency.gov.sg")
	if r := e.do("GET", "/v1.0/users/delta()?$select=id", nil); r.status != 200 || len(r.values()) != 1 {
		t.Errorf("delta(): %d %s", r.status, r.raw)
	}
	if e.sim.Calls("GET /users/delta") != 1 {
		t.Errorf("calls %v", e.sim.AllCalls())
	}
	r := e.do("POST", "/v1.0/$batch", map[string]any{"requests": []any{
		map[string]any{"id": "1", "method": "GET", "url": "/users/missing"},
		map[string]any{"id": "2", "method": "GET", "url": "/users?$top=1", "dependsOn": []string{"1"}},
		map[string]any{"id": "2", "method": "GET", "url": "/users"},
	}})
	if r.status != 400 {
		t.Errorf("duplicate ids: %d", r.status)
	}
	r = e.do("POST", "/v1.0/$batch", map[string]any{"requests": []any{
		map[string]any{"id": "1", "method": "GET", "url": "/users/missing"},
		map[string]any{"id": "2", "method": "GET", "url": "/users?$top=1", "dependsOn": []string{"1"}},
	}})
	resps := r.body["responses"].([]any)
	if len(resps) != 2 || resps[1].(map[string]any)["status"].(float64) != 424 {
		t.Errorf("dependsOn: %s", r.raw)
	}
}

// DELETE /groups/{id} deletes the group with its memberships; Graph's least
// privileged application permission for it is Group.ReadWrite.All.
func TestDeleteGroup(t *testing.T) {
	e := newEnv(t, graphsim.WithPermissions(append(graphsim.DefaultPermissions(), graphsim.PermGroupReadWriteAll)...))
	r := e.do("POST", "/v1.0/groups", map[string]any{"displayName": "Ours", "mailNickname": "ours", "mailEnabled": false, "securityEnabled": true})
	gid := r.body["id"].(string)
	if r := e.do("DELETE", "/v1.0/groups/"+gid, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if _, ok := e.sim.GroupMembers(gid); ok {
		t.Error("group still there")
	}
	if r := e.do("DELETE", "/v1.0/groups/"+gid, nil); r.status != 404 || !strings.Contains(string(r.raw), "Request_ResourceNotFound") {
		t.Errorf("delete again: %d %s", r.status, r.raw)
	}

	d := newEnv(t) // the default permissions: Group.Create, GroupMember.ReadWrite.All
	r = d.do("POST", "/v1.0/groups", map[string]any{"displayName": "Ours", "mailNickname": "ours", "mailEnabled": false, "securityEnabled": true})
	if r := d.do("DELETE", "/v1.0/groups/"+r.body["id"].(string), nil); r.status != 403 {
		t.Errorf("delete without Group.ReadWrite.All: %d %s", r.status, r.raw)
	}
}
