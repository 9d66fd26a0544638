package scim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	escim "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"

	"github.com/passbridge/passbridge/connector"
)

// Prefix is where the SCIM API is mounted.
const Prefix = "/scim/v2"

// Options configure the SCIM server.
type Options struct {
	// Tokens are the accepted bearer tokens, by name, as SHA-256 hex digests.
	Tokens []Token
	// PublicURL is the server's external base URL (meta.location and
	// $ref use PublicURL + /scim/v2); empty gives locations relative to the
	// host (/scim/v2/Users/…).
	PublicURL string
	// MaxBodyBytes limits request bodies (default 1 MiB); larger ones get 413.
	MaxBodyBytes int64
	// MaxResults is the largest page (default and most MaxPageSize).
	MaxResults int
	Logger     *slog.Logger
	// Ready, when set, tells whether writes can be made durable (the store
	// answers). Writes are refused with 503 while it fails; reads go on and
	// are answered when they can be.
	Ready func(ctx context.Context) error
	// AuthLimit limits failed authentications per client address and per
	// presented token (429 with Retry-After); on by default, see AuthLimit.
	AuthLimit AuthLimit
	// AccessLog says how successful requests are logged (errors always
	// are); the zero value logs each at info (serve's default,
	// server.accessLog debug, does not).
	AccessLog AccessLog
}

// AccessLog configures the "scim request" line (server.accessLog,
// server.accessLogSample). Answers of 400 and above are always logged (4xx
// at info, 5xx at warn): an operator needs those. Successes are logged at
// Level, one in Every (0 or 1: each), or not at all when Off. The audit
// trail is the event log, not this line.
type AccessLog struct {
	Off   bool
	Level slog.Level
	Every uint64
}

// Token is one accepted bearer token.
type Token struct {
	Name   string
	SHA256 string // hex
	// Scopes are what the client may do (Scope…); nil: all of them.
	Scopes []string
	// OwnUsersOnly: the client sees and changes only the users it created
	// (stored as User.CreatedBy); another client's user is a 404 to it.
	OwnUsersOnly bool
}

// Server is the SCIM HTTP handler for paths under Prefix.
type Server struct {
	lib     escim.Server
	users   escim.ResourceType
	groups  escim.ResourceType
	auth    *authenticator
	opts    Options
	log     *slog.Logger
	spc     []byte
	baseURL string
	gate    readyGate
	// accessSeq counts successful requests, for AccessLog.Every.
	accessSeq atomic.Uint64
}

// New builds the SCIM server over svc.
func New(svc *connector.Service, opts Options) (*Server, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxResults <= 0 || opts.MaxResults > MaxPageSize {
		opts.MaxResults = MaxPageSize // bounds a page's bytes (limits.go)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	auth, err := newAuthenticator(opts.Tokens, opts.AuthLimit)
	if err != nil {
		return nil, err
	}
	// Microsoft Entra sends booleans as "True"/"False" strings. This is a
	// package-level switch of the library; passbridge always wants it on.
	schema.SetAllowStringValues(true)

	base := scimBase(opts.PublicURL)
	userSchema := schema.CoreUserSchema()
	exts := []escim.SchemaExtension{
		{Schema: schema.ExtensionEnterpriseUser()},
		{Schema: techPassSchema()},
	}
	users := escim.ResourceType{
		ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
		Description: optional.NewString("A person onboarded into the TechPass tenant as a B2B guest"),
		Schema:      userSchema, SchemaExtensions: exts,
		Handler: userHandler{svc: svc, patcher: newPatcher(userSchema, exts[0].Schema, exts[1].Schema)},
	}
	groupSchema := schema.CoreGroupSchema()
	groups := escim.ResourceType{
		ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
		Description: optional.NewString("A group, mirrored to a Microsoft Entra security group"),
		Schema:      groupSchema,
		Handler:     groupHandler{svc: svc, patcher: newPatcher(groupSchema), baseURL: base},
	}
	spc := escim.ServiceProviderConfig{
		DocumentationURI: optional.NewString("https://github.com/passbridge/passbridge#scim"),
		MaxResults:       opts.MaxResults, SupportFiltering: true, SupportPatch: true,
		AuthenticationSchemes: []escim.AuthenticationScheme{{
			Type: escim.AuthenticationTypeOauthBearerToken, Name: "Bearer token",
			Description: "A static bearer token issued with `passbridge token new`", Primary: true,
		}},
	}
	libOpts := []escim.ServerOption{escim.WithBaseURL(base)}
	lib, err := escim.NewServer(&escim.ServerArgs{ServiceProviderConfig: &spc, ResourceTypes: []escim.ResourceType{users, groups}}, libOpts...)
	if err != nil {
		return nil, fmt.Errorf("scim server: %w", err)
	}
	s := &Server{lib: lib, users: users, groups: groups, auth: auth, opts: opts, log: opts.Logger, baseURL: base}
	s.spc = s.serviceProviderConfig()
	return s, nil
}

// serviceProviderConfig tells the truth about what passbridge supports; the
// library's own says etag unsupported.
func (s *Server) serviceProviderConfig() []byte {
	b, _ := json.Marshal(map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/passbridge/passbridge#scim",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": s.opts.MaxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type": "oauthbearertoken", "name": "Bearer token", "primary": true,
			"description": "A static bearer token issued with `passbridge token new`; send it as Authorization: Bearer <token>",
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": s.baseURL + "/ServiceProviderConfig"},
	})
	return b
}

