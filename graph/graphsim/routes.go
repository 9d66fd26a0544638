package graphsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

type routeFunc func(w http.ResponseWriter, r *http.Request, p []string)

type route struct {
	method string
	// pattern segments; "{}" matches one segment.
	segs  []string
	name  string
	perms []string // any of these application permissions
	h     func(s *Sim) routeFunc
}

// Permission sets per operation, least privileged first.
// Source: https://learn.microsoft.com/graph/permissions-reference
var (
	permsInvite      = []string{PermUserInviteAll, PermUserReadWriteAll, permDirectoryReadWriteAll}
	permsUserRead    = []string{PermUserReadAll, PermUserReadWriteAll, permDirectoryReadAll, permDirectoryReadWriteAll}
	permsUserWrite   = []string{PermUserReadWriteAll, permUserEnableDisableAccountAll, permDirectoryReadWriteAll}
	permsUserRevoke  = []string{permUserRevokeSessionsAll, PermUserReadWriteAll, permDirectoryReadWriteAll}
	permsUserDelete  = []string{permUserDeleteRestoreAll, PermUserReadWriteAll, permDirectoryReadWriteAll}
	permsAuthMethods = []string{PermUserAuthMethodReadAll, permUserAuthMethodReadWriteAll}
	permsAudit       = []string{PermAuditLogReadAll}
	permsGroupCreate = []string{PermGroupCreate, permGroupReadWriteAll, permDirectoryReadWriteAll}
	permsGroupRead   = []string{permGroupReadWriteAll, PermGroupMemberReadWriteAll, permDirectoryReadAll, permDirectoryReadWriteAll, PermGroupCreate}
	permsMembers     = []string{PermGroupMemberReadWriteAll, permGroupReadWriteAll, permDirectoryReadWriteAll}
	permsGroupDelete = []string{PermGroupReadWriteAll, permDirectoryReadWriteAll}
)

func routes() []route {
	r := func(method, pattern string, perms []string, h func(s *Sim) routeFunc) route {
		return route{method: method, segs: strings.Split(strings.Trim(pattern, "/"), "/"), name: method + " " + pattern, perms: perms, h: h}
	}
	return []route{
		r("POST", "/invitations", permsInvite, func(s *Sim) routeFunc { return s.postInvitation }),
		r("GET", "/users/delta", permsUserRead, func(s *Sim) routeFunc { return s.getUsersDelta }),
		r("GET", "/users", permsUserRead, func(s *Sim) routeFunc { return s.listUsers }),
		r("GET", "/users/{id}", permsUserRead, func(s *Sim) routeFunc { return s.getUser }),
		r("PATCH", "/users/{id}", permsUserWrite, func(s *Sim) routeFunc { return s.patchUser }),
		r("DELETE", "/users/{id}", permsUserDelete, func(s *Sim) routeFunc { return s.deleteUser }),
		r("POST", "/users/{id}/revokeSignInSessions", permsUserRevoke, func(s *Sim) routeFunc { return s.revokeSessions }),
		r("GET", "/users/{id}/authentication/methods", permsAuthMethods, func(s *Sim) routeFunc { return s.listMethods }),
		r("GET", "/auditLogs/directoryAudits", permsAudit, func(s *Sim) routeFunc { return s.listAudits }),
		r("POST", "/groups", permsGroupCreate, func(s *Sim) routeFunc { return s.postGroup }),
		r("GET", "/groups/{id}", permsGroupRead, func(s *Sim) routeFunc { return s.getGroup }),
		r("DELETE", "/groups/{id}", permsGroupDelete, func(s *Sim) routeFunc { return s.deleteGroup }),
		r("GET", "/groups/{id}/members", permsGroupRead, func(s *Sim) routeFunc { return s.listMembers }),
		r("POST", "/groups/{id}/members/$ref", permsMembers, func(s *Sim) routeFunc { return s.addMember }),
		r("DELETE", "/groups/{id}/members/{memberId}/$ref", permsMembers, func(s *Sim) routeFunc { return s.removeMember }),
		r("POST", "/$batch", nil, func(s *Sim) routeFunc { return s.postBatch }),
	}
}

