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
}

func newAuthenticator(tokens []Token) (*authenticator, error) {
	a := &authenticator{}
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
func (a *authenticator) check(r *http.Request) (string, *Error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" {
		return "", &Error{Status: http.StatusUnauthorized, Detail: "Authorization: missing; send \"Authorization: Bearer <token>\" with a token from \"passbridge token new\""}
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", &Error{Status: http.StatusUnauthorized, Detail: "Authorization: only the Bearer scheme is accepted"}
	}
	if tok == "" {
		return "", &Error{Status: http.StatusUnauthorized, Detail: "Authorization: the bearer token is empty"}
	}
	sum := sha256.Sum256([]byte(tok))
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
