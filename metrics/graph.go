package metrics

import (
	"net/http"
	"strings"
	"time"
)

// graphSegments are the Graph path segments kept verbatim in an endpoint
// label; every other segment is an id ({id}). Unknown names become {id}
// too, which keeps the label set bounded.
var graphSegments = map[string]bool{
	"v1.0": true, "beta": true,
	"$batch": true, "$ref": true, "$count": true, "$value": true,
	"users": true, "invitations": true, "groups": true, "members": true, "memberOf": true,
	"delta": true, "delta()": true, "authentication": true, "methods": true,
	"auditLogs": true, "directoryAudits": true, "signIns": true,
	"revokeSignInSessions": true, "identityGovernance": true, "termsOfUse": true,
	"agreements": true, "agreementAcceptances": true, "acceptances": true,
	"directoryObjects": true, "getByIds": true, "organization": true, "me": true,
	"servicePrincipals": true, "applications": true, "appRoleAssignments": true,
	"oauth2PermissionGrants": true, "subscribedSkus": true, "domains": true,
}

// GraphEndpoint returns the label for a Graph request path: the version and
// the names of collections and actions kept, ids replaced by {id}
// (/v1.0/users/{id}/authentication/methods). Paths outside a Graph version
// are token requests ("(token)": Entra ID sign-in, managed identity) or
// "(other)".
func GraphEndpoint(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 0 || (segs[0] != "v1.0" && segs[0] != "beta") {
		if strings.Contains(strings.ToLower(path), "token") {
			return "(token)"
		}
		return "(other)"
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		switch {
		case graphSegments[s]:
			b.WriteString(s)
		case strings.HasPrefix(s, "microsoft.graph.") && !strings.ContainsAny(s, "('"):
			b.WriteString(s) // a cast or an action: a fixed name
		default:
			b.WriteString("{id}")
		}
	}
	return b.String()
}

// GraphTransport returns a RoundTripper that counts and times the requests
// base sends, for graph.Options.HTTPClient (base nil: http.DefaultTransport).
// It sees each HTTP request once: Graph SDK retries and token requests
// included, $batch sub-requests not.
func (m *Metrics) GraphTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &graphTransport{m: m, base: base}
}

type graphTransport struct {
	m    *Metrics
	base http.RoundTripper
}

func (t *graphTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.base.RoundTrip(r)
	method, ep := methodLabel(r.Method), GraphEndpoint(r.URL.Path)
	t.m.graphDuration.WithLabelValues(method, ep).Observe(time.Since(start).Seconds())
	outcome := "error"
	if err == nil {
		outcome = statusClass(res.StatusCode)
		if res.StatusCode == http.StatusTooManyRequests {
			t.m.graphThrottled.WithLabelValues(method, ep).Inc()
		}
	}
	t.m.graphRequests.WithLabelValues(method, ep, outcome).Inc()
	return res, err
}

func statusClass(code int) string {
	switch {
	case code >= 200 && code < 300:
		return "2xx"
	case code >= 300 && code < 400:
		return "3xx"
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500 && code < 600:
		return "5xx"
	}
	return "other"
}
