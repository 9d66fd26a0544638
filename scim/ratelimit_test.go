package scim

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/internal/testkit"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	cases := map[string]struct {
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		"peer":                           {"192.0.2.7:1234", nil, nil, "192.0.2.7"},
		"peer-v6":                        {"[2001:db8::1]:443", nil, nil, "2001:db8::1"},
		"peer-v4-in-v6":                  {"[::ffff:192.0.2.7]:1", nil, nil, "192.0.2.7"},
		"peer-zone":                      {"[fe80::1%eth0]:1", nil, nil, "fe80::1"},
		"xff-ignored-without-trust":      {"192.0.2.7:1", []string{"198.51.100.1"}, nil, "192.0.2.7"},
		"xff-ignored-from-untrusted":     {"192.0.2.7:1", []string{"198.51.100.1"}, proxies, "192.0.2.7"},
		"xff-from-trusted":               {"10.1.1.1:1", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		"xff-rightmost-untrusted":        {"10.1.1.1:1", []string{"203.0.113.9, 198.51.100.1, 10.2.2.2"}, proxies, "198.51.100.1"},
		"xff-spoofed-left-ignored":       {"10.1.1.1:1", []string{"1.2.3.4", "198.51.100.1"}, proxies, "198.51.100.1"},
		"xff-garbage-stops-at-last-good": {"10.1.1.1:1", []string{"not-an-ip, 10.3.3.3"}, proxies, "10.3.3.3"},
		"xff-all-trusted":                {"10.1.1.1:1", []string{"10.9.9.9"}, proxies, "10.9.9.9"},
		"xff-empty-from-trusted":         {"10.1.1.1:1", nil, proxies, "10.1.1.1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ip, ok := clientIP(tc.remote, tc.xff, tc.trusted)
			if !ok || ip.String() != tc.want {
				t.Fatalf("clientIP = %v %v, want %s", ip, ok, tc.want)
			}
		})
	}
	if _, ok := clientIP("pipe", nil, nil); ok {
		t.Error("an unparsable RemoteAddr gave an address")
	}
}

// Addresses of one IPv6 /64 share a counter; IPv4 addresses do not.
func TestLimiterKeys(t *testing.T) {
	l := newAuthLimiter(AuthLimit{})
	key := func(remote string) netip.Prefix {
		return l.clientKey(&http.Request{RemoteAddr: remote})
	}
	if a, b := key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:2:ffff::9]:2"); a != b {
		t.Errorf("one /64, two keys: %v %v", a, b)
	}
	if a, b := key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:3::1]:1"); a == b {
		t.Errorf("two /64s, one key: %v", a)
	}
	if a, b := key("192.0.2.1:1"), key("192.0.2.2:1"); a == b {
		t.Errorf("two IPv4 addresses, one key: %v", a)
	}
}

func TestLimiterWindowAndCooldown(t *testing.T) {
	clk := testkit.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	l := newAuthLimiter(AuthLimit{MaxFailures: 3, Window: time.Minute, Cooldown: 30 * time.Second, Clock: clk})
	a := netip.MustParsePrefix("192.0.2.1/32")
	// Failures spread wider than the window never block.
	for range 10 {
		l.fail(a, nil)
		l.fail(a, nil)
		clk.Advance(61 * time.Second)
		if b, _ := l.blocked(a, nil); b {
			t.Fatal("blocked by failures outside one window")
		}
	}
	l.fail(a, nil)
	l.fail(a, nil)
	if ab, _ := l.fail(a, nil); !ab {
		t.Fatal("third failure within the window did not block")
	}
	b, secs := l.blocked(a, nil)
	if !b || secs != 30 {
		t.Fatalf("blocked = %v, %ds; want true, 30s", b, secs)
	}
	clk.Advance(29500 * time.Millisecond)
	if b, secs := l.blocked(a, nil); !b || secs != 1 {
		t.Fatalf("half a second before the end: blocked = %v, %ds; want true, 1s", b, secs)
	}
	clk.Advance(500 * time.Millisecond)
	if b, _ := l.blocked(a, nil); b {
		t.Fatal("still blocked after the cool-down")
	}
	// The count starts afresh after a block.
	l.fail(a, nil)
	if b, _ := l.blocked(a, nil); b {
		t.Fatal("blocked again by one failure after the cool-down")
	}
}

