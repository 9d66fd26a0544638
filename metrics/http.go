package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SCIMPrefix is where the SCIM API is mounted (scim.Prefix).
const SCIMPrefix = "/scim/v2"

// scimResources are the SCIM endpoints kept verbatim in a route; anything
// after them is an id.
var scimResources = map[string]bool{
	"Users": true, "Groups": true, "ServiceProviderConfig": true, "ResourceTypes": true,
	"Schemas": true, "Bulk": true, "Me": true, ".search": true,
}

// Route returns the label for a request path: SCIM paths with resource ids
// replaced by {id} (/scim/v2/Users/{id}), /healthz, /readyz and /metrics as
// they are, and "other" for everything else, so that the number of series
// stays bounded whatever clients send.
func Route(path string) string {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return path
	}
	rest, ok := strings.CutPrefix(path, SCIMPrefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "other"
	}
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		return SCIMPrefix
	}
	var b strings.Builder
	b.WriteString(SCIMPrefix)
	for i, s := range segs {
		switch {
		case i == 0 && scimResources[s]:
			b.WriteString("/" + s)
		case i == 0:
			b.WriteString("/{other}")
			return b.String()
		case i == 1 && s == ".search":
			b.WriteString("/.search")
		case i == 1:
			b.WriteString("/{id}")
		default:
			b.WriteString("/{other}")
			return b.String()
		}
	}
	return b.String()
}

// methodLabel keeps the standard methods; anything else is "OTHER".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// Middleware counts and times the requests next answers, by Route, method
// and status code.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Before next runs: handlers may rewrite r.URL.Path (StripPrefix-like).
		route, method := Route(r.URL.Path), methodLabel(r.Method)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
			m.httpDuration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status code written. Unwrap lets
// http.ResponseController reach the underlying writer (flush, deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush() //nolint:errcheck // best effort, as http.Flusher
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
