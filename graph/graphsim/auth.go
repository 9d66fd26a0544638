package graphsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Claims is what a simulator access token carries. Tokens are HS256 JWTs
// signed with a per-simulator key, shaped like Entra app-only tokens
// (aud, iss, tid, appid, roles, exp).
type Claims struct {
	Aud   string   `json:"aud"`
	Iss   string   `json:"iss"`
	Tid   string   `json:"tid"`
	AppID string   `json:"appid"`
	Roles []string `json:"roles,omitempty"`
	Iat   int64    `json:"iat"`
	Nbf   int64    `json:"nbf"`
	Exp   int64    `json:"exp"`
	IDTyp string   `json:"idtyp"`
}

// Token issues an access token for resource carrying the simulator's
// currently granted permissions; useful for a static test credential.
func (s *Sim) Token(resource string) (token string, expires time.Time) {
	s.mu.Lock()
	roles := make([]string, 0, len(s.granted))
	for p := range s.granted {
		roles = append(roles, p)
	}
	s.mu.Unlock()
	sort.Strings(roles)
	return s.TokenWithRoles(resource, roles...)
}

// TokenWithRoles issues an access token that carries exactly roles.
func (s *Sim) TokenWithRoles(resource string, roles ...string) (token string, expires time.Time) {
	now := s.Now()
	exp := now.Add(s.tokenTTL)
	c := Claims{
		Aud: strings.TrimSuffix(resource, "/.default"), Iss: "https://sts.windows.net/" + s.tenantID + "/",
		Tid: s.tenantID, AppID: s.appID, Roles: roles,
		Iat: now.Unix(), Nbf: now.Add(-5 * time.Minute).Unix(), Exp: exp.Unix(), IDTyp: "app",
	}
	return s.sign(c), exp
}

func (s *Sim) sign(c Claims) string {
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "HS256", "kid": "graphsim"})
	body, _ := json.Marshal(c)
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString(hdr) + "." + enc.EncodeToString(body)
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

var errBadToken = errors.New("invalid token")

// verify checks a bearer token's signature and lifetime.
func (s *Sim) verify(tok string) (Claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return Claims{}, errBadToken
	}
	enc := base64.RawURLEncoding
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := enc.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return Claims{}, errBadToken
	}
	body, err := enc.DecodeString(parts[1])
	if err != nil {
		return Claims{}, errBadToken
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return Claims{}, errBadToken
	}
	now := s.Now().Unix()
	if now >= c.Exp {
		return Claims{}, fmt.Errorf("%w: expired", errBadToken)
	}
	if now < c.Nbf {
		return Claims{}, fmt.Errorf("%w: not yet valid", errBadToken)
	}
	return c, nil
}

// serveIdentity is the App Service managed-identity endpoint (api-version
// 2019-08-01) as azidentity/MSAL call it: GET IDENTITY_ENDPOINT with
// X-IDENTITY-HEADER, api-version and resource (and optionally client_id).
// Source: https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference
func (s *Sim) serveIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	writeErr := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"statusCode": status, "message": desc, "error": code, "error_description": desc})
	}
	if r.Method != http.MethodGet {
		writeErr(http.StatusMethodNotAllowed, "invalid_request", "GET only")
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(s.identityHeader)) != 1 {
		writeErr(http.StatusUnauthorized, "invalid_request", "X-IDENTITY-HEADER missing or wrong")
		return
	}
	if q.Get("api-version") != "2019-08-01" {
		writeErr(http.StatusBadRequest, "invalid_request", "api-version must be 2019-08-01")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		writeErr(http.StatusBadRequest, "invalid_request", "resource is required")
		return
	}
	if cid := q.Get("client_id"); cid != "" && !strings.EqualFold(cid, s.appID) {
		writeErr(http.StatusBadRequest, "invalid_request", "identity not assigned to this resource")
		return
	}
	tok, exp := s.Token(resource)
	s.count("GET /_sim/identity/token")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"access_token": tok,
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    s.appID,
	})
}

// authenticate returns the token's claims or answers 401.
func (s *Sim) authenticate(w http.ResponseWriter, r *http.Request) (Claims, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		s.writeError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return Claims{}, false
	}
	c, err := s.verify(tok)
	if err != nil {
		msg := "Access token validation failure. Invalid audience."
		if strings.Contains(err.Error(), "expired") {
			msg = "Lifetime validation failed, the token is expired."
		}
		s.writeError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return Claims{}, false
	}
	return c, true
}

// authorize answers 403 unless the token carries one of perms.
func (s *Sim) authorize(w http.ResponseWriter, r *http.Request, c Claims, perms []string) bool {
	if len(perms) == 0 {
		return true
	}
	for _, have := range c.Roles {
		for _, need := range perms {
			if have == need {
				return true
			}
		}
	}
	s.writeError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	return false
}
