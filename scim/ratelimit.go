package scim

import (
	"container/list"
	"crypto/sha256"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// AuthLimit configures the failed-authentication limiter. The zero value
// is the default: on, 10 failures within 1 minute block for 1 minute.
//
// A failure is a request that carries an Authorization header that is not
// accepted (wrong token, wrong scheme, empty token). A request without the
// header gets its 401 but is not counted: it guesses nothing, and probes
// that forget the header must not lock out the clients behind the same
// address. Accepted requests are never limited and never counted.
//
// Failures are counted per client address and per presented credential
// (by its SHA-256; the credential itself is never kept). Once either
// reaches MaxFailures within Window, failing requests from that address,
// or presenting that credential, are answered 429 with Retry-After for
// Cooldown instead of 401. The token is checked first, always: a valid
// token is served even from a blocked address, so that a flood of bad
// tokens from a shared egress address (or through a balancer) never locks
// a real client out. Guessing is not what the limiter stops — a 256-bit
// token cannot be guessed — it keeps a failing client's noise cheap and
// tells it to back off.
//
// The client address is the TCP peer (r.RemoteAddr). X-Forwarded-For is
// ignored unless the peer is one of TrustedProxies; then the right-most
// address in it that is not itself a trusted proxy is the client. Behind a
// load balancer that is not listed, every client shares the balancer's
// address and one misbehaving client makes every failing client of the
// balancer get 429 (valid tokens are still served): list the balancer's
// addresses in TrustedProxies. IPv6 clients are counted per /64,
// since one host commonly holds a whole /64.
type AuthLimit struct {
	// Disabled turns the limiter off.
	Disabled bool
	// MaxFailures within Window block the address or credential (default 10).
	MaxFailures int
	// Window is the period failures are counted over (default 1m).
	Window time.Duration
	// Cooldown is how long a block lasts (default 1m).
	Cooldown time.Duration
	// MaxEntries caps the addresses and, separately, the credentials
	// tracked (default 10000 each, about 1 MB in all); the least recently
	// seen entry is dropped first when full.
	MaxEntries int
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Clock is the time source (default the system clock).
	Clock connector.Clock
}

func (l AuthLimit) withDefaults() AuthLimit {
	if l.MaxFailures <= 0 {
		l.MaxFailures = 10
	}
	if l.Window <= 0 {
		l.Window = time.Minute
	}
	if l.Cooldown <= 0 {
		l.Cooldown = time.Minute
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = 10000
	}
	if l.Clock == nil {
		l.Clock = connector.SystemClock{}
	}
	return l
}

// authLimiter counts failed authentications; nil when disabled.
type authLimiter struct {
	cfg    AuthLimit
	mu     sync.Mutex
	addrs  *lru[netip.Prefix]
	creds  *lru[[sha256.Size]byte]
	noAddr netip.Prefix // key for a RemoteAddr that does not parse
}

func newAuthLimiter(cfg AuthLimit) *authLimiter {
	if cfg.Disabled {
		return nil
	}
	cfg = cfg.withDefaults()
	return &authLimiter{
		cfg:   cfg,
		addrs: newLRU[netip.Prefix](cfg.MaxEntries),
		creds: newLRU[[sha256.Size]byte](cfg.MaxEntries),
	}
}

// blocked tells whether the address or the credential is cooling down, and
// for how many more whole seconds (at least 1).
func (l *authLimiter) blocked(addr netip.Prefix, cred *[sha256.Size]byte) (bool, int) {
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var until time.Time
	if c := l.addrs.get(addr); c != nil && now.Before(c.blockedUntil) {
		until = c.blockedUntil
	}
	if cred != nil {
		if c := l.creds.get(*cred); c != nil && now.Before(c.blockedUntil) && c.blockedUntil.After(until) {
			until = c.blockedUntil
		}
	}
	if until.IsZero() {
		return false, 0
	}
	return true, max(1, int(math.Ceil(until.Sub(now).Seconds())))
}

// fail counts a failed authentication and reports whether it started a
// block of the address or of the credential.
func (l *authLimiter) fail(addr netip.Prefix, cred *[sha256.Size]byte) (addrBlocked, credBlocked bool) {
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	addrBlocked = l.count(l.addrs.touch(addr), now)
	if cred != nil {
		credBlocked = l.count(l.creds.touch(*cred), now)
	}
	return addrBlocked, credBlocked
}

func (l *authLimiter) count(c *counter, now time.Time) bool {
	if now.Before(c.blockedUntil) {
		return false
	}
	if c.failures == 0 || now.Sub(c.windowStart) >= l.cfg.Window {
		c.windowStart, c.failures = now, 0
	}
	c.failures++
	if c.failures >= l.cfg.MaxFailures {
		c.blockedUntil = now.Add(l.cfg.Cooldown)
		c.failures = 0
		return true
	}
	return false
}

// size returns how many addresses and credentials are tracked.
func (l *authLimiter) size() (addrs, creds int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addrs.len(), l.creds.len()
}

// clientKey is the address failures of r are counted under.
func (l *authLimiter) clientKey(r *http.Request) netip.Prefix {
	ip, ok := clientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), l.cfg.TrustedProxies)
	if !ok {
		return l.noAddr
	}
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64)
	return p
}

// clientIP finds the client's address: the TCP peer, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not a trusted
// proxy.
func clientIP(remoteAddr string, xff []string, trusted []netip.Prefix) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	ip = ip.Unmap().WithZone("")
	if !isTrusted(ip, trusted) {
		return ip, true
	}
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// Garbage from the client's side of the chain: the last
			// address known good is the client.
			return ip, true
		}
		ip = h.Unmap().WithZone("")
		if !isTrusted(ip, trusted) {
			return ip, true
		}
	}
	return ip, true
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

type counter struct {
	windowStart  time.Time
	failures     int
	blockedUntil time.Time
}

// lru is a map of counters bounded to max entries, dropping the least
// recently touched first.
type lru[K comparable] struct {
	max   int
	items map[K]*list.Element
	order *list.List // front: most recent
}

type lruEntry[K comparable] struct {
	key K
	c   counter
}

func newLRU[K comparable](max int) *lru[K] {
	return &lru[K]{max: max, items: make(map[K]*list.Element), order: list.New()}
}

func (m *lru[K]) len() int { return len(m.items) }

// get returns k's counter, or nil, and marks it most recent: an address
// that keeps knocking while blocked is not evicted by a flood of others.
func (m *lru[K]) get(k K) *counter {
	if e, ok := m.items[k]; ok {
		m.order.MoveToFront(e)
		return &e.Value.(*lruEntry[K]).c
	}
	return nil
}

// touch returns k's counter, creating it (and dropping the least recently
// touched entry when full) if needed, and marks it most recent.
func (m *lru[K]) touch(k K) *counter {
	if e, ok := m.items[k]; ok {
		m.order.MoveToFront(e)
		return &e.Value.(*lruEntry[K]).c
	}
	for len(m.items) >= m.max {
		last := m.order.Back()
		delete(m.items, last.Value.(*lruEntry[K]).key)
		m.order.Remove(last)
	}
	e := m.order.PushFront(&lruEntry[K]{key: k})
	m.items[k] = e
	return &e.Value.(*lruEntry[K]).c
}