// logAccess writes the access-log line of one request as opts.AccessLog
// says. The path may carry a user id, never a secret; the query may carry
// e-mail addresses in filters and is left out.
func (s *Server) logAccess(ctx context.Context, log *slog.Logger, r *http.Request, status int, tokenName string, start time.Time) {
	level := s.opts.AccessLog.Level
	switch {
	case status >= 500:
		level = slog.LevelWarn
	case status >= 400:
		level = slog.LevelInfo
	case s.opts.AccessLog.Off:
		return
	default:
		if every := s.opts.AccessLog.Every; every > 1 && s.accessSeq.Add(1)%every != 0 {
			return
		}
	}
	if !log.Enabled(ctx, level) {
		return
	}
	log.LogAttrs(ctx, level, "scim request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("token", tokenName), slog.Int64("durationMs", time.Since(start).Milliseconds()))
}

// ServeHTTP serves requests whose path starts with Prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := r.Header.Get("X-Request-Id")
	if reqID == "" || len(reqID) > 64 {
		reqID = newRequestID()
	}
	w.Header().Set("X-Request-Id", reqID)
	log := s.log.With("requestId", reqID)
	ctx := context.WithValue(r.Context(), logKey{}, log)
	ctx, slot := withSlot(ctx)
	r = r.WithContext(ctx)
	rec := &statusRecorder{ResponseWriter: w}
	tokenName := ""
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic in scim handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rec.wrote {
				writeError(rec, &Error{Status: http.StatusInternalServerError, Detail: "internal error; it has been logged with this request's id"})
			}
		}
		s.logAccess(ctx, log, r, rec.status, tokenName, start)
	}()

	cl, aerr := s.auth.check(r)
	if aerr != nil {
		writeError(rec, aerr)
		return
	}
	tokenName = cl.name
	ctx = context.WithValue(r.Context(), actorKey, "scim:"+cl.name)
	r = r.WithContext(context.WithValue(ctx, clientKey, cl))

	path := strings.TrimPrefix(r.URL.Path, "/scim")
	if !strings.HasPrefix(path, "/v2") {
		writeError(rec, &Error{Status: http.StatusNotFound, Detail: "not found: the SCIM API is at " + Prefix})
		return
	}
	sub := strings.TrimPrefix(path, "/v2")
	// Before the body is read: a request outside the token's scopes costs
	// nothing more.
	if e := cl.allow(r.Method, sub); e != nil {
		writeError(rec, e)
		return
	}
	if sub == "/ServiceProviderConfig" {
		if r.Method != http.MethodGet {
			writeError(rec, &Error{Status: http.StatusMethodNotAllowed, Detail: "ServiceProviderConfig is read-only: use GET"})
			return
		}
		rec.Header().Set("Content-Type", "application/scim+json")
		_, _ = rec.Write(s.spc)
		return
	}

	var body []byte
	if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodDelete {
		b, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxBodyBytes+1))
		if err != nil {
			writeError(rec, &Error{Status: http.StatusBadRequest, ScimType: "invalidSyntax", Detail: "body: could not be read completely"})
			return
		}
		if int64(len(b)) > s.opts.MaxBodyBytes {
			writeError(rec, &Error{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("body: larger than %d bytes; send fewer attributes or split the change", s.opts.MaxBodyBytes)})
			return
		}
		body = b
	}

	// POST /Users/.search is served as the GET (a read: no readiness gate);
	// a query at the server root is a 501 (search.go).
	if nr, np, e := rewriteSearch(r, sub, body); e != nil {
		writeError(rec, e)
		return
	} else if nr != r {
		r, path, sub, body = nr, np, strings.TrimPrefix(np, "/v2"), nil
	}

	if isWrite(r.Method) && s.opts.Ready != nil {
		if err := s.gate.check(r.Context(), s.opts.Ready); err != nil {
			if clientGone(r) {
				log.Debug("client gone while waiting for the readiness probe", "err", err)
				writeError(rec, errClientGone)
				return
			}
			log.Warn("refusing a write: store not ready", "err", err)
			writeError(rec, &Error{Status: http.StatusServiceUnavailable, Detail: "the database is unreachable, so nothing can be stored durably; nothing was changed: retry later", retryAfter: 5})
			return
		}
	}

	rt, isList := s.route(sub)
	if r.Method == http.MethodGet && isList {
		attrs := userFilterAttrs
		if rt.Name == "Group" {
			attrs = groupFilterAttrs
		}
		q := r.URL.Query()
		f, err := parseFilter(q.Get("filter"), attrs)
		if err != nil {
			writeError(rec, toError(err, rt.Name, ""))
			return
		}
		// The library validates filters per schema and rejects ones that mix
		// core and extension attributes; passbridge translates them itself.
		q.Del("filter")
		r.URL.RawQuery = q.Encode()
		r = r.WithContext(context.WithValue(r.Context(), filterKey, f))
	}
	if r.Method == http.MethodPatch && body != nil {
		body = normalizePatch(body)
	}
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}

	cw := &captureWriter{rec: rec}
	r.URL.Path = path
	s.lib.ServeHTTP(cw, r)
	cw.finish(func(status int, libBody []byte) *Error {
		if slot.err != nil {
			return slot.err
		}
		return s.explain(r, rt, status, libBody, body)
	})
}

