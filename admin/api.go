package admin

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// The API's paging bounds for GET /admin/api/events.
const (
	DefaultEventsLimit = 100
	MaxEventsLimit     = 1000
)

// api serves a JSON endpoint that takes an admin token as a bearer.
func (s *Server) api(fn func(w http.ResponseWriter, r *http.Request, admin string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		client := clientAddr(r)
		if blocked, wait := s.limit.blocked(client); blocked {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many failed authentications; retry later"})
			return
		}
		name, ok := match(s.o.Tokens, bearer(r))
		if !ok {
			s.limit.fail(client)
			w.Header().Set("WWW-Authenticate", `Bearer realm="passbridge-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "an admin token (admin.tokens) is required as Authorization: Bearer"})
			return
		}
		fn(w, r, name)
	}
}

// apiEvent is one event as the API sends it.
type apiEvent struct {
	ID      int64           `json:"id"`
	Subject string          `json:"subject"`
	Type    string          `json:"type"`
	Actor   string          `json:"actor"`
	At      time.Time       `json:"at"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// EventsPage is the answer of GET /admin/api/events.
type EventsPage struct {
	Events []apiEvent `json:"events"`
	// Next is the after= of the next call (the last id sent, or the one
	// asked for when nothing is new).
	Next    int64 `json:"next"`
	HasMore bool  `json:"hasMore"`
}

// apiEvents pages through the event log by id, for a SIEM:
// after=ID (default 0), limit=N (default 100, at most 1000).
func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	after, limit := int64(0), DefaultEventsLimit
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "after: an event id (a whole number, 0 or more)"})
			return
		}
		after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxEventsLimit {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit: a whole number from 1 to " + strconv.Itoa(MaxEventsLimit)})
			return
		}
		limit = n
	}
	evs, err := s.st.ListEvents(r.Context(), "", after, limit+1)
	if err != nil {
		s.log.ErrorContext(r.Context(), "admin api: events", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the event log could not be read; retry"})
		return
	}
	page := EventsPage{Events: []apiEvent{}, Next: after}
	if len(evs) > limit {
		evs, page.HasMore = evs[:limit], true
	}
	for _, e := range evs {
		page.Events = append(page.Events, apiEvent{ID: e.ID, Subject: e.Subject, Type: e.Type, Actor: e.Actor, At: e.At, Data: e.Data})
		page.Next = e.ID
	}
	writeJSON(w, http.StatusOK, page)
}

// PolicyCheck is the body of POST /admin/api/policy/check.
type PolicyCheck struct {
	Email       string `json:"email"`
	MailboxType string `json:"mailboxType"`
}

// apiPolicyCheck answers the sign-up policy's verdict for one address;
// nothing is stored.
func (s *Server) apiPolicyCheck(w http.ResponseWriter, r *http.Request, _ string) {
	var in PolicyCheck
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: a JSON object {\"email\": \"...\", \"mailboxType\": \"...\"}: " + err.Error()})
		return
	}
	if in.Email == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "email: required"})
		return
	}
	v := s.o.Service.CheckPolicy(in.Email, in.MailboxType)
	writeJSON(w, http.StatusOK, struct {
		Email string `json:"email"`
		connector.PolicyVerdict
	}{in.Email, v})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
