package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// stringRules are the custom validator tags. Each returns why a value is
// wrong, so the same function validates and explains. None echoes its input
// where the input may hold a secret (database URLs).
var stringRules = map[string]func(string) error{
	"listenaddr":    checkListen,
	"weburl":        func(s string) error { return checkURL(s, false, false) },
	"secureurl":     func(s string) error { return checkURL(s, true, true) },
	"httpsurl":      func(s string) error { return checkURL(s, true, false) },
	"dburl":         checkDBURL,
	"sha256hex":     checkSHA256Hex,
	"guid":          checkGUID,
	"domainpattern": checkDomainPattern,
	"isodate":       checkDate,
	"hostorip":      checkHost,
}

// checkHost accepts a host name or an IP address (mail.smtp.host).
func checkHost(s string) error {
	if net.ParseIP(s) == nil && !isHostname(s) {
		return fmt.Errorf("%q is not a host name or IP address (write the host alone, without a port or scheme)", s)
	}
	return nil
}

func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not a host:port address", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q does not end in a port number (0-65535)", s)
	}
	if host != "" && net.ParseIP(host) == nil && !isHostname(host) {
		return fmt.Errorf("%q does not start with a host name or IP address", s)
	}
	return nil
}

func isHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for l := range strings.SplitSeq(h, ".") {
		if !isLabel(l) {
			return false
		}
	}
	return true
}

func isLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// isLoopback reports whether host (without port) is localhost or a loopback
// address.
func isLoopback(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// checkURL checks an absolute http(s) URL; with https, plain http is only
// accepted for a loopback host when loopbackHTTP is set.
func checkURL(s string, https, loopbackHTTP bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !https {
			break
		}
		if loopbackHTTP && isLoopback(u.Hostname()) {
			break
		}
		if loopbackHTTP {
			return fmt.Errorf("%q uses http; only https is allowed, except for localhost", s)
		}
		return fmt.Errorf("%q uses http; only https is allowed", s)
	default:
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not contain a user name or password", s)
	}
	if u.Fragment != "" {
		return fmt.Errorf("%q must not contain a #fragment", s)
	}
	return nil
}

func checkDBURL(s string) error {
	if p, ok := strings.CutPrefix(s, "sqlite:"); ok {
		if strings.TrimSpace(p) == "" {
			return errors.New(`"sqlite:" is missing the file path`)
		}
		return nil
	}
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			return errors.New("is not a valid postgres:// URL (is a special character in the password not %-encoded?)")
		}
		if u.Host == "" {
			return errors.New("is a postgres:// URL without a host")
		}
		if strings.Trim(u.Path, "/") == "" {
			return errors.New("is a postgres:// URL without a database name")
		}
		return nil
	}
	scheme, _, _ := strings.Cut(s, ":")
	if len(scheme) > 20 || strings.ContainsAny(scheme, "/@ ") {
		scheme = "?"
	}
	return fmt.Errorf("has scheme %q; only sqlite: and postgres:// are supported", scheme)
}

func checkSHA256Hex(s string) error {
	if len(s) == 64 && isHex(s) {
		if strings.ToLower(s) != s {
			return errors.New("must be lowercase hex")
		}
		return nil
	}
	if len(s) == 43 && !isHex(s) {
		return errors.New("looks like the token itself, not its SHA-256 hash (never put the token in the configuration)")
	}
	return fmt.Errorf("is not a SHA-256 hash: want 64 hex characters, got %s", plural(len(s), "character"))
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}

func checkGUID(s string) error {
	parts := strings.Split(s, "-")
	want := []int{8, 4, 4, 4, 12}
	ok := len(parts) == len(want)
	for i := 0; ok && i < len(parts); i++ {
		ok = len(parts[i]) == want[i] && isHex(parts[i])
	}
	if !ok {
		return fmt.Errorf("%q is not a GUID like 8f2d1c3e-0b4a-4e57-9c1d-2a6b3f4e5d60", s)
	}
	return nil
}

func checkDomainPattern(s string) error {
	if strings.Contains(s, "@") {
		return fmt.Errorf("%q is an e-mail address, not a domain", s)
	}
	if strings.Contains(s, "://") || strings.Contains(s, "/") {
		return fmt.Errorf("%q is a URL, not a domain", s)
	}
	d := strings.TrimPrefix(s, "*.")
	if strings.Contains(d, "*") {
		return fmt.Errorf("%q has a wildcard other than a leading \"*.\"", s)
	}
	if !isHostname(d) || strings.HasSuffix(d, ".") || !strings.Contains(d, ".") {
		return fmt.Errorf("%q is not a domain name", s)
	}
	return nil
}

func checkDate(s string) error {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return fmt.Errorf("%q is not a date written YYYY-MM-DD", s)
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
