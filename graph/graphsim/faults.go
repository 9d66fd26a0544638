package graphsim

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Fault describes a failure the simulator injects into matching requests.
// A fault applies to the next Times matching requests, or, with Times 0 and
// Fraction > 0, to that fraction of them (deterministic given WithSeed),
// or, with both zero, to every matching request until cleared.
type Fault struct {
	// Route limits the fault to one route, as named in Calls, e.g.
	// "POST /invitations", "GET /users/{id}", "POST /$batch"; "" matches
	// every Graph route. $batch sub-requests match their own route.
	Route string `json:"route,omitempty"`
	// Status is the HTTP status to answer (429, 500, 503, 504...); 0 lets
	// the request through after Latency (or Hang).
	Status int `json:"status,omitempty"`
	// RetryAfter is sent as Retry-After (whole seconds, at least 1) with a
	// 429 or 503; RetryAfterDate sends it as an HTTP date instead.
	RetryAfter     time.Duration `json:"retryAfter,omitempty"`
	RetryAfterDate bool          `json:"retryAfterDate,omitempty"`
	// Latency delays the answer (wall-clock time, honouring cancellation).
	Latency time.Duration `json:"latency,omitempty"`
	// Hang blocks until the client gives up (request context cancelled).
	Hang bool `json:"hang,omitempty"`
	// AfterHandling applies Latency/Hang/Status after the request has taken
	// effect: the invitation is created, then the answer is lost.
	AfterHandling bool    `json:"afterHandling,omitempty"`
	Times         int     `json:"times,omitempty"`
	Fraction      float64 `json:"fraction,omitempty"`
}

type activeFault struct {
	Fault
	remaining int
}

// InjectFault adds a fault; faults are consulted in the order added.
func (s *Sim) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &activeFault{Fault: f, remaining: f.Times})
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// pickFault returns the fault that applies to this request (consuming one
// of its Times), or nil.
func (s *Sim) pickFault(route string, after bool) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.AfterHandling != after || (f.Route != "" && f.Route != route) {
			continue
		}
		switch {
		case f.Times > 0:
			f.remaining--
			if f.remaining <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		case f.Fraction > 0:
			if s.rng.Float64() >= f.Fraction {
				continue
			}
		}
		ff := f.Fault
		return &ff
	}
	return nil
}

// applyFault runs a fault; it reports true when it wrote the answer (or the
// client went away) and the request must not be handled further.
func (s *Sim) applyFault(ctx context.Context, w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return true
		}
	}
	if f.Hang {
		// Drain the body so that net/http notices the client leaving.
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		<-ctx.Done()
		return true
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter > 0 || f.Status == http.StatusTooManyRequests {
		ra := f.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		if f.RetryAfterDate {
			w.Header().Set("Retry-After", s.Now().Add(ra).UTC().Format(http.TimeFormat))
		} else {
			secs := int((ra + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
	}
	code, msg := "UnknownError", "An unexpected error occurred."
	switch f.Status {
	case http.StatusTooManyRequests:
		code, msg = "TooManyRequests", "Too many requests."
	case http.StatusServiceUnavailable:
		code, msg = "serviceNotAvailable", "The service is temporarily unavailable."
	case http.StatusGatewayTimeout:
		code, msg = "gatewayTimeout", "The request timed out."
	case http.StatusInternalServerError:
		code, msg = "generalException", "An internal server error occurred."
	}
	s.writeError(w, r, f.Status, code, msg)
	return true
}