func (s *Sim) matchRoute(method, path string) (*route, []string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, seg := range segs {
		// Graph accepts functions with or without parentheses: delta().
		segs[i] = strings.TrimSuffix(seg, "()")
	}
	for i := range s.routes {
		rt := &s.routes[i]
		if rt.method != method || len(rt.segs) != len(segs) {
			continue
		}
		var params []string
		ok := true
		for j, want := range rt.segs {
			if strings.HasPrefix(want, "{") {
				if segs[j] == "" {
					ok = false
					break
				}
				params = append(params, segs[j])
				continue
			}
			if !strings.EqualFold(want, segs[j]) {
				ok = false
				break
			}
		}
		if ok {
			return rt, params
		}
	}
	return nil, nil
}

type ctxKey int

const (
	ctxBase ctxKey = iota
	ctxInBatch
)

func baseURL(r *http.Request) string {
	if b, ok := r.Context().Value(ctxBase).(string); ok {
		return b
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Sim) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_sim/identity/token":
		s.serveIdentity(w, r)
		return
	case strings.HasPrefix(r.URL.Path, "/_sim/"):
		s.serveControl(w, r)
		return
	}
	ctx := context.WithValue(r.Context(), ctxBase, baseURL(r))
	r = r.WithContext(ctx)
	path, ok := strings.CutPrefix(r.URL.Path, "/v1.0")
	if !ok {
		s.unexpectedCall(w, r)
		return
	}
	s.serveGraph(w, r, path)
}

func (s *Sim) count(name string) {
	s.mu.Lock()
	s.calls[name]++
	s.mu.Unlock()
}

func (s *Sim) unexpectedCall(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.unexpected = append(s.unexpected, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	seg := r.URL.Path
	if i := strings.LastIndex(seg, "/"); i >= 0 {
		seg = seg[i+1:]
	}
	s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg+"'.")
}

func (s *Sim) serveGraph(w http.ResponseWriter, r *http.Request, path string) {
	if w.Header().Get("request-id") == "" {
		w.Header().Set("request-id", newGUID())
	}
	if crid := r.Header.Get("client-request-id"); crid != "" {
		w.Header().Set("client-request-id", crid)
	}
	rt, params := s.matchRoute(r.Method, path)
	if rt == nil {
		s.unexpectedCall(w, r)
		return
	}
	s.count(rt.name)
	claims, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if !s.authorize(w, r, claims, rt.perms) {
		return
	}
	if f := s.pickFault(rt.name, false); f != nil && s.applyFault(r.Context(), w, r, f) {
		return
	}
	after := s.pickFault(rt.name, true)
	if after == nil {
		rt.h(s)(w, r, params)
		return
	}
	rec := httptest.NewRecorder()
	rt.h(s)(rec, r, params)
	if s.applyFault(r.Context(), w, r, after) {
		return
	}
	copyRecorded(w, rec)
}

func copyRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

const jsonContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in Graph's error shape.
// Source: https://learn.microsoft.com/graph/errors
func (s *Sim) writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	rid := w.Header().Get("request-id")
	if rid == "" {
		rid = newGUID()
		w.Header().Set("request-id", rid)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"innerError": map[string]any{
			"date":              s.Now().Format("2006-01-02T15:04:05"),
			"request-id":        rid,
			"client-request-id": r.Header.Get("client-request-id"),
		},
	}})
}

// nextLink returns the absolute URL of r with query parameter key set.
func nextLink(r *http.Request, path string, q url.Values) string {
	return baseURL(r) + "/v1.0" + path + "?" + encodeQuery(q)
}

// encodeQuery encodes like url.Values.Encode but keeps '$' readable.
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "%24", "$")
}

func readJSONBody(r *http.Request, v any) error {
	if r.Body == nil {
		return errEmptyBody
	}
	body := http.MaxBytesReader(nil, r.Body, 4<<20)
	err := json.NewDecoder(body).Decode(v)
	// Read to EOF: only then does net/http watch the connection and cancel
	// the request context when the client goes away (hang faults).
	_, _ = io.Copy(io.Discard, body)
	return err
}