// isWrite tells whether a request may change state; only those wait for the
// store to be ready. HEAD and OPTIONS read like GET.
func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// route finds the resource type of a path and whether it is the list
// endpoint (/Users) rather than one resource (/Users/{id}).
func (s *Server) route(sub string) (escim.ResourceType, bool) {
	for _, rt := range []escim.ResourceType{s.users, s.groups} {
		if sub == rt.Endpoint {
			return rt, true
		}
		if strings.HasPrefix(sub, rt.Endpoint+"/") {
			return rt, false
		}
	}
	return escim.ResourceType{}, false
}

// explain turns an error the library wrote into the error passbridge sends:
// a field-naming detail for schema violations, and no internal text ever.
func (s *Server) explain(r *http.Request, rt escim.ResourceType, status int, libBody, reqBody []byte) *Error {
	var le struct {
		ScimType string `json:"scimType"`
		Detail   string `json:"detail"`
	}
	_ = json.Unmarshal(libBody, &le)
	e := &Error{Status: status, ScimType: le.ScimType, Detail: le.Detail}
	if status == http.StatusNotImplemented {
		// /Me: passbridge's tokens belong to provisioning clients, not users.
		return &Error{Status: http.StatusNotImplemented, Detail: "not implemented: passbridge serves provisioning clients; there is no /Me"}
	}
	if status >= 500 && clientGone(r) {
		logFrom(r).Debug("scim request abandoned: the client is gone", "status", status)
		return errClientGone
	}
	if status >= 500 {
		logFrom(r).Error("scim library error", "status", status, "detail", le.Detail)
		return &Error{Status: http.StatusInternalServerError, Detail: "internal error; it has been logged with this request's id"}
	}
	if status == http.StatusBadRequest && rt.Name != "" {
		var d string
		switch r.Method {
		case http.MethodPost, http.MethodPut:
			d = diagnoseResource(reqBody, rt)
		case http.MethodPatch:
			d = diagnosePatch(reqBody, rt)
		}
		if d != "" {
			// The diagnosis, not the library, decides the type, so that one
			// message always comes with one scimType.
			e.Detail, e.ScimType = d, scimTypeFor(d)
		}
		if e.ScimType == "" {
			e.ScimType = "invalidValue"
		}
	}
	return e
}

// scimTypeFor classifies a diagnosis (RFC 7644 §3.12): the structure of the
// request, a path, or a value.
func scimTypeFor(detail string) string {
	field, _, _ := strings.Cut(detail, ": ")
	switch {
	case strings.HasSuffix(detail, "required for remove"):
		return "noTarget"
	case strings.HasSuffix(field, ".path"):
		return "invalidPath"
	case field == "body", field == "schemas", field == "Operations", strings.HasSuffix(field, ".op"),
		strings.HasPrefix(field, "Operations[") && !strings.Contains(field, "."):
		return "invalidSyntax"
	}
	return "invalidValue"
}

