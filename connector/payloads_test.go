package connector

import (
	"testing"
	"time"
)

// Payloads and event data that cannot be encoded are errors, not a job
// without payload or an event with "{}" (what mustJSON and eventData did).
func TestEncodingErrorsAreReturned(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	if j, err := newJob(JobGroupSync, "g", map[string]any{"removed": func() {}}, now); err == nil {
		t.Errorf("newJob with an unencodable payload = %+v, nil error", j)
	}
	if ev, err := newEvent("u", "user.created", "scim:test", now, map[string]any{"bad": make(chan int)}); err == nil {
		t.Errorf("newEvent with unencodable data = %+v, nil error", ev)
	}
	j, err := newJob(JobSeedProvision, "u", seedPayload{Reprovision: true}, now)
	if err != nil || string(j.Payload) != `{"reprovision":true}` {
		t.Errorf("newJob = %+v, %v", j, err)
	}
	// Facts that cannot be encoded are never "equal": the write goes ahead
	// and reports the error instead of being skipped.
	if !factsEqual(Onboarding{}, Onboarding{}) {
		t.Error("equal facts are not equal")
	}
}

// A terminal error is one retrying cannot fix; Terminal(nil) stays nil.
func TestTerminal(t *testing.T) {
	t.Parallel()
	if Terminal(nil) != nil {
		t.Error("Terminal(nil) != nil")
	}
	base := &DirectoryError{Class: Transient, Op: "invite"}
	if IsTerminal(base) || !IsTerminal(Terminal(base)) {
		t.Error("Terminal does not mark a transient error terminal")
	}
	if !IsTerminal(&DirectoryError{Class: Permanent}) || IsTerminal(&DirectoryError{Class: NotFound}) {
		t.Error("Permanent must be terminal, NotFound not")
	}
	if ClassOf(Terminal(base)) != Transient {
		t.Error("Terminal hides the wrapped error")
	}
}
