package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
)

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// postBatch answers POST /$batch: at most 20 requests, each routed through
// the same handler (own permission check, faults and counts), each answer
// with its own status, headers (Retry-After) and body. Requests run in
// order; one whose dependsOn failed answers 424.
// Source: https://learn.microsoft.com/graph/json-batching
func (s *Sim) postBatch(w http.ResponseWriter, r *http.Request, _ []string) {
	if r.Context().Value(ctxInBatch) != nil {
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Nested batch requests are not supported.")
		return
	}
	var b struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := readJSONBody(r, &b); err != nil {
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	switch n := len(b.Requests); {
	case n == 0:
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	case n > maxBatchRequests:
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Number of requests in the batch payload (%d) exceeded the limit of %d.", n, maxBatchRequests))
		return
	}
	seen := map[string]bool{}
	for _, q := range b.Requests {
		if q.ID == "" || q.Method == "" || q.URL == "" {
			s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format: id, method and url are required.")
			return
		}
		if seen[q.ID] {
			s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Batch request contains duplicate Ids.")
			return
		}
		seen[q.ID] = true
	}
	status := map[string]int{}
	var responses []map[string]any
	ctx := context.WithValue(r.Context(), ctxInBatch, true)
	for _, q := range b.Requests {
		failedDep := false
		for _, d := range q.DependsOn {
			if st, ok := status[d]; !ok || st >= 400 {
				failedDep = true
			}
		}
		rec := httptest.NewRecorder()
		if failedDep {
			s.writeError(rec, r, http.StatusFailedDependency, "BadRequest", "Dependent request failed.")
		} else {
			sub, path, err := s.subRequest(ctx, r, q)
			if err != nil {
				s.writeError(rec, r, http.StatusBadRequest, "BadRequest", err.Error())
			} else {
				s.serveGraph(rec, sub, path)
			}
		}
		if ctx.Err() != nil {
			return // the client went away (a hang fault)
		}
		status[q.ID] = rec.Code
		hdr := map[string]string{}
		for _, k := range []string{"Content-Type", "Retry-After", "Location", "Cache-Control"} {
			if v := rec.Header().Get(k); v != "" {
				hdr[k] = v
			}
		}
		resp := map[string]any{"id": q.ID, "status": rec.Code, "headers": hdr}
		if body := bytes.TrimSpace(rec.Body.Bytes()); len(body) > 0 {
			resp["body"] = json.RawMessage(body)
		}
		responses = append(responses, resp)
	}
	writeJSON(w, http.StatusOK, map[string]any{"responses": responses})
}

func (s *Sim) subRequest(ctx context.Context, outer *http.Request, q batchRequest) (*http.Request, string, error) {
	u := q.URL
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return nil, "", fmt.Errorf("batch request URLs must be relative: %q", u)
	}
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	var body *bytes.Reader
	if len(q.Body) > 0 && string(q.Body) != "null" {
		body = bytes.NewReader(q.Body)
	} else {
		body = bytes.NewReader(nil)
	}
	sub, err := http.NewRequestWithContext(ctx, strings.ToUpper(q.Method), "/v1.0"+u, body)
	if err != nil {
		return nil, "", fmt.Errorf("invalid batch request url %q", q.URL)
	}
	sub.Host = outer.Host
	sub.TLS = outer.TLS
	sub.Header.Set("Authorization", outer.Header.Get("Authorization"))
	for k, v := range q.Headers {
		sub.Header.Set(k, v)
	}
	return sub, strings.TrimPrefix(sub.URL.Path, "/v1.0"), nil
}
