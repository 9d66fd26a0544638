package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

func TestSignInSetsAStrictHttpOnlySessionCookie(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			e := newEnv(t, tlsOn)
			c := e.client()
			resp, _ := e.get(c, "/admin/")
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
				t.Fatalf("GET /admin/ signed out = %d %s, want 303 to /admin/login", resp.StatusCode, resp.Header.Get("Location"))
			}
			_, body := e.get(c, "/admin/login")
			contains(t, body, `<label for="token">`, `class="skip" href="#main"`)
			resp, body = e.post(c, "/admin/login", url.Values{"csrf": {csrfOf(t, body)}, "token": {"wrong"}})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong token = %d, want 401", resp.StatusCode)
			}
			resp, _ = e.post(c, "/admin/login", url.Values{"csrf": {csrfOf(t, body)}, "token": {aliceToken}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("right token = %d, want 303", resp.StatusCode)
			}
			var sc *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == sessionCookie {
					sc = ck
				}
			}
			if sc == nil {
				t.Fatal("no session cookie")
			}
			if !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/admin/" || sc.Secure != tlsOn {
				t.Errorf("session cookie = HttpOnly %v SameSite %v Path %q Secure %v; want HttpOnly, Strict, /admin/, Secure=%v",
					sc.HttpOnly, sc.SameSite, sc.Path, sc.Secure, tlsOn)
			}
			if len(sc.Value) < 43 {
				t.Errorf("session id %q is shorter than 256 bits in base64", sc.Value)
			}
			resp, body = e.get(c, "/admin/")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("overview = %d", resp.StatusCode)
			}
			contains(t, body, `<svg id="funnel"`, `<caption>Users by onboarding state</caption>`, "Signed in as <strong>alice</strong>")
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP = %q", csp)
			}
		})
	}
}

