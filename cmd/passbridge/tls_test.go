package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/graph/graphsim"
)

// testPair is a self-signed ECDSA certificate for localhost and 127.0.0.1.
type testPair struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
}

func newTestPair(t *testing.T, cn string) testPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true, // self-signed: it is its own root in the client's pool
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testPair{cert: cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
}

// write puts the pair at certFile/keyFile the way rotation tools do: a new
// file renamed over the old one, with a modification time after the old
// one's (so a coarse file system clock cannot hide the change).
func (p testPair) write(t *testing.T, certFile, keyFile string) {
	t.Helper()
	mod := time.Now().Add(time.Second)
	if fi, err := os.Stat(certFile); err == nil && !fi.ModTime().Before(mod) {
		mod = fi.ModTime().Add(time.Second)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{certFile, p.certPEM}, {keyFile, p.keyPEM}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, mod, mod); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

// writeServerConfig writes a serve configuration with the given server
// section lines (indented under server:) and returns its path and token.
func writeServerConfig(t *testing.T, dir, serverYAML, simURL string) (string, string) {
	t.Helper()
	token, sum, err := config.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`server:
%s
log:
  level: info
  format: text
scim:
  tokens:
    - name: tls-test
      sha256: %s
database:
  url: %q
graph:
  endpoint: %q
azure:
  credential: managed
invitation:
  redirectURL: https://myapps.microsoft.com
policy:
  allowedDomains: ["gov.sg", "*.gov.sg"]
`, serverYAML, sum, "sqlite:"+filepath.Join(dir, "pb.db"), simURL)
	cfgPath := filepath.Join(dir, "passbridge.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, token
}

// tlsProc starts "passbridge serve" with the given server section lines
// and waits until readyURL answers 200 over client.
func tlsProc(t *testing.T, serverYAML string, client *http.Client, readyURL string) (*proc, string) {
	t.Helper()
	sim, simSrv := graphsim.Start()
	t.Cleanup(simSrv.Close)
	cfgPath, token := writeServerConfig(t, t.TempDir(), serverYAML, simSrv.URL)
	cmd := exec.Command(os.Args[0], "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "PB_TEST_RUN_MAIN=1",
		"IDENTITY_ENDPOINT="+graphsim.IdentityEndpoint(simSrv.URL), "IDENTITY_HEADER="+sim.IdentityHeader())
	out := &bytes.Buffer{}
	lw := &lockedWriter{w: out}
	cmd.Stdout, cmd.Stderr = lw, lw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, token: token, out: out, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := client.Get(readyURL)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p, token
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("passbridge serve exited at start:\n%s", procLog(p))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("passbridge serve not ready at %s (%v):\n%s", readyURL, err, procLog(p))
		}
	}
}

func httpsClient(roots ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		DisableKeepAlives: true, // every request a new handshake
	}}
}

