package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a self-signed ECDSA certificate and its key as PEM files
// in dir and returns their paths.
func writePair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestValidateServerTLS(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := writePair(t, dir, "a")
	_, keyB := writePair(t, dir, "b")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable.crt")
	if err := os.WriteFile(unreadable, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		tls  TLS
		want []want
	}{
		"ok/pair": {tls: TLS{CertFile: certA, KeyFile: keyA}},
		"ok/none": {tls: TLS{}},
		"fail/only-cert": {tls: TLS{CertFile: certA},
			want: []want{{key: "server.tls.keyFile", msg: "is required when server.tls.certFile is set", hint: "set both"}}},
		"fail/only-key": {tls: TLS{KeyFile: keyA},
			want: []want{{key: "server.tls.certFile", msg: "is required when server.tls.keyFile is set", hint: "or neither"}}},
		"fail/missing-cert": {tls: TLS{CertFile: filepath.Join(dir, "nope.crt"), KeyFile: keyA},
			want: []want{{key: "server.tls.certFile", msg: "cannot be read: no such file", hint: "check the path"}}},
		"fail/cert-is-folder": {tls: TLS{CertFile: dir, KeyFile: keyA},
			want: []want{{key: "server.tls.certFile", msg: "cannot be read: is a directory", hint: "check the path"}}},
		"fail/mismatch": {tls: TLS{CertFile: certA, KeyFile: keyB},
			want: []want{{key: "server.tls", msg: "not a usable certificate and key", hint: "belong together"}}},
		"fail/not-pem": {tls: TLS{CertFile: garbage, KeyFile: keyA},
			want: []want{{key: "server.tls", msg: "not a usable certificate and key", hint: "PEM"}}},
	}
	if os.Geteuid() != 0 { // root reads any file
		tests["fail/unreadable-cert"] = struct {
			tls  TLS
			want []want
		}{tls: TLS{CertFile: unreadable, KeyFile: keyA},
			want: []want{{key: "server.tls.certFile", msg: "cannot be read: permission denied", hint: "may read the file"}}}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			c.Server.TLS = tc.tls
			assertProblems(t, c.Validate(ForServe()), tc.want)
		})
	}
}

func TestValidateAdminListen(t *testing.T) {
	tests := map[string]struct {
		admin string
		pprof bool
		want  []want
	}{
		"ok/unset": {admin: ""},
		"ok/pprof": {admin: "127.0.0.1:9090", pprof: true},
		"fail/pprof-without-admin": {pprof: true,
			want: []want{{key: "server.pprof", msg: "needs server.adminListen", hint: "set server.adminListen"}}},
		"ok/own-port":    {admin: "127.0.0.1:9090"},
		"ok/both-port-0": {admin: "127.0.0.1:0"},
		"fail/not-addr":  {admin: "9090", want: []want{{key: "server.adminListen", msg: "not a host:port address"}}},
		"fail/same-as-listen": {admin: "127.0.0.1:8080",
			want: []want{{key: "server.adminListen", msg: "the same address as server.listen", hint: "own port"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			if tc.admin == "127.0.0.1:0" {
				c.Server.Listen = tc.admin
			}
			c.Server.AdminListen, c.Server.Pprof = tc.admin, tc.pprof
			assertProblems(t, c.Validate(ForServe()), tc.want)
		})
	}
}

func TestWarningPlainHTTPOnNetwork(t *testing.T) {
	certFile, keyFile := writePair(t, t.TempDir(), "pb")
	tests := map[string]struct {
		mutate func(c *Config)
		warn   bool
	}{
		"warn/all-interfaces": {mutate: func(c *Config) { c.Server.Listen = "0.0.0.0:8080" }, warn: true},
		"warn/no-host":        {mutate: func(c *Config) { c.Server.Listen = ":8080" }, warn: true},
		"warn/lan-address":    {mutate: func(c *Config) { c.Server.Listen = "10.1.2.3:8080" }, warn: true},
		"warn/proxy-but-http-url": {mutate: func(c *Config) {
			c.Server.Listen, c.Server.TrustedProxies, c.Server.PublicURL = "0.0.0.0:8080", []string{"10.0.0.0/24"}, "http://pb.internal"
		}, warn: true},
		"quiet/loopback-v4": {mutate: func(c *Config) { c.Server.Listen = "127.0.0.1:8080" }},
		"quiet/loopback-v6": {mutate: func(c *Config) { c.Server.Listen = "[::1]:8080" }},
		"quiet/localhost":   {mutate: func(c *Config) { c.Server.Listen = "localhost:8080" }},
		"quiet/tls": {mutate: func(c *Config) {
			c.Server.Listen, c.Server.TLS = "0.0.0.0:8080", TLS{CertFile: certFile, KeyFile: keyFile}
		}},
		"quiet/tls-terminating-proxy": {mutate: func(c *Config) {
			c.Server.Listen, c.Server.TrustedProxies, c.Server.PublicURL = "0.0.0.0:8080", []string{"10.0.0.0/24"}, "https://pb.techpass.gov.sg"
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			if err := c.Validate(ForServe()); err != nil {
				t.Fatalf("a warning must not be an error: %v", err)
			}
			var got []Problem
			for _, w := range c.Warnings() {
				if w.Key == "server.listen" {
					got = append(got, w)
				}
			}
			if !tc.warn {
				if len(got) != 0 {
					t.Errorf("unexpected warning: %v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("warnings = %v, want one for server.listen", c.Warnings())
			}
			s := got[0].String()
			for _, sub := range []string{"plain HTTP", "bearer tokens", "personal data", "in clear", "server.tls.certFile", "TLS-terminating proxy"} {
				if !strings.Contains(s, sub) {
					t.Errorf("warning lacks %q: %s", sub, s)
				}
			}
		})
	}
}
