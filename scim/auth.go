package scim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

type authenticator struct {
	clients []client
	digests [][]byte
	limit   *authLimiter // nil: failures are not limited
}

func newAuthenticator(tokens []Token, limit AuthLimit) (*authenticator, error) {
	a := &authenticator{limit: newAuthLimiter(limit)}
	for i, t := range tokens {
		d, err := hex.DecodeString(strings.ToLower(strings.TrimSpace(t.SHA256)))
		if err != nil || len(d) != sha256.Size {
			return nil, fmt.Errorf("scim.tokens[%d] (%s): sha256 must be 64 hex characters", i, t.Name)
		}
		c, err := newClient(t)
		if err != nil {
			return nil, fmt.Errorf("scim.tokens[%d] (%s): %w", i, t.Name, err)
		}
		a.clients = append(a.clients, c)
		a.digests = append(a.digests, d)
	}
	return a, nil
}

// The scopes of Token.Scopes (scim.tokens[].scopes).
const (
	ScopeUsersRead   = "users:read"   // GET and search /Users
	ScopeUsersWrite  = "users:write"  // POST, PUT, PATCH /Users
	ScopeUsersDelete = "users:delete" // DELETE /Users
	ScopeGroups      = "groups"       // anything under /Groups
)

var allScopes = []string{ScopeUsersRead, ScopeUsersWrite, ScopeUsersDelete, ScopeGroups}

// client is what an accepted token may do.
type client struct {
	name   string
	scopes map[string]bool
	// ownUsersOnly: the client sees and changes only the users it created
	// (connector's …OwnUser methods).
	ownUsersOnly bool
}

func newClient(t Token) (client, error) {
	c := client{name: t.Name, scopes: map[string]bool{}, ownUsersOnly: t.OwnUsersOnly}
	list := t.Scopes
	if list == nil {
		list = allScopes
	}
	for _, sc := range list {
		if !slices.Contains(allScopes, sc) {
			return c, fmt.Errorf("scopes: %q is not one of %s", sc, strings.Join(allScopes, ", "))
		}
		c.scopes[sc] = true
	}
	return c, nil
}

// requiredScope is the scope a request needs, by the same routing as the
// library's (an endpoint, or a path under it); "" for the discovery
// endpoints (ServiceProviderConfig, Schemas, ResourceTypes) and anything
// else, which any valid token may ask for. sub is the path after /v2.
func requiredScope(method, sub string) string {
	under := func(ep string) bool { return sub == ep || strings.HasPrefix(sub, ep+"/") }
	switch {
	case under("/Groups"):
		return ScopeGroups
	case under("/Users"):
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return ScopeUsersRead
		case http.MethodDelete:
			return ScopeUsersDelete
		case http.MethodPost:
			if sub == "/Users/.search" {
				return ScopeUsersRead
			}
		}
		// POST, PUT, PATCH, and any other method (refused later anyway).
		return ScopeUsersWrite
	}
	return ""
}

// allow refuses, with a SCIM 403 naming the missing scope, a request the
// client's token has no scope for.
func (c client) allow(method, sub string) *Error {
	need := requiredScope(method, sub)
	if need == "" || c.scopes[need] {
		return nil
	}
	return &Error{Status: http.StatusForbidden,
		Detail: fmt.Sprintf("this client's token lacks the %q scope (it has %s); nothing was read or changed: ask the operator to add it to scim.tokens[].scopes of %q", need, c.scopeList(), c.name)}
}

func (c client) scopeList() string {
	var have []string
	for _, sc := range allScopes {
		if c.scopes[sc] {
			have = append(have, strconv.Quote(sc))
		}
	}
	if len(have) == 0 {
		return "none"
	}
	return strings.Join(have, ", ")
}

// maxCredentialBytes bounds what is hashed per request: tokens from
// "passbridge token new" are 43 characters, and a 1 MB header must not cost
// a 1 MB hash on every request of a flood.
const maxCredentialBytes = 4096

// check authenticates a request by its bearer token and returns the token's
// client (its name, scopes and ownUsersOnly). Digests are compared in constant time, against every configured
// token (rotation: old and new at once) without stopping at the first match.
//
// The token is always checked first: a valid token is served whatever the
// limiter holds against its address, so that failures from the same egress
// address (or from everyone, behind a load balancer missing from
// TrustedProxies) never lock a real client out. Only a failing attempt
// meets the limiter: from a blocked address, or with a blocked credential,
// it is a 429 with Retry-After; otherwise a 401, counted (see AuthLimit).
func (a *authenticator) check(r *http.Request) (client, *Error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	// The limiter keys a credential by the digest of what follows the
	// scheme (the whole header when there is no scheme); never by the
	// credential itself.
	cred := tok
	if !ok {
		cred = h
	}
	long := len(cred) > maxCredentialBytes
	if long {
		cred = cred[:maxCredentialBytes]
	}
	sum := sha256.Sum256([]byte(cred))
	var cl client
	var e *Error
	switch {
	case h == "":
		e = &Error{Status: http.StatusUnauthorized, Detail: "Authorization: missing; send \"Authorization: Bearer <token>\" with a token from \"passbridge token new\""}
	case long:
		e = &Error{Status: http.StatusUnauthorized, Detail: fmt.Sprintf("Authorization: the credential is longer than %d bytes; no accepted token is", maxCredentialBytes)}
	default:
		cl, e = a.verify(scheme, tok, ok, sum)
	}
	if e == nil || a.limit == nil {
		return cl, e
	}
	addr := a.limit.clientKey(r)
	var credKey *[sha256.Size]byte
	if h != "" {
		credKey = &sum
	}
	if blocked, secs := a.limit.blocked(addr, credKey); blocked {
		return client{}, tooMany(secs)
	}
	if h == "" {
		// Nothing was guessed: not counted (see AuthLimit).
		return client{}, e
	}
	if addrBlocked, credBlocked := a.limit.fail(addr, &sum); addrBlocked || credBlocked {
		logFrom(r).Warn("scim: failed authentications: blocking",
			"client", addr.String(), "byClient", addrBlocked, "byToken", credBlocked,
			"tokenSHA256Prefix", hex.EncodeToString(sum[:4]),
			"maxFailures", a.limit.cfg.MaxFailures, "window", a.limit.cfg.Window.String(), "cooldown", a.limit.cfg.Cooldown.String())
	}
	return client{}, e
}

func tooMany(secs int) *Error {
	return &Error{Status: http.StatusTooManyRequests, retryAfter: secs,
		Detail: fmt.Sprintf("Authorization: not accepted, and too many failed attempts from this address or with this token: retry in %d seconds; a valid token is always served", secs)}
}

// verify checks the scheme and the token's digest sum.
func (a *authenticator) verify(scheme, tok string, hasScheme bool, sum [sha256.Size]byte) (client, *Error) {
	if !hasScheme || !strings.EqualFold(scheme, "Bearer") {
		return client{}, &Error{Status: http.StatusUnauthorized, Detail: "Authorization: only the Bearer scheme is accepted"}
	}
	if tok == "" {
		return client{}, &Error{Status: http.StatusUnauthorized, Detail: "Authorization: the bearer token is empty"}
	}
	match := -1
	for i, d := range a.digests {
		if subtle.ConstantTimeCompare(sum[:], d) == 1 && match < 0 {
			match = i
		}
	}
	if match < 0 {
		return client{}, &Error{Status: http.StatusUnauthorized, Detail: "Authorization: the bearer token is not accepted"}
	}
	return a.clients[match], nil
}
