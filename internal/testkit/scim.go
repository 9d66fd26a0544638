package testkit

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// SCIM sends authenticated SCIM requests to a server under test.
type SCIM struct {
	// Base is prepended to every request path: a server URL, with or
	// without the SCIM prefix, or "" when paths are whole URLs.
	Base string
	// Token is sent as "Authorization: Bearer <Token>"; "" sends none.
	Token string
	// Client sends the requests; nil is http.DefaultClient.
	Client *http.Client
}

// Response is one SCIM answer, read completely.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as a JSON object and fails the test when it is not one.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// Object decodes the first JSON value of the body as an object; nil when
// it is not one (an empty body, an error page), for tests that only look.
func (r Response) Object() map[string]any {
	var m map[string]any
	_ = json.NewDecoder(bytes.NewReader(r.Body)).Decode(&m)
	return m
}

// Do sends one request and fails the test when no answer comes. body is nil
// (no body), a string, []byte or io.Reader sent as is, or any other value
// sent as its JSON. headers are name/value pairs applied in order after the
// defaults (Authorization, Content-Type: application/scim+json): the first
// pair for a name replaces the header, later ones add values (a request
// with two Authorization headers), and an empty value removes it.
func (s SCIM) Do(t testing.TB, method, path string, body any, headers ...string) Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.Base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	seen := map[string]bool{}
	for i := 0; i+1 < len(headers); i += 2 {
		name, value := http.CanonicalHeaderKey(headers[i]), headers[i+1]
		switch {
		case value == "":
			req.Header.Del(name)
		case seen[name]:
			req.Header.Add(name, value)
		default:
			req.Header.Set(name, value)
		}
		seen[name] = true
	}
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}
}