func TestFailedSignInsAreLimited(t *testing.T) {
	e := newEnv(t, false)
	c := e.client()
	for i := 0; i < 5; i++ {
		_, body := e.get(c, "/admin/login")
		if resp, _ := e.post(c, "/admin/login", url.Values{"csrf": {csrfOf(t, body)}, "token": {"guess"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d = %d", i, resp.StatusCode)
		}
	}
	_, body := e.get(c, "/admin/login")
	resp, _ := e.post(c, "/admin/login", url.Values{"csrf": {csrfOf(t, body)}, "token": {aliceToken}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 5 failures = %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The API's bearer shares the limit.
	req, _ := http.NewRequest("GET", e.ts.URL+"/admin/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	r2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusTooManyRequests {
		t.Errorf("API after 5 failures = %d, want 429", r2.StatusCode)
	}
	e.clock.Advance(6 * 60 * 1e9)
	_, body = e.get(c, "/admin/login")
	if resp, _ := e.post(c, "/admin/login", url.Values{"csrf": {csrfOf(t, body)}, "token": {aliceToken}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the window = %d, want 303", resp.StatusCode)
	}
}

func TestStateChangingRequestsWithoutTheCSRFTokenAreRefused(t *testing.T) {
	e := newEnv(t, false)
	u := e.mkUser("ann@tech.gov.sg", nil)
	c := e.client()
	csrf := e.signIn(c)
	before := len(e.events(u.ID))
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"none", url.Values{"lifecycleHold": {"legal"}}},
		{"wrong", url.Values{"lifecycleHold": {"legal"}, "csrf": {csrf[:len(csrf)-2] + "xx"}}},
		{"empty", url.Values{"lifecycleHold": {"legal"}, "csrf": {""}}},
	} {
		resp, body := e.post(c, "/admin/users/"+u.ID+"/hold", tc.form)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: POST hold = %d, want 403", tc.name, resp.StatusCode)
		}
		contains(t, body, "Refused")
	}
	for _, path := range []string{"/admin/users/" + u.ID + "/resend", "/admin/users/" + u.ID + "/retry", "/admin/logout"} {
		if resp, _ := e.post(c, path, url.Values{}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without csrf = %d, want 403", path, resp.StatusCode)
		}
	}
	// The sign-in form has its own token.
	if resp, _ := e.post(e.client(), "/admin/login", url.Values{"token": {aliceToken}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without csrf = %d, want 403", resp.StatusCode)
	}
	// A CSV upload without the token is refused before the file is read.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "people.csv")
	io.WriteString(fw, "email\nbob@tech.gov.sg\n")
	mw.Close()
	resp, err := c.Post(e.ts.URL+"/admin/import", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("import without csrf = %d, want 403", resp.StatusCode)
	}
	if got := len(e.events(u.ID)); got != before {
		t.Errorf("refused requests wrote %d events", got-before)
	}
	if p, _ := e.st.ListUsers(context.Background(), connector.Query{}); p.Total != 1 {
		t.Errorf("refused import created users: %d", p.Total)
	}
}

func TestEachActionWritesAnEventWithTheAdminsName(t *testing.T) {
	e := newEnv(t, false)
	inv := e.mkUser("inv@tech.gov.sg", invited(e.clock.Now()))
	fail := e.mkUser("fail@tech.gov.sg", failed)
	c := e.client()
	csrf := e.signIn(c)
	const actor = "admin:alice"

	resp, _ := e.post(c, "/admin/users/"+inv.ID+"/hold", url.Values{"csrf": {csrf}, "lifecycleHold": {"legal review"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("hold = %d", resp.StatusCode)
	}
	if u, _ := e.st.GetUser(context.Background(), inv.ID); u.Onboarding.LifecycleHold != "legal review" || u.Onboarding.HoldBy != actor {
		t.Errorf("hold stored = %q by %q", u.Onboarding.LifecycleHold, u.Onboarding.HoldBy)
	}
	_, page := e.get(c, "/admin/users/"+inv.ID+"?done=hold")
	contains(t, page, "The hold is set.", "legal review", connector.EventAdminHoldSet, actor)

	if resp, _ := e.post(c, "/admin/users/"+inv.ID+"/resend", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resend = %d", resp.StatusCode)
	}
	u, _ := e.st.GetUser(context.Background(), inv.ID)
	if u.Onboarding.InvitedAt != nil || u.Onboarding.State != connector.StatePending || u.Onboarding.LifecycleHold != "legal review" {
		t.Errorf("after resend: invitedAt %v state %s hold %q; want a new pending onboarding that keeps the hold",
			u.Onboarding.InvitedAt, u.Onboarding.State, u.Onboarding.LifecycleHold)
	}
	if resp, _ := e.post(c, "/admin/users/"+inv.ID+"/hold", url.Values{"csrf": {csrf}, "clear": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear hold = %d", resp.StatusCode)
	}
	if resp, _ := e.post(c, "/admin/users/"+fail.ID+"/retry", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry = %d", resp.StatusCode)
	}
	if u, _ := e.st.GetUser(context.Background(), fail.ID); u.Onboarding.Failed || u.Onboarding.State != connector.StatePending {
		t.Errorf("after retry: failed %v state %s", u.Onboarding.Failed, u.Onboarding.State)
	}
	evs := e.events(inv.ID)
	for _, typ := range []string{connector.EventAdminHoldSet, connector.EventAdminResend, connector.EventAdminHoldCleared} {
		if !hasEvent(evs, typ, actor) {
			t.Errorf("no %s event by %s on the invited user", typ, actor)
		}
	}
	if !hasEvent(e.events(fail.ID), connector.EventAdminRetry, actor) {
		t.Errorf("no %s event by %s", connector.EventAdminRetry, actor)
	}
	// An invitation job was queued for each.
	jobs, err := e.st.ClaimJobs(context.Background(), "t", e.clock.Now(), 60e9, 10)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, j := range jobs {
		kinds[j.Subject+"/"+string(j.Kind)]++
	}
	if kinds[inv.ID+"/invite"] == 0 || kinds[fail.ID+"/invite"] == 0 {
		t.Errorf("claimable jobs %v: want an invite for both", kinds)
	}

	// Refusals say why, and write nothing.
	pend := e.mkUser("pend@tech.gov.sg", nil)
	n := len(e.events(pend.ID))
	resp, body := e.post(c, "/admin/users/"+pend.ID+"/resend", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("resend of a queued invitation = %d, want 409", resp.StatusCode)
	}
	contains(t, body, "not been sent yet")
	if resp, _ := e.post(c, "/admin/users/"+pend.ID+"/retry", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusConflict {
		t.Errorf("retry of a pending user = %d, want 409", resp.StatusCode)
	}
	if len(e.events(pend.ID)) != n {
		t.Error("refused actions wrote events")
	}
}

func TestPagesListTheQueues(t *testing.T) {
	e := newEnv(t, false)
	now := e.clock.Now()
	e.mkUser("soon@tech.gov.sg", invited(now))
	e.mkUser("broken@tech.gov.sg", failed)
	e.mkUser("gone@tech.gov.sg", func(o *connector.Onboarding) { invited(now)(o) })
	ctx := context.Background()
	p, _ := e.st.ListUsers(ctx, connector.Query{Filter: connector.Eq(connector.AttrUserName, "gone@tech.gov.sg"), Count: 1})
	if _, err := e.svc.UpdateUser(ctx, "scim:test", p.Items[0].ID, nil, func(u *connector.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	e.signIn(c)
	_, body := e.get(c, "/admin/")
	contains(t, body, "soon@tech.gov.sg", "broken@tech.gov.sg", "400 invalid e-mail address", "gone@tech.gov.sg",
		"Expiring in the next 7 days (2)", "Pending deprovisioning (1 users")

	resp, _ := e.get(c, "/admin/search?email=broken@tech.gov.sg")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/users/") {
		t.Errorf("exact search = %d %s, want a redirect to the user", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = e.get(c, "/admin/search?email=so")
	contains(t, body, "1 found", "soon@tech.gov.sg")
	_, body = e.get(c, "/admin/search?email=nobody")
	contains(t, body, "0 found")
	resp, _ = e.get(c, "/admin/users/nope")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown user = %d", resp.StatusCode)
	}
	resp, css := e.get(c, "/admin/static/style.css")
	if resp.StatusCode != http.StatusOK || !strings.Contains(css, ":focus-visible") {
		t.Errorf("style.css = %d", resp.StatusCode)
	}
}

func apiCall(t *testing.T, e *env, method, path, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestAPINeedsAnAdminBearer(t *testing.T) {
	e := newEnv(t, false)
	for _, tok := range []string{"", "nope"} {
		if resp, _ := apiCall(t, e, "GET", "/admin/api/events", tok, ""); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("token %q = %d, want 401 with WWW-Authenticate", tok, resp.StatusCode)
		}
	}
	// A console session cookie is not an API credential.
	c := e.client()
	e.signIn(c)
	resp, _ := e.get(c, "/admin/api/events")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API with only a session cookie = %d, want 401", resp.StatusCode)
	}
	if resp, _ := apiCall(t, e, "GET", "/admin/api/events", aliceToken, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("with the admin token = %d", resp.StatusCode)
	}
}

func TestAPIEventsPages(t *testing.T) {
	e := newEnv(t, false)
	for i := 0; i < 3; i++ {
		e.mkUser(fmt.Sprintf("u%d@tech.gov.sg", i), nil) // one user.created each (and more)
	}
	all, _ := e.st.ListEvents(context.Background(), "", 0, 0)
	var got []int64
	after := int64(0)
	for pages := 0; ; pages++ {
		if pages > len(all) {
			t.Fatal("paging does not end")
		}
		resp, b := apiCall(t, e, "GET", fmt.Sprintf("/admin/api/events?after=%d&limit=2", after), aliceToken, "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("events = %d %s", resp.StatusCode, b)
		}
		var p EventsPage
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Events) > 2 {
			t.Fatalf("limit 2 gave %d", len(p.Events))
		}
		for _, ev := range p.Events {
			got = append(got, ev.ID)
			if ev.Type == "" || ev.Subject == "" || ev.At.IsZero() {
				t.Errorf("event %+v lacks fields", ev)
			}
		}
		if !p.HasMore {
			if p.Next != got[len(got)-1] {
				t.Errorf("last page next = %d, want %d", p.Next, got[len(got)-1])
			}
			break
		}
		after = p.Next
	}
	if len(got) != len(all) {
		t.Errorf("paged %d events, the log has %d", len(got), len(all))
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Errorf("ids not increasing: %v", got)
		}
	}
	// Nothing new: next stays.
	_, b := apiCall(t, e, "GET", fmt.Sprintf("/admin/api/events?after=%d", got[len(got)-1]), aliceToken, "")
	var p EventsPage
	json.Unmarshal(b, &p)
	if len(p.Events) != 0 || p.Next != got[len(got)-1] || p.HasMore {
		t.Errorf("at the end = %s", b)
	}
	for _, q := range []string{"after=-1", "after=x", "limit=0", "limit=1001"} {
		if resp, _ := apiCall(t, e, "GET", "/admin/api/events?"+q, aliceToken, ""); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s = %d, want 400", q, resp.StatusCode)
		}
	}
}

func TestAPIPolicyCheck(t *testing.T) {
	e := newEnv(t, false)
	for _, tc := range []struct {
		body, field, reason string
		allowed             bool
	}{
		{`{"email":"ann@tech.gov.sg"}`, "", "matches the organisational domain *.gov.sg", true},
		{`{"email":"ann@blocked.gov.sg"}`, "emails", "is not accepted for sign-up", false},
		{`{"email":"ann@gmail.com"}`, "emails", "is not an organisational domain", false},
		{`{"email":"ann@tech.gov.sg","mailboxType":"LiteMail"}`, connector.FieldMailboxType, "LiteMail mailboxes cannot sign up", false},
		{`{"email":"not an address"}`, "emails", "not a well-formed e-mail address", false},
	} {
		resp, b := apiCall(t, e, "POST", "/admin/api/policy/check", aliceToken, tc.body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s = %d %s", tc.body, resp.StatusCode, b)
			continue
		}
		var v struct {
			Allowed bool   `json:"allowed"`
			Field   string `json:"field"`
			Reason  string `json:"reason"`
		}
		json.Unmarshal(b, &v)
		if v.Allowed != tc.allowed || v.Field != tc.field || !strings.Contains(v.Reason, tc.reason) {
			t.Errorf("%s = %s; want allowed %v field %q reason ~%q", tc.body, b, tc.allowed, tc.field, tc.reason)
		}
	}
	for _, bad := range []string{``, `{`, `{"email":""}`, `{"mail":"x@y.z"}`} {
		if resp, _ := apiCall(t, e, "POST", "/admin/api/policy/check", aliceToken, bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q = %d, want 400", bad, resp.StatusCode)
		}
	}
	if p, _ := e.st.ListUsers(context.Background(), connector.Query{}); p.Total != 0 {
		t.Errorf("policy check stored %d users", p.Total)
	}
}

func TestOverviewReportsAFailingWebhookReceiver(t *testing.T) {
	e := newEnv(t, false)
	srv, err := New(Options{Service: e.svc, Console: e.st, Tokens: e.srv.o.Tokens,
		Webhooks: func(context.Context) ([]WebhookReceiver, error) {
			return []WebhookReceiver{
				{Name: "siem", URL: "https://siem.example/events", Pending: 12, Failing: true, ConsecutiveFailures: 9, LastError: "503 Service Unavailable"},
				{Name: "audit", URL: "https://audit.example/in"},
			}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.ts.Config.Handler = srv.Handler()
	c := e.client()
	e.signIn(c)
	_, body := e.get(c, "/admin/")
	contains(t, body, "Webhook receivers", "webhook receiver siem keeps failing (9 attempts in a row; 12 pending): 503 Service Unavailable",
		"https://audit.example/in", "failing</strong> (9 in a row)")
}
