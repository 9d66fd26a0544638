package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/passbridge/passbridge/connector"
)

// Error is a SCIM error response (RFC 7644 §3.12). Detail is shown to the
// client: it names the field and says what to send, and never carries
// internal text (that goes to the log as cause).
type Error struct {
	Status   int
	ScimType string
	Detail   string
	cause    error // logged, never sent
	// retryAfter, when set, is sent as Retry-After (429, 503).
	retryAfter int
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.ScimType, e.Detail, e.cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.ScimType, e.Detail)
}

func (e *Error) Unwrap() error { return e.cause }

// MarshalJSON renders the RFC 7644 error body; status is a string there.
func (e *Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Schemas  []string `json:"schemas"`
		ScimType string   `json:"scimType,omitempty"`
		Detail   string   `json:"detail,omitempty"`
		Status   string   `json:"status"`
	}{[]string{URNError}, e.ScimType, e.Detail, strconv.Itoa(e.Status)})
}

func badRequest(scimType, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// writeError sends e as a SCIM error.
func writeError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/scim+json")
	h.Del("Etag")
	h.Del("Location")
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="passbridge"`)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	w.WriteHeader(e.Status)
	b, _ := json.Marshal(e)
	_, _ = w.Write(b)
}

// toError maps a domain or store error to the SCIM error the client sees.
// Unknown errors become a 500 with a generic detail; the cause is logged.
func toError(err error, resource, id string) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	if ie, ok := connector.IsInputError(err); ok {
		t := ie.ScimType
		if t == "" {
			t = "invalidValue"
		}
		return &Error{Status: http.StatusBadRequest, ScimType: t, Detail: clip(ie.Error())}
	}
	switch {
	case errors.Is(err, connector.ErrNotFound):
		if id == "" {
			return &Error{Status: http.StatusNotFound, Detail: fmt.Sprintf("%s not found", resource), cause: err}
		}
		return &Error{Status: http.StatusNotFound, Detail: fmt.Sprintf("%s %q not found", resource, id), cause: err}
	case errors.Is(err, connector.ErrAddressTaken):
		return &Error{Status: http.StatusConflict, ScimType: "uniqueness",
			Detail: "emails: another User already has this address as the address it is invited at (compared case-insensitively); one address belongs to one user: use another address or update the existing User", cause: err}
	case errors.Is(err, connector.ErrAlreadyExists):
		field := "userName"
		if resource == "Group" {
			field = "displayName"
		}
		return &Error{Status: http.StatusConflict, ScimType: "uniqueness",
			Detail: fmt.Sprintf("%s: another %s already has this %s (compared case-insensitively); choose another or update the existing %s", field, resource, field, resource), cause: err}
	case errors.Is(err, connector.ErrPrecondition):
		return &Error{Status: http.StatusPreconditionFailed,
			Detail: fmt.Sprintf("If-Match: the %s has changed since that version; GET it again and retry with its current ETag", resource), cause: err}
	case errors.Is(err, connector.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Detail: "the store is unavailable; nothing was changed, retry later", retryAfter: 5, cause: err}
	}
	return &Error{Status: http.StatusInternalServerError, Detail: "internal error; it has been logged with this request's id", cause: err}
}

// statusClientClosed is the status recorded (logs, metrics) for a
// request whose client went away before the answer: nginx's 499, so that
// such requests do not count as server errors.
const statusClientClosed = 499

// errClientGone is the answer to a request whose client is gone; nobody
// reads it, it only keeps logs and metrics out of the 5xx class.
var errClientGone = &Error{Status: statusClientClosed, Detail: "the client closed the request"}

// clientGone tells whether the request's client disconnected (its context
// was canceled), as opposed to a deadline or a failure of the server.
func clientGone(r *http.Request) bool {
	return errors.Is(r.Context().Err(), context.Canceled)
}

// errorSlot carries the error a resource handler wants sent past the
// library, which can only express a few statuses and would put raw error
// text into a 500 (elimity-com/scim CheckScimError).
type errorSlot struct{ err *Error }

type slotKey struct{}

func withSlot(ctx context.Context) (context.Context, *errorSlot) {
	s := &errorSlot{}
	return context.WithValue(ctx, slotKey{}, s), s
}

// fail records the SCIM error for the request and returns an error for the
// library (its body is replaced by captureWriter).
func fail(r *http.Request, err error, resource, id string) error {
	e := toError(err, resource, id)
	if e.Status >= 500 && clientGone(r) {
		// The client hung up, so the store call was cut short: nothing is
		// wrong with the server, and nobody reads the answer.
		logFrom(r).DebugContext(r.Context(), "scim request abandoned: the client is gone", "err", err)
		e = errClientGone
	}
	if s, ok := r.Context().Value(slotKey{}).(*errorSlot); ok {
		s.err = e
	}
	if e.Status >= 500 {
		logFrom(r).ErrorContext(r.Context(), "scim request failed", "status", e.Status, "err", err)
	} else if e.cause != nil {
		logFrom(r).DebugContext(r.Context(), "scim request refused", "status", e.Status, "err", err)
	}
	return e
}

type logKey struct{}

func logFrom(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// maxDetail bounds an error detail: details quote client values, and a
// 1 MiB userName must not come back whole.
const maxDetail = 512

func clip(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
