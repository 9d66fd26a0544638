package scim_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/scim"
	"github.com/passbridge/passbridge/store/sqlite"
)

// clientEnv is a server with several clients' tokens (token = name + "-token").
type clientEnv struct {
	*env
}

func newClientEnv(t *testing.T, opts connector.Options, tokens ...scim.Token) clientEnv {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pb.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	svc := connector.NewService(st, opts)
	for i := range tokens {
		tokens[i].SHA256 = config.HashToken(tokens[i].Name + "-token")
	}
	s, err := scim.New(svc, scim.Options{Tokens: tokens, PublicURL: "https://passbridge.example", Ready: st.Ping})
	if err != nil {
		t.Fatalf("scim.New: %v", err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return clientEnv{&env{t: t, srv: srv, store: st, svc: svc}}
}

// as sends one request with client's token.
func (e clientEnv) as(client, method, path string, body any, headers ...string) resp {
	e.t.Helper()
	return fromKit(testkit.SCIM{Base: e.srv.URL, Token: client + "-token"}.Do(e.t, method, path, body, headers...))
}

func newUserBody(name string) map[string]any {
	return map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": name,
		"emails":   []any{map[string]any{"value": name, "primary": true}},
	}
}

func newGroupBody(name string, members ...string) map[string]any {
	var ms []any
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	b := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name}
	if ms != nil {
		b["members"] = ms
	}
	return b
}

func newPatchBody(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
}

func (e clientEnv) mustCreate(client, userName string) string {
	e.t.Helper()
	r := e.as(client, "POST", "/scim/v2/Users", newUserBody(userName))
	if r.status != 201 {
		e.t.Fatalf("%s creates %s: %d %s", client, userName, r.status, r.body)
	}
	return r.json(e.t)["id"].(string)
}

// Every operation with every kind of token: a 403 naming the missing scope
// (RFC 7644 error body, nothing done), or served.
func TestScopeMatrix(t *testing.T) {
	tokens := []scim.Token{
		{Name: "techbiz"}, // nil: all scopes
		{Name: "portal", Scopes: []string{"users:read", "users:write"}, OwnUsersOnly: true},
		{Name: "reader", Scopes: []string{"users:read"}},
		{Name: "writer", Scopes: []string{"users:write"}},
		{Name: "deleter", Scopes: []string{"users:delete"}},
		{Name: "grouper", Scopes: []string{"groups"}},
		{Name: "nothing", Scopes: []string{}},
	}
	e := newClientEnv(t, connector.Options{}, tokens...)
	scopesOf := map[string][]string{
		"techbiz": {"users:read", "users:write", "users:delete", "groups"},
		"portal":  {"users:read", "users:write"},
		"reader":  {"users:read"}, "writer": {"users:write"}, "deleter": {"users:delete"}, "grouper": {"groups"}, "nothing": nil,
	}
	const missing = "2c1f0d7e-0000-4000-8000-000000000000"
	ops := []struct {
		name, method, path string
		body               func(client string) any
		need               string // "" any valid token
	}{
		{"list users", "GET", "/scim/v2/Users", nil, "users:read"},
		{"filter users", "GET", "/scim/v2/Users?filter=userName+eq+%22x%40agency.gov.sg%22", nil, "users:read"},
		{"get user", "GET", "/scim/v2/Users/" + missing, nil, "users:read"},
		{"search users", "POST", "/scim/v2/Users/.search", func(string) any {
			return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": `userName eq "x@agency.gov.sg"`}
		}, "users:read"},
		{"create user", "POST", "/scim/v2/Users", func(c string) any { return newUserBody(c + "-new@agency.gov.sg") }, "users:write"},
		{"replace user", "PUT", "/scim/v2/Users/" + missing, func(c string) any { return newUserBody(c + "-put@agency.gov.sg") }, "users:write"},
		{"patch user", "PATCH", "/scim/v2/Users/" + missing, func(string) any {
			return newPatchBody(map[string]any{"op": "replace", "path": "active", "value": false})
		}, "users:write"},
		{"delete user", "DELETE", "/scim/v2/Users/" + missing, nil, "users:delete"},
		{"list groups", "GET", "/scim/v2/Groups", nil, "groups"},
		{"get group", "GET", "/scim/v2/Groups/" + missing, nil, "groups"},
		{"search groups", "POST", "/scim/v2/Groups/.search", func(string) any {
			return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}}
		}, "groups"},
		{"create group", "POST", "/scim/v2/Groups", func(c string) any { return newGroupBody(c + " group") }, "groups"},
		{"replace group", "PUT", "/scim/v2/Groups/" + missing, func(c string) any { return newGroupBody(c + " put") }, "groups"},
		{"patch group", "PATCH", "/scim/v2/Groups/" + missing, func(string) any {
			return newPatchBody(map[string]any{"op": "replace", "path": "displayName", "value": "x"})
		}, "groups"},
		{"delete group", "DELETE", "/scim/v2/Groups/" + missing, nil, "groups"},
		{"service provider config", "GET", "/scim/v2/ServiceProviderConfig", nil, ""},
		{"schemas", "GET", "/scim/v2/Schemas", nil, ""},
		{"schema", "GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", nil, ""},
		{"resource types", "GET", "/scim/v2/ResourceTypes", nil, ""},
		{"resource type", "GET", "/scim/v2/ResourceTypes/User", nil, ""},
	}
	for _, tk := range tokens {
		for _, op := range ops {
			has := op.need == ""
			for _, sc := range scopesOf[tk.Name] {
				has = has || sc == op.need
			}
			verdict := "allowed"
			if !has {
				verdict = "403"
			}
			t.Run(fmt.Sprintf("%s/%s/%s", tk.Name, op.name, verdict), func(t *testing.T) {
				var body any
				if op.body != nil {
					body = op.body(tk.Name)
				}
				r := e.as(tk.Name, op.method, op.path, body)
				if has {
					if r.status == 403 || r.status == 401 || r.status >= 500 {
						t.Fatalf("%s %s: %d %s, want it served", op.method, op.path, r.status, r.body)
					}
					return
				}
				m := r.json(t)
				detail, _ := m["detail"].(string)
				want := fmt.Sprintf("this client's token lacks the %q scope", op.need)
				if r.status != 403 || m["status"] != "403" || !strings.Contains(detail, want) ||
					!strings.Contains(fmt.Sprint(m["schemas"]), "urn:ietf:params:scim:api:messages:2.0:Error") {
					t.Fatalf("%s %s: %d %s, want a SCIM 403 saying %q", op.method, op.path, r.status, r.body, want)
				}
			})
		}
	}
	// Nothing was created by a refused request.
	for _, c := range []string{"reader", "deleter", "grouper", "nothing"} {
		if page, _ := e.svc.ListUsers(t.Context(), connector.Query{Filter: connector.Eq(connector.AttrUserName, c+"-new@agency.gov.sg")}); page.Total != 0 {
			t.Errorf("a user was created with %s's token", c)
		}
	}
	if page, _ := e.svc.ListGroups(t.Context(), connector.Query{}); page.Total != 2 {
		t.Errorf("%d groups, want 2 (techbiz's and grouper's)", page.Total)
	}
}