// A flood of distinct addresses and credentials keeps memory bounded, and
// a blocked address being hammered stays blocked.
func TestLimiterBounded(t *testing.T) {
	clk := testkit.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	const maxEntries = 1000
	l := newAuthLimiter(AuthLimit{MaxFailures: 2, MaxEntries: maxEntries, Clock: clk})
	hot := netip.MustParsePrefix("198.51.100.1/32")
	l.fail(hot, nil)
	l.fail(hot, nil)
	for i := range 50000 {
		a := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		cred := sha256.Sum256([]byte(fmt.Sprint("guess", i)))
		l.fail(a, &cred)
		if i%100 == 0 {
			// It keeps knocking: most recent, never evicted.
			if b, _ := l.blocked(hot, nil); !b {
				t.Fatalf("after %d other addresses: the hammering address is no longer blocked", i)
			}
		}
		if na, nc := l.size(); na > maxEntries || nc > maxEntries {
			t.Fatalf("%d addresses, %d credentials tracked; cap %d", na, nc, maxEntries)
		}
	}
	na, nc := l.size()
	t.Logf("after 50000 distinct addresses and credentials: %d and %d tracked (cap %d)", na, nc, maxEntries)
}

func TestLimiterDisabled(t *testing.T) {
	if l := newAuthLimiter(AuthLimit{Disabled: true}); l != nil {
		t.Fatal("Disabled still built a limiter")
	}
}

// A flood of 100,000 distinct addresses, each with its own wrong token,
// keeps the limiter within its cap, and the valid token stays served from
// the first and the last of them.
func TestAuthCheckBoundedMemory(t *testing.T) {
	const tok = "bounded-valid-token-0123456789"
	sum := sha256.Sum256([]byte(tok))
	a, err := newAuthenticator([]Token{{Name: "t", SHA256: fmt.Sprintf("%x", sum)}}, AuthLimit{})
	if err != nil {
		t.Fatal(err)
	}
	req := func(i int, auth string) *http.Request {
		r := &http.Request{Header: http.Header{}, RemoteAddr: fmt.Sprintf("10.%d.%d.%d:1", byte(i>>16), byte(i>>8), byte(i))}
		r.Header.Set("Authorization", auth)
		return r
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 100000
	for i := range n {
		for j := range 10 { // enough to block each address
			a.check(req(i, fmt.Sprintf("Bearer guess-%d-%d", i, j)))
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	na, nc := a.limit.size()
	max := a.limit.cfg.MaxEntries
	if na > max || nc > max {
		t.Fatalf("%d addresses, %d credentials tracked; cap %d", na, nc, max)
	}
	for _, i := range []int{0, n - 1} {
		if _, e := a.check(req(i, "Bearer "+tok)); e != nil {
			t.Fatalf("valid token from flooded address %d: %d %s", i, e.Status, e.Detail)
		}
	}
	if _, e := a.check(req(n-1, "Bearer guess-late")); e == nil || e.Status != 429 {
		t.Fatalf("a failing attempt from the last, blocked address: %v, want 429", e)
	}
	t.Logf("%d addresses × 10 failures: %d addresses, %d credentials tracked (cap %d each); heap %+d KiB",
		n, na, nc, max, (int64(after.HeapAlloc)-int64(before.HeapAlloc))/1024)
}

// An oversized credential is refused without hashing all of it, and keyed
// by its bounded prefix: varying the tail does not escape a block.
func TestAuthCheckLongCredential(t *testing.T) {
	a, err := newAuthenticator([]Token{{Name: "t", SHA256: fmt.Sprintf("%x", sha256.Sum256([]byte("x")))}}, AuthLimit{})
	if err != nil {
		t.Fatal(err)
	}
	head := "Bearer " + strings.Repeat("a", 1<<20)
	var last *Error
	for i := range 11 {
		r := &http.Request{Header: http.Header{}, RemoteAddr: fmt.Sprintf("192.0.2.%d:1", i+1)}
		r.Header.Set("Authorization", head+fmt.Sprint(i))
		_, last = a.check(r)
		if i == 0 && (last == nil || last.Status != 401 || !strings.Contains(last.Detail, "longer than")) {
			t.Fatalf("a 1 MiB credential: %+v, want 401 naming the length", last)
		}
	}
	if last == nil || last.Status != 429 {
		t.Fatalf("the 11th oversized credential with another tail: %+v, want 429", last)
	}
}