// presented returns the CommonName of the certificate the server at addr
// presents in a new handshake.
func presented(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the test looks at what is presented
	if err != nil {
		t.Fatalf("handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// serve with server.tls.* answers SCIM over HTTPS with the configured
// certificate (verified by the client), refuses TLS 1.1 and plain HTTP,
// and presents a rotated pair at the next handshake without a restart.
func TestServeTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	a, b := newTestPair(t, "passbridge-a"), newTestPair(t, "passbridge-b")
	a.write(t, certFile, keyFile)
	listen := freeAddr(t)
	client := httpsClient(a.cert, b.cert)
	p, token := tlsProc(t, fmt.Sprintf("  listen: %q\n  tls:\n    certFile: %q\n    keyFile: %q", listen, certFile, keyFile),
		client, "https://"+listen+"/readyz")

	// SCIM over HTTPS, the certificate verified against a.
	req, _ := http.NewRequest("GET", "https://"+listen+"/scim/v2/Users", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := httpsClient(a.cert).Do(req)
	if err != nil {
		t.Fatalf("SCIM over HTTPS: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("SCIM over HTTPS: %d, tls %+v", res.StatusCode, res.TLS)
	}
	if got := presented(t, listen); got != "passbridge-a" {
		t.Fatalf("presented %q, want passbridge-a", got)
	}

	// TLS 1.1 and older are refused.
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", listen, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: v})
		if err == nil {
			conn.Close()
			t.Errorf("a TLS %s client was served", tls.VersionName(v))
		}
	}
	// Plain HTTP on the HTTPS port gets no SCIM answer.
	if res, err := http.Get("http://" + listen + "/healthz"); err == nil {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Errorf("plain HTTP was served: %d %s", res.StatusCode, body)
		}
	}

	// Rotation: write pair b; a handshake after the check interval presents it.
	b.write(t, certFile, keyFile)
	deadline := time.Now().Add(certCheckInterval + 10*time.Second)
	for presented(t, listen) != "passbridge-b" {
		if time.Now().After(deadline) {
			t.Fatalf("rotated certificate not presented after %s:\n%s", certCheckInterval+10*time.Second, procLog(p))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// And it is verified like the first.
	res, err = httpsClient(b.cert).Get("https://" + listen + "/healthz")
	if err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	res.Body.Close()

	// A broken new pair (a's key with b's certificate) keeps b in service.
	a2 := b
	a2.keyPEM = a.keyPEM
	a2.write(t, certFile, keyFile)
	time.Sleep(certCheckInterval + 500*time.Millisecond)
	for range 3 {
		if got := presented(t, listen); got != "passbridge-b" {
			t.Fatalf("after a broken pair, presented %q, want passbridge-b", got)
		}
	}
	log := stopProc(p)
	if !strings.Contains(log, "do not load; still serving the previous certificate") {
		t.Errorf("no error logged for the broken pair:\n%s", log)
	}
	if !strings.Contains(log, "TLS certificate reloaded") {
		t.Errorf("no reload logged:\n%s", log)
	}
}

// With server.adminListen, /metrics, /healthz and /readyz answer there (over
// the same TLS) and are 404 on the SCIM port, which still serves SCIM.
func TestServeAdminListen(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	for _, withTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", withTLS), func(t *testing.T) {
			listen, admin := freeAddr(t), freeAddr(t)
			server := fmt.Sprintf("  listen: %q\n  adminListen: %q", listen, admin)
			// The profiler: on in the plain run, off (the default) under TLS.
			if !withTLS {
				server += "\n  pprof: true"
			}
			scheme, client := "http", &http.Client{Timeout: 10 * time.Second}
			if withTLS {
				dir := t.TempDir()
				certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
				pair := newTestPair(t, "passbridge-admin")
				pair.write(t, certFile, keyFile)
				server += fmt.Sprintf("\n  tls:\n    certFile: %q\n    keyFile: %q", certFile, keyFile)
				scheme, client = "https", httpsClient(pair.cert)
			}
			p, token := tlsProc(t, server, client, scheme+"://"+admin+"/readyz")
			get := func(url, auth string) (int, string) {
				t.Helper()
				req, _ := http.NewRequest("GET", url, nil)
				if auth != "" {
					req.Header.Set("Authorization", "Bearer "+auth)
				}
				res, err := client.Do(req)
				if err != nil {
					t.Fatalf("GET %s: %v", url, err)
				}
				defer res.Body.Close()
				body, _ := io.ReadAll(res.Body)
				return res.StatusCode, string(body)
			}
			for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
				if code, body := get(scheme+"://"+admin+path, ""); code != 200 {
					t.Errorf("admin %s: %d %s", path, code, body)
				}
				if code, body := get(scheme+"://"+listen+path, ""); code != 404 {
					t.Errorf("SCIM port %s: %d, want 404: %s", path, code, body)
				}
			}
			pprofCode := map[bool]int{true: 404, false: 200}[withTLS]
			if code, body := get(scheme+"://"+admin+"/debug/pprof/cmdline", ""); code != pprofCode {
				t.Errorf("admin /debug/pprof/cmdline with pprof=%v: %d, want %d: %.200s", !withTLS, code, pprofCode, body)
			}
			if code, _ := get(scheme+"://"+listen+"/debug/pprof/cmdline", ""); code != 404 {
				t.Errorf("SCIM port /debug/pprof/cmdline: %d, want 404", code)
			}
			if code, body := get(scheme+"://"+listen+"/scim/v2/Users", token); code != 200 {
				t.Errorf("SCIM on server.listen: %d %s", code, body)
			}
			if code, _ := get(scheme+"://"+admin+"/scim/v2/Users", token); code != 404 {
				t.Errorf("SCIM on adminListen: %d, want 404", code)
			}
			// The SCIM port's requests are counted on the admin port's /metrics.
			_, body := get(scheme+"://"+admin+"/metrics", "")
			if !strings.Contains(body, `passbridge_http_requests_total{code="404",method="GET",route="/metrics"}`) {
				t.Errorf("/metrics lacks the SCIM port's 404 for /metrics:\n%s", grep(body, "passbridge_http_requests_total"))
			}
			// SIGTERM stops both servers gracefully (exit 0).
			p.kill(syscall.SIGTERM)
			if code := p.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("exit code after SIGTERM = %d:\n%s", code, procLog(p))
			}
		})
	}
}

