package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often, at most, a handshake looks whether the
// certificate files changed: rotation is seen within seconds, and a busy
// server does not stat two files per connection.
const certCheckInterval = 2 * time.Second

// certReloader serves the key pair in certFile/keyFile and re-reads it when
// either file's modification time or size changes (certificate rotation,
// e.g. by cert-manager or certbot, without a restart). A changed pair that
// does not load keeps the previous one in service and logs an error.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	interval          time.Duration
	now               func() time.Time

	mu         sync.Mutex
	cert       *tls.Certificate
	stamp      [2]fileStamp // of certFile, keyFile when last loaded or tried
	lastCheck  time.Time
	loadFailed bool
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// newCertReloader loads the pair once; an error means serve cannot start.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, interval: certCheckInterval, now: time.Now}
	st, err := r.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	r.cert, r.stamp, r.lastCheck = &cert, st, r.now()
	return r, nil
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, p := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("TLS file: %w", err)
		}
		out[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.lastCheck) >= r.interval {
		r.lastCheck = now
		r.reloadIfChanged()
	}
	return r.cert, nil
}

// reloadIfChanged is called with mu held.
func (r *certReloader) reloadIfChanged() {
	st, err := r.stamps()
	if err != nil {
		// Mid-rotation (a file renamed away) or deleted: keep serving.
		if !r.loadFailed {
			r.log.Error("TLS certificate files cannot be read; still serving the previous certificate", "err", err)
			r.loadFailed = true
		}
		return
	}
	if st == r.stamp {
		return
	}
	// Remember what was tried, so a broken pair is logged once, not at
	// every check, and retried when either file changes again (the key
	// written after the certificate).
	r.stamp = st
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Error("TLS certificate files changed but do not load; still serving the previous certificate",
			"certFile", r.certFile, "keyFile", r.keyFile, "err", err)
		r.loadFailed = true
		return
	}
	r.cert, r.loadFailed = &cert, false
	r.log.Info("TLS certificate reloaded", "certFile", r.certFile, "notAfter", cert.Leaf.NotAfter)
}

// serverTLSConfig is the TLS configuration of both listeners: TLS 1.2 or
// later (older versions have known weaknesses; every SCIM client in use
// speaks 1.2), Go's default cipher suites.
func serverTLSConfig(r *certReloader) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}
