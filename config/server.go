package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
)

// Hints for the server's edge keys (HTTPS and the admin listener).
const (
	hintTLSPair  = "set both server.tls.certFile and server.tls.keyFile (PEM files) to serve HTTPS, or neither to serve plain HTTP"
	hintTLSFile  = "check the path, and that the user passbridge runs as may read the file"
	hintTLSMatch = "give the certificate (PEM, the server's certificate first, then any intermediates) and the private key (PEM, unencrypted) that belong together"
	hintPlainNet = "set server.tls.certFile and server.tls.keyFile to serve HTTPS; or, behind a TLS-terminating proxy (load balancer, ingress), list the proxy in server.trustedProxies and set server.publicURL to the https:// URL clients use; or listen on 127.0.0.1"
)

// checkServerEdge validates server.tls and server.adminListen. It reads the
// TLS files (nothing else), so that a missing or mismatched pair is found
// by `config validate` and not at the first handshake.
func (c *Config) checkServerEdge(ps *Problems) {
	t := c.Server.TLS
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		ps.add("server.tls.keyFile", "is required when server.tls.certFile is set", hintTLSPair)
	case t.CertFile == "" && t.KeyFile != "":
		ps.add("server.tls.certFile", "is required when server.tls.keyFile is set", hintTLSPair)
	case t.Enabled():
		cert, cerr := os.ReadFile(t.CertFile)
		if cerr != nil {
			ps.add("server.tls.certFile", "cannot be read: "+fileErr(cerr), hintTLSFile)
		}
		key, kerr := os.ReadFile(t.KeyFile)
		if kerr != nil {
			ps.add("server.tls.keyFile", "cannot be read: "+fileErr(kerr), hintTLSFile)
		}
		if cerr == nil && kerr == nil {
			// tls's errors name what is wrong, never the key's bytes.
			if _, err := tls.X509KeyPair(cert, key); err != nil {
				ps.add("server.tls", fmt.Sprintf("%s and %s are not a usable certificate and key: %v", t.CertFile, t.KeyFile, err), hintTLSMatch)
			}
		}
	}

	if c.Server.Pprof && c.Server.AdminListen == "" {
		ps.add("server.pprof", "needs server.adminListen: the profiler is never served on the SCIM port",
			`set server.adminListen to a private address, e.g. "127.0.0.1:9090", or set server.pprof to false`)
	}

	if a := c.Server.AdminListen; a != "" && checkListen(a) == nil && a == c.Server.Listen && !strings.HasSuffix(a, ":0") {
		ps.add("server.adminListen", fmt.Sprintf("is %q, the same address as server.listen", a),
			`give it its own port, e.g. "127.0.0.1:9090", or remove it to serve /healthz, /readyz and /metrics on server.listen`)
	}
}

// fileErr is a file error without the "open PATH: " prefix the key
// already names.
func fileErr(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// serverEdgeWarnings warns about a plain-HTTP listener reachable from the
// network. A TLS-terminating proxy that is declared (trustedProxies) and
// that clients reach over https (publicURL) counts as the fix.
func (c *Config) serverEdgeWarnings() []Problem {
	s := c.Server
	if s.TLS.Enabled() || checkListen(s.Listen) != nil {
		return nil
	}
	host, _, _ := net.SplitHostPort(s.Listen)
	if host != "" && isLoopback(host) {
		return nil
	}
	if len(s.TrustedProxies) > 0 && strings.HasPrefix(strings.ToLower(s.PublicURL), "https://") {
		return nil
	}
	return []Problem{{Key: "server.listen", path: "server.listen",
		Message: fmt.Sprintf("%q is reachable from the network and serves plain HTTP: SCIM bearer tokens and personal data (names, e-mail addresses) would cross the network in clear", s.Listen),
		Hint:    hintPlainNet}}
}
