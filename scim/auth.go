package scim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

type authenticator struct {
	names   []string
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
		a.names = append(a.names, t.Name)
		a.digests = append(a.digests, d)
	}
	return a, nil
}

// maxCredentialBytes bounds what is hashed per request: tokens from
// "passbridge token new" are 43 characters, and a 1 MB header must not cost
// a 1 MB hash on every request of a flood.
const maxCredentialBytes = 4096

// check authenticates a request by its bearer token and returns the token's
// name. Digests are compared in constant time, against every configured
// token (rotation: old and new at once) without stopping at the first match.
//
// The token is always checked first: a valid token is served whatever the
// limiter holds against its address, so that failures from the same egress
// address (or from everyone, behind a load balancer missing from
// TrustedProxies) never lock a real client out. Only a failing attempt
// meets the limiter: from a blocked address, or with a blocked credential,
// it is a 429 with Retry-After; otherwise a 401, counted (see AuthLimit).
func (a *authenticator) check(r *http.Request) (string, *Error) {
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
	var name string
	var e *Error
	switch {
	case h == "":
		e = &Error{Status: http.StatusUnauthorized, Detail: "Authorization: missing; send \"Authorization: Bearer <token>\" with a token from \"passbridge token new\""}
	case long:
		e = &Error{Status: http.StatusUnauthorized, Detail: fmt.Sprintf("Authorization: the credential is longer than %d bytes; no accepted token is", maxCredentialBytes)}
	default:
		name, e = a.verify(scheme, tok, ok, sum)
	}
	if e == nil || a.limit == nil {
		return name, e
	}
	addr := a.limit.clientKey(r)
	var credKey *[sha256.Size]byte
	if h != "" {
		credKey = &sum
	}
	if blocked, secs := a.limit.blocked(addr, credKey); blocked {
		return "", tooMany(secs)
	}
	if h == "" {
		// Nothing was guessed: not counted (see AuthLimit).
		return "", e
	}
	if addrBlocked, credBlocked := a.limit.fail(addr, &sum); addrBlocked || credBlocked {
		logFrom(r).Warn("scim: failed authentications: blocking",
			"client", addr.String(), "byClient", addrBlocked, "byToken", credBlocked,
			"tokenSHA256Prefix", hex.EncodeToString(sum[:4]),
			"maxFailures", a.limit.cfg.MaxFailures, "window", a.limit.cfg.Window.String(), "cooldown", a.limit.cfg.Cooldown.String())
	}
	return "", e
}

func tooMany(secs int) *Error {
	return &Error{Status: http.StatusTooManyRequests, retryAfter: secs,
		Detail: fmt.Sprintf("Authorization: not accepted, and too many failed attempts from this address or with this token: retry in %d seconds; a valid token is always served", secs)}
}

// verify checks the scheme and the token's digest sum.
func (a *authenticator) verify(scheme, tok string, hasScheme bool, sum [sha256.Size]byte) (string, *Error) {
	if !hasScheme || !strings.EqualFold(scheme, "Bearer") {
		return "", &Error{Status: http.StatusUnauthorized, Detail: "Authorization: only the Bearer scheme is accepted"}
	}
	if tok == "" {
		return "", &Error{Status: http.StatusUnauthorized, Detail: "Authorization: the bearer token is empty"}
	}
	match := -1
	for i, d := range a.digests {
		if subtle.ConstantTimeCompare(sum[:], d) == 1 && match < 0 {
			match = i
		}
	}
	if match < 0 {
		return "", &Error{Status: http.StatusUnauthorized, Detail: "Authorization: the bearer token is not accepted"}
	}
	return a.names[match], nil
}
