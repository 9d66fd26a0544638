package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/passbridge/passbridge/config"
)

// Token is an admin's sign-in token: the name and the hex SHA-256 of the
// token (config.HashToken), as admin.tokens holds them.
type Token struct {
	Name   string
	SHA256 string
}

const (
	sessionCookie = "pb_admin_session"
	loginCookie   = "pb_admin_login" // the sign-in form's CSRF token (double submit)
	csrfField     = "csrf"
	cookiePath    = "/admin/"
)

// session is one signed-in admin. Sessions live in memory: a restart signs
// everyone out, and each replica has its own (sign in on the one you use).
type session struct {
	name    string
	csrf    string
	expires time.Time
}

type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
	now func() time.Time
}

// randomID returns 256 random bits, URL-safe base64.
func randomID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("admin: crypto/rand failed: " + err.Error()) // the runtime guarantees it does not
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (ss *sessions) create(name string) (string, *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for id, s := range ss.m { // sweep: the map stays as small as the live sessions
		if !now.Before(s.expires) {
			delete(ss.m, id)
		}
	}
	id := randomID()
	s := &session{name: name, csrf: randomID(), expires: now.Add(ss.ttl)}
	ss.m[id] = s
	return id, s
}

func (ss *sessions) get(id string) (*session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok {
		return nil, false
	}
	if !ss.now().Before(s.expires) {
		delete(ss.m, id)
		return nil, false
	}
	return s, true
}

func (ss *sessions) delete(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

// match returns the name of the admin whose token this is, comparing the
// hash with every configured one in constant time.
func match(tokens []Token, token string) (string, bool) {
	if token == "" {
		return "", false
	}
	h := []byte(config.HashToken(token))
	name, ok := "", false
	for _, t := range tokens {
		if subtle.ConstantTimeCompare(h, []byte(strings.ToLower(t.SHA256))) == 1 && !ok {
			name, ok = t.Name, true
		}
	}
	return name, ok
}

func equalSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// limiter counts failed sign-ins (form and bearer) per client address in a
// window, and in total, so that guessing a token is slow from one address
// and from many.
type limiter struct {
	mu        sync.Mutex
	window    time.Duration
	perClient int
	total     int
	now       func() time.Time
	start     time.Time
	byClient  map[string]int
	all       int
}

func (l *limiter) roll() {
	if now := l.now(); now.Sub(l.start) >= l.window {
		l.start, l.byClient, l.all = now, map[string]int{}, 0
	}
}

// blocked reports whether client may not try again yet, and for how long.
func (l *limiter) blocked(client string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	if l.byClient[client] >= l.perClient || l.all >= l.total {
		return true, l.window - l.now().Sub(l.start)
	}
	return false, 0
}

func (l *limiter) fail(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	l.byClient[client]++
	l.all++
}

// clientAddr is the connection's address without the port. A proxy in
// front makes every client one address: the total limit still holds.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: cookiePath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}
