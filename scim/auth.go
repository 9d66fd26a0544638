package scim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
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

// check authenticates a request by its bearer token and returns the token's
// name. Digests are compared in constant time, against every configured
// token (rotation: old and new at once) without stopping at the first match.
//
// An address or a presented credential with too many recent failures gets
// a 429 without its token being checked (see AuthLimit).
func (a *authenticator) check(r *http.Request) (string, *Error) {
	var addr netip.Prefix
	if a.limit != nil {
		addr = a.limit.clientKey(r)
		if blocked, secs := a.limit.blocked(addr, nil); blocked {
			return "", tooMany(secs)
		}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", &Error{Status: http.StatusUnauthorized, Detail: "Authorization: missing; send \"Authorization: Bearer <token>\" with a token from \"passbridge token new\""}
	}
	scheme, tok, ok := strings.Cut(h, " ")
	// The limiter keys a credential by the digest of what follows the
	// scheme (the whole header when there is no scheme); never by the
	// credential itself.
	cred := tok
	if !ok {
		cred = h
	}
	sum := sha256.Sum256([]byte(cred))
	if a.limit == nil {
		return a.verify(scheme, tok, ok, sum)
	}
	if blocked, secs := a.limit.blocked(addr, &sum); blocked {
		return "", tooMany(secs)
	}
	name, e := a.verify(scheme, tok, ok, sum)
	if e != nil {
		if addrBlocked, credBlocked := a.limit.fail(addr, &sum); addrBlocked || credBlocked {
			logFrom(r).Warn("scim: failed authentications: blocking",
				"client", addr.String(), "byClient", addrBlocked, "byToken", credBlocked,
				"tokenSHA256Prefix", hex.EncodeToString(sum[:4]),
				"maxFailures", a.limit.cfg.MaxFailures, "window", a.limit.cfg.Window.String(), "cooldown", a.limit.cfg.Cooldown.String())
		}
	}
	return name, e
}

func tooMany(secs int) *Error {
	return &Error{Status: http.StatusTooManyRequests, retryAfter: secs,
		Detail: fmt.Sprintf("Authorization: too many failed attempts from this address or with this token; nothing was checked: retry in %d seconds with a valid token", secs)}
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