func TestOwnUsersOnly(t *testing.T) {
	e := newClientEnv(t, connector.Options{},
		scim.Token{Name: "techbiz"},
		scim.Token{Name: "portal", Scopes: []string{"users:read", "users:write"}, OwnUsersOnly: true},
		// An ownUsersOnly client with every scope: DELETE and groups.
		scim.Token{Name: "kiosk", OwnUsersOnly: true},
	)
	tb1 := e.mustCreate("techbiz", "tb1@agency.gov.sg")
	tb2 := e.mustCreate("techbiz", "tb2@agency.gov.sg")
	var mine []string
	for i := 1; i <= 3; i++ {
		mine = append(mine, e.mustCreate("portal", fmt.Sprintf("p%d@agency.gov.sg", i)))
	}
	// A user from before owners were stored: no owner.
	legacy, err := e.store.CreateUser(t.Context(), connector.User{UserName: "old@agency.gov.sg", Active: true, Emails: []string{"old@agency.gov.sg"},
		Onboarding: connector.Onboarding{State: connector.StatePending}}, connector.Change{})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := e.svc.GetUser(t.Context(), tb1); u.CreatedBy != "techbiz" {
		t.Errorf("tb1 CreatedBy = %q", u.CreatedBy)
	}

	ids := func(r resp) []string {
		var out []string
		for _, x := range r.json(t)["Resources"].([]any) {
			out = append(out, x.(map[string]any)["id"].(string))
		}
		return out
	}
	t.Run("list", func(t *testing.T) {
		r := e.as("portal", "GET", "/scim/v2/Users", nil)
		if r.status != 200 || r.json(t)["totalResults"] != float64(3) {
			t.Fatalf("portal's list: %d %s", r.status, r.body)
		}
		for _, id := range ids(r) {
			if id == tb1 || id == tb2 || id == legacy.ID {
				t.Errorf("portal's list shows another client's user %s", id)
			}
		}
		p1 := e.as("portal", "GET", "/scim/v2/Users?startIndex=1&count=2", nil)
		p2 := e.as("portal", "GET", "/scim/v2/Users?startIndex=3&count=2", nil)
		if p1.json(t)["totalResults"] != float64(3) || len(ids(p1)) != 2 || p2.json(t)["totalResults"] != float64(3) || len(ids(p2)) != 1 {
			t.Errorf("portal's pages: %s / %s", p1.body, p2.body)
		}
		if r := e.as("techbiz", "GET", "/scim/v2/Users", nil); r.json(t)["totalResults"] != float64(6) {
			t.Errorf("techbiz (not ownUsersOnly) sees %v users, want all 6", r.json(t)["totalResults"])
		}
	})
	t.Run("filter", func(t *testing.T) {
		for _, f := range []string{`userName eq "tb1@agency.gov.sg"`, `emails.value co "tb"`, `userName eq "old@agency.gov.sg"`} {
			r := e.as("portal", "GET", "/scim/v2/Users?filter="+strings.ReplaceAll(f, " ", "+"), nil)
			if r.status != 200 || r.json(t)["totalResults"] != float64(0) {
				t.Errorf("portal filters %s: %d %s, want none", f, r.status, r.body)
			}
		}
		r := e.as("portal", "GET", `/scim/v2/Users?filter=userName+sw+%22p%22+or+userName+sw+%22t%22`, nil)
		if r.json(t)["totalResults"] != float64(3) {
			t.Errorf("portal's or-filter: %s", r.body)
		}
		s := e.as("portal", "POST", "/scim/v2/Users/.search", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": `userName eq "tb2@agency.gov.sg"`})
		if s.status != 200 || s.json(t)["totalResults"] != float64(0) {
			t.Errorf("portal's .search for tb2: %d %s", s.status, s.body)
		}
	})
	t.Run("others-are-404", func(t *testing.T) {
		const nobody = "0d3b5c7e-1111-4222-8333-444455556666"
		missing := e.as("portal", "GET", "/scim/v2/Users/"+nobody, nil)
		if missing.status != 404 {
			t.Fatalf("GET of a missing id: %d", missing.status)
		}
		for _, id := range []string{tb1, legacy.ID} {
			want := strings.ReplaceAll(string(missing.body), nobody, id)
			for _, req := range []struct {
				client, method string
				body           any
				headers        []string
			}{
				{"portal", "GET", nil, nil},
				{"portal", "PUT", newUserBody("taken-over@agency.gov.sg"), nil},
				{"portal", "PATCH", newPatchBody(map[string]any{"op": "replace", "path": "active", "value": false}), nil},
				{"portal", "PATCH", newPatchBody(map[string]any{"op": "replace", "path": "active", "value": false}), []string{"If-Match", `W/"1"`}},
				{"kiosk", "GET", nil, nil},
				{"kiosk", "DELETE", nil, nil},
				{"kiosk", "DELETE", nil, []string{"If-Match", `W/"99"`}},
			} {
				r := e.as(req.client, req.method, "/scim/v2/Users/"+id, req.body, req.headers...)
				if r.status != 404 || string(r.body) != want {
					t.Errorf("%s %s another's user %s %v: %d %s, want the 404 of a missing id %s", req.client, req.method, id, req.headers, r.status, r.body, want)
				}
			}
		}
		// The portal's token cannot delete TechBiz's users at all: no scope.
		if r := e.as("portal", "DELETE", "/scim/v2/Users/"+tb1, nil); r.status != 403 || !strings.Contains(string(r.body), `lacks the \"users:delete\" scope`) {
			t.Errorf("portal DELETE techbiz's user: %d %s", r.status, r.body)
		}
		u, err := e.svc.GetUser(t.Context(), tb1)
		if err != nil || !u.Active || u.UserName != "tb1@agency.gov.sg" {
			t.Errorf("techbiz's user after the attempts: %+v, %v", u, err)
		}
	})
	t.Run("own-are-served", func(t *testing.T) {
		if r := e.as("portal", "GET", "/scim/v2/Users/"+mine[0], nil); r.status != 200 {
			t.Errorf("portal GET own: %d %s", r.status, r.body)
		}
		if r := e.as("portal", "PATCH", "/scim/v2/Users/"+mine[0], newPatchBody(map[string]any{"op": "replace", "path": "active", "value": false})); r.status != 200 {
			t.Errorf("portal PATCH own: %d %s", r.status, r.body)
		}
		if r := e.as("portal", "PUT", "/scim/v2/Users/"+mine[1], newUserBody("p2@agency.gov.sg")); r.status != 200 {
			t.Errorf("portal PUT own: %d %s", r.status, r.body)
		}
		k := e.mustCreate("kiosk", "k1@agency.gov.sg")
		if r := e.as("kiosk", "DELETE", "/scim/v2/Users/"+k, nil); r.status != 204 {
			t.Errorf("kiosk DELETE own: %d %s", r.status, r.body)
		}
		// techbiz (not ownUsersOnly) still changes the portal's users; the
		// owner stays the portal.
		if r := e.as("techbiz", "PUT", "/scim/v2/Users/"+mine[2], newUserBody("p3@agency.gov.sg")); r.status != 200 {
			t.Errorf("techbiz PUT portal's user: %d %s", r.status, r.body)
		}
		if u, _ := e.svc.GetUser(t.Context(), mine[2]); u.CreatedBy != "portal" {
			t.Errorf("owner after techbiz's PUT = %q, want portal", u.CreatedBy)
		}
	})
	t.Run("create-collision", func(t *testing.T) {
		// tb2's onboarding failed: a sign-up again by techbiz would take it
		// over, but not one by the portal: a 409 that does not reveal it.
		if _, err := e.store.UpdateUser(t.Context(), tb2, func(u *connector.User) (connector.Change, error) {
			u.Onboarding.Failed = true
			return connector.Change{}, nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"tb1@agency.gov.sg", "TB2@agency.gov.sg"} {
			r := e.as("portal", "POST", "/scim/v2/Users", newUserBody(name))
			if r.status != 409 || r.json(t)["scimType"] != "uniqueness" || strings.Contains(string(r.body), tb1) || strings.Contains(string(r.body), tb2) {
				t.Errorf("portal creates %s: %d %s, want a 409 without the other user's id", name, r.status, r.body)
			}
		}
		if u, _ := e.svc.GetUser(t.Context(), tb2); u.CreatedBy != "techbiz" || !u.Onboarding.Failed {
			t.Errorf("tb2 after the portal's attempt: %+v", u)
		}
		if r := e.as("techbiz", "POST", "/scim/v2/Users", newUserBody("tb2@agency.gov.sg")); r.status != 201 || r.json(t)["id"] != tb2 {
			t.Errorf("techbiz signs tb2 up again: %d %s", r.status, r.body)
		}
	})
	t.Run("group-members", func(t *testing.T) {
		k := e.mustCreate("kiosk", "k2@agency.gov.sg")
		r := e.as("kiosk", "POST", "/scim/v2/Groups", newGroupBody("Kiosk", k, tb1))
		if r.status != 400 || !strings.Contains(string(r.body), "members[1].value") || !strings.Contains(string(r.body), tb1) {
			t.Errorf("kiosk creates a group with techbiz's user: %d %s", r.status, r.body)
		}
		r = e.as("kiosk", "POST", "/scim/v2/Groups", newGroupBody("Kiosk", k))
		if r.status != 201 {
			t.Fatalf("kiosk creates a group with its own user: %d %s", r.status, r.body)
		}
		gid := r.json(t)["id"].(string)
		add := func(id string) resp {
			return e.as("kiosk", "PATCH", "/scim/v2/Groups/"+gid, newPatchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": id}}}))
		}
		if r := add(tb1); r.status != 400 || !strings.Contains(string(r.body), "members[") || !strings.Contains(string(r.body), ".value") {
			t.Errorf("kiosk adds techbiz's user: %d %s", r.status, r.body)
		}
		if r := e.as("kiosk", "PUT", "/scim/v2/Groups/"+gid, newGroupBody("Kiosk", k, legacy.ID)); r.status != 400 || !strings.Contains(string(r.body), "members[1].value") {
			t.Errorf("kiosk PUTs a user without an owner into its group: %d %s", r.status, r.body)
		}
		// techbiz (not ownUsersOnly) adds its user; the kiosk may still
		// change the group without removing it.
		if r := e.as("techbiz", "PATCH", "/scim/v2/Groups/"+gid, newPatchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": tb1}}})); r.status != 204 {
			t.Fatalf("techbiz adds its user: %d %s", r.status, r.body)
		}
		k3 := e.mustCreate("kiosk", "k3@agency.gov.sg")
		if r := add(k3); r.status != 204 {
			t.Errorf("kiosk adds its own user: %d %s", r.status, r.body)
		}
		g, _ := e.svc.GetGroup(t.Context(), gid)
		if strings.Join(g.Members, ",") != k+","+tb1+","+k3 {
			t.Errorf("members = %v", g.Members)
		}
	})
	t.Run("group-members-hidden", func(t *testing.T) {
		// techbiz's group holds its user tb1, the kiosk's k4 and the
		// legacy user; the kiosk sees and changes only k4 (and its own).
		k4, k5 := e.mustCreate("kiosk", "k4@agency.gov.sg"), e.mustCreate("kiosk", "k5@agency.gov.sg")
		r := e.as("techbiz", "POST", "/scim/v2/Groups", newGroupBody("Mixed", tb1, k4, legacy.ID))
		if r.status != 201 {
			t.Fatalf("techbiz creates the group: %d %s", r.status, r.body)
		}
		gid := r.json(t)["id"].(string)
		members := func(obj map[string]any) string {
			var out []string
			ms, _ := obj["members"].([]any)
			for _, m := range ms {
				out = append(out, m.(map[string]any)["value"].(string))
			}
			return strings.Join(out, ",")
		}
		stored := func() string {
			g, err := e.svc.GetGroup(t.Context(), gid)
			if err != nil {
				t.Fatal(err)
			}
			return strings.Join(g.Members, ",")
		}
		if got := members(e.as("kiosk", "GET", "/scim/v2/Groups/"+gid, nil).json(t)); got != k4 {
			t.Errorf("kiosk GET: members %s, want only %s", got, k4)
		}
		list := e.as("kiosk", "GET", `/scim/v2/Groups?filter=displayName+eq+%22Mixed%22`, nil)
		if rs := list.json(t)["Resources"].([]any); len(rs) != 1 || members(rs[0].(map[string]any)) != k4 {
			t.Errorf("kiosk list: %s", list.body)
		}
		if got := members(e.as("techbiz", "GET", "/scim/v2/Groups/"+gid, nil).json(t)); got != tb1+","+k4+","+legacy.ID {
			t.Errorf("techbiz GET: members %s, want all three", got)
		}

		// PUT replaces the kiosk's members only.
		r = e.as("kiosk", "PUT", "/scim/v2/Groups/"+gid, newGroupBody("Mixed", k5))
		if r.status != 200 || members(r.json(t)) != k5 {
			t.Fatalf("kiosk PUT: %d %s, want members %s only", r.status, r.body, k5)
		}
		if got := stored(); got != tb1+","+legacy.ID+","+k5 {
			t.Errorf("after the kiosk's PUT: members %s, want %s,%s,%s", got, tb1, legacy.ID, k5)
		}
		// PATCH: removing everything, or another client's member by id,
		// keeps the members the kiosk cannot see.
		for _, op := range []map[string]any{
			{"op": "remove", "path": "members[value eq \"" + tb1 + "\"]"},
			{"op": "replace", "path": "members", "value": []any{map[string]any{"value": k4}}},
			{"op": "remove", "path": "members"},
		} {
			if r := e.as("kiosk", "PATCH", "/scim/v2/Groups/"+gid, newPatchBody(op)); r.status != 204 {
				t.Errorf("kiosk PATCH %v: %d %s", op, r.status, r.body)
			}
			if got := stored(); !strings.HasPrefix(got, tb1+","+legacy.ID) {
				t.Errorf("after the kiosk's PATCH %v: members %s, lost another client's", op, got)
			}
		}
		if got := stored(); got != tb1+","+legacy.ID {
			t.Errorf("after the kiosk removed all: members %s", got)
		}
		r = e.as("kiosk", "PATCH", "/scim/v2/Groups/"+gid+"?attributes=members", newPatchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": k4}}}))
		if r.status != 200 || members(r.json(t)) != k4 {
			t.Errorf("kiosk PATCH with attributes=members: %d %s, want members %s only", r.status, r.body, k4)
		}
		// Naming a member it cannot see is the 400 of an id nobody has, even
		// though the group holds it.
		if r := e.as("kiosk", "PUT", "/scim/v2/Groups/"+gid, newGroupBody("Mixed", k4, tb1)); r.status != 400 || !strings.Contains(string(r.body), "members[1].value") {
			t.Errorf("kiosk PUT naming techbiz's member: %d %s", r.status, r.body)
		}
		if got := stored(); got != tb1+","+legacy.ID+","+k4 {
			t.Errorf("at the end: members %s", got)
		}
	})
}