// A changed pair is picked up at the first handshake after the check
// interval; a broken one is logged once and the previous one kept.
func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	a, b := newTestPair(t, "a"), newTestPair(t, "b")
	a.write(t, certFile, keyFile)
	var logBuf bytes.Buffer
	r, err := newCertReloader(certFile, keyFile, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.now = func() time.Time { return now }
	cn := func() string {
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	if got := cn(); got != "a" {
		t.Fatalf("first = %q", got)
	}
	b.write(t, certFile, keyFile)
	if got := cn(); got != "a" {
		t.Errorf("reloaded before the check interval: %q", got)
	}
	now = now.Add(certCheckInterval)
	if got := cn(); got != "b" {
		t.Errorf("after rotation = %q, want b", got)
	}
	broken := b
	broken.keyPEM = a.keyPEM
	broken.write(t, certFile, keyFile)
	for range 3 {
		now = now.Add(certCheckInterval)
		if got := cn(); got != "b" {
			t.Errorf("after a broken pair = %q, want b", got)
		}
	}
	if n := strings.Count(logBuf.String(), "do not load"); n != 1 {
		t.Errorf("broken pair logged %d times, want once:\n%s", n, logBuf.String())
	}
	// Fixing the pair (the key written after the certificate) is picked up.
	a.write(t, certFile, keyFile)
	now = now.Add(certCheckInterval)
	if got := cn(); got != "a" {
		t.Errorf("after the fix = %q, want a", got)
	}

	// serve refuses to start on a broken pair, naming the files.
	if err := os.WriteFile(keyFile, b.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), certFile) {
		t.Errorf("broken pair at start: %v", err)
	}
}

// config validate warns (exit 0) about plain HTTP on a network address,
// and is quiet about loopback and HTTPS; a half-configured pair fails it.
func TestConfigValidateTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	newTestPair(t, "pb").write(t, certFile, keyFile)
	tlsKeys := fmt.Sprintf("\n  tls:\n    certFile: %q\n    keyFile: %q", certFile, keyFile)
	tests := map[string]struct {
		server string
		code   int
		want   []string
		absent []string
	}{
		"warn/all-interfaces": {server: `  listen: "0.0.0.0:8080"`,
			want: []string{"warning: server.listen:", "plain HTTP", "bearer tokens and personal data", "in clear", "server.tls.certFile", "TLS-terminating proxy", "configuration OK"}},
		"quiet/loopback": {server: `  listen: "127.0.0.1:8080"`, want: []string{"configuration OK"}, absent: []string{"server.listen"}},
		"quiet/tls":      {server: `  listen: "0.0.0.0:8443"` + tlsKeys, want: []string{"configuration OK"}, absent: []string{"server.listen"}},
		"fail/only-cert": {server: fmt.Sprintf("  listen: \"0.0.0.0:8443\"\n  tls:\n    certFile: %q", certFile), code: 1,
			want: []string{"server.tls.keyFile: is required when server.tls.certFile is set"}},
		"fail/missing-key": {server: fmt.Sprintf("  listen: \"0.0.0.0:8443\"\n  tls:\n    certFile: %q\n    keyFile: %q", certFile, keyFile+".missing"), code: 1,
			want: []string{"server.tls.keyFile: cannot be read: no such file or directory; fix: check the path"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfgPath, _ := writeServerConfig(t, t.TempDir(), tc.server, "https://graph.microsoft.com")
			out, code := runPB(t, nil, "config", "validate", "--config", cfgPath)
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output has %q:\n%s", a, out)
				}
			}
		})
	}
}