// captureWriter passes successful responses through and holds back error
// responses so that ServeHTTP can send its own SCIM error instead.
type captureWriter struct {
	rec    http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (c *captureWriter) Header() http.Header { return c.rec.Header() }

func (c *captureWriter) WriteHeader(code int) {
	if c.status != 0 {
		return
	}
	c.status = code
	if code < 400 {
		c.rec.WriteHeader(code)
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.status >= 400 {
		if c.buf.Len() < 64<<10 {
			c.buf.Write(b)
		}
		return len(b), nil
	}
	return c.rec.Write(b)
}

func (c *captureWriter) finish(explain func(status int, body []byte) *Error) {
	if c.status >= 400 {
		writeError(c.rec, explain(c.status, c.buf.Bytes()))
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.wrote {
		return
	}
	s.status, s.wrote = code, true
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var managerPath = regexp.MustCompile(`(?i)^(urn:ietf:params:scim:schemas:extension:enterprise:2\.0:user:)?manager$`)

// normalizePatch rewrites the PATCH forms Microsoft Entra sends that the
// library would refuse, before the library sees them:
//   - add/replace with value null: a clear, i.e. remove (gallery test
//     SCIM_Null_Update_Test);
//   - manager given as a bare id string, or on the unqualified path
//     "manager": {"value": id} on the enterprise extension's manager;
//   - "Operations" key spelled in another case.
//
// Bodies that are not JSON objects are passed through for the library to
// refuse.
func normalizePatch(body []byte) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return body
	}
	key := ""
	for k := range m {
		if strings.EqualFold(k, "operations") {
			key = k
		}
	}
	if key == "" {
		return body
	}
	var ops []map[string]any
	d := json.NewDecoder(bytes.NewReader(m[key]))
	d.UseNumber()
	if err := d.Decode(&ops); err != nil {
		return body
	}
	for _, op := range ops {
		opName, _ := op[findKey(op, "op")].(string)
		path, _ := op[findKey(op, "path")].(string)
		vk := findKey(op, "value")
		v, hasValue := op[vk]
		lop := strings.ToLower(opName)
		if (lop == "add" || lop == "replace") && hasValue && v == nil && path != "" {
			op[findKey(op, "op")] = "remove"
			delete(op, vk)
			continue
		}
		if managerPath.MatchString(path) {
			// The unqualified "manager" of the older doc example lives in
			// the enterprise extension.
			op[findKey(op, "path")] = URNEnterprise + ":manager"
			switch x := v.(type) {
			case string:
				if x == "" {
					op[findKey(op, "op")] = "remove"
					delete(op, vk)
				} else {
					op[vk] = map[string]any{"value": x}
				}
			case []any:
				if len(x) == 1 {
					op[vk] = x[0]
				}
			}
		}
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return body
	}
	delete(m, key)
	m["Operations"] = raw
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// readyGate caches the readiness answer briefly, so that a burst of writes
// costs one probe, not one each. The probe runs on a context of its own:
// one client's cancellation must not become every writer's 503. The lock
// is never held across the probe; callers that arrive while one runs wait
// for its answer (or for their own context) instead of probing again.
type readyGate struct {
	mu      sync.Mutex
	checked time.Time
	err     error
	running chan struct{} // closed when the probe in flight ends; nil when none
}

const (
	readyCacheFor     = 500 * time.Millisecond
	readyProbeTimeout = 2 * time.Second
)

func (g *readyGate) check(ctx context.Context, ready func(context.Context) error) error {
	g.mu.Lock()
	if g.running == nil && !g.checked.IsZero() && time.Since(g.checked) < readyCacheFor {
		err := g.err
		g.mu.Unlock()
		return err
	}
	done := g.running
	if done == nil {
		done = make(chan struct{})
		g.running = done
		go g.probe(ready, done)
	}
	g.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// probe asks ready once, detached from any request, and publishes the answer.
func (g *readyGate) probe(ready func(context.Context) error, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), readyProbeTimeout)
	defer cancel()
	err := ready(ctx)
	g.mu.Lock()
	g.err, g.checked, g.running = err, time.Now(), nil
	g.mu.Unlock()
	close(done)
}
