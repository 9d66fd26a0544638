package scim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// scimBase is the base of every URI passbridge returns (meta.location, the
// Location header, members[].$ref): server.publicURL followed by the SCIM
// prefix, or the prefix alone (a path the client resolves against the host
// it called) when there is no publicURL. A publicURL that already ends in
// the prefix (an administrator pasting Entra's "Tenant URL") is not given
// it twice.
func scimBase(publicURL string) string {
	base := strings.TrimRight(publicURL, "/")
	if strings.HasSuffix(base, Prefix) {
		return base
	}
	return base + Prefix
}

// URNSearchRequest is the schema of a POST …/.search body (RFC 7644 §3.4.3).
const URNSearchRequest = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

// rewriteSearch handles the query forms of RFC 7644 §3.4.2.1 and §3.4.3
// before routing: POST /Users/.search and POST /Groups/.search are answered
// as the GET with the same parameters (the same filters, paging and
// attributes, one code path); a query at the server root (GET / and
// POST /.search), which passbridge does not support, is a 501 that says
// where to query. sub is the path after /scim/v2. It returns the request to
// serve (r when there is nothing to rewrite) and its path after /scim.
func rewriteSearch(r *http.Request, sub string, body []byte) (*http.Request, string, *Error) {
	path := "/v2" + sub
	if sub == "" || sub == "/" || sub == "/.search" {
		if sub == "/.search" && r.Method != http.MethodPost {
			return nil, "", &Error{Status: http.StatusMethodNotAllowed, Detail: "/.search takes POST with a SearchRequest body (RFC 7644 §3.4.3)"}
		}
		return nil, "", &Error{Status: http.StatusNotImplemented,
			Detail: "a query at the server root (RFC 7644 §3.4.2.1) is not supported: query " + Prefix + "/Users or " + Prefix + "/Groups, or POST to their /.search"}
	}
	endpoint, ok := strings.CutSuffix(sub, "/.search")
	if !ok || (endpoint != "/Users" && endpoint != "/Groups") {
		return r, path, nil
	}
	if r.Method != http.MethodPost {
		return nil, "", &Error{Status: http.StatusMethodNotAllowed, Detail: endpoint + "/.search takes POST with a SearchRequest body (RFC 7644 §3.4.3); or GET " + endpoint + "?filter=…"}
	}
	q, e := searchQuery(body)
	if e != nil {
		return nil, "", e
	}
	// Parameters in the URL too are ignored: the body is the request.
	r2 := r.Clone(r.Context())
	r2.Method = http.MethodGet
	r2.URL.Path = "/scim/v2" + endpoint
	r2.URL.RawQuery = q.Encode()
	r2.Body = http.NoBody
	r2.ContentLength = 0
	r2.Header.Del("Content-Length")
	return r2, "/v2" + endpoint, nil
}

// searchQuery turns a SearchRequest body into the query parameters of the
// equivalent GET, or a 400 naming the field that is wrong.
func searchQuery(body []byte) (url.Values, *Error) {
	v, msg := decodeBody(body)
	if msg != "" {
		return nil, badRequest("invalidSyntax", "%s", msg)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("invalidSyntax", "body: must be a JSON object, a SearchRequest (RFC 7644 §3.4.3)")
	}
	q := url.Values{}
	hasSchema := false
	for k, x := range m {
		switch strings.ToLower(k) {
		case "schemas":
			list, _ := x.([]any)
			for _, s := range list {
				if s == URNSearchRequest {
					hasSchema = true
				}
			}
		case "filter", "sortby", "sortorder":
			if x == nil {
				continue
			}
			s, ok := x.(string)
			if !ok {
				return nil, badRequest("invalidValue", "%s: must be a string", k)
			}
			name := map[string]string{"filter": "filter", "sortby": "sortBy", "sortorder": "sortOrder"}[strings.ToLower(k)]
			q.Set(name, s)
		case "attributes", "excludedattributes":
			if x == nil {
				continue
			}
			name := "attributes"
			if strings.ToLower(k) == "excludedattributes" {
				name = "excludedAttributes"
			}
			var parts []string
			switch y := x.(type) {
			case string:
				parts = []string{y}
			case []any:
				for i, e := range y {
					s, ok := e.(string)
					if !ok {
						return nil, badRequest("invalidValue", "%s[%d]: must be an attribute name (a string)", k, i)
					}
					parts = append(parts, s)
				}
			default:
				return nil, badRequest("invalidValue", "%s: must be an array of attribute names", k)
			}
			q.Set(name, strings.Join(parts, ","))
		case "startindex", "count":
			if x == nil {
				continue
			}
			n, ok := x.(json.Number)
			i, err := strconv.Atoi(string(n))
			if !ok || err != nil {
				return nil, badRequest("invalidValue", "%s: must be an integer", k)
			}
			name := "startIndex"
			if strings.ToLower(k) == "count" {
				name = "count"
			}
			q.Set(name, strconv.Itoa(i))
		}
	}
	if !hasSchema {
		return nil, badRequest("invalidValue", "schemas: must include %q", URNSearchRequest)
	}
	return q, nil
}
