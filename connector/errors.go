package connector

import (
	"errors"
	"fmt"
)

// InputError is a request the domain refuses: the SCIM layer answers 400 with
// scimType invalidValue (or ScimType when set) and Detail, which must say which
// field is wrong and what to send instead. Detail is shown to the client.
type InputError struct {
	Field    string // SCIM attribute path, e.g. "emails[type eq \"work\"].value"
	Detail   string
	ScimType string // "" means invalidValue
}

func (e *InputError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Detail) }

// IsInputError reports whether err is a refusal the client can fix.
func IsInputError(err error) (*InputError, bool) {
	var ie *InputError
	ok := errors.As(err, &ie)
	return ie, ok
}

// terminalError marks an error that retrying cannot fix.
type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// Terminal marks err as terminal (the idea of controller-runtime's
// TerminalError): a job handler returning it fails the job at once, with
// lastError set on the user, instead of retrying. Terminal(nil) is nil.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &terminalError{err: err}
}

// IsTerminal reports whether retrying cannot fix err: it was marked with
// Terminal, or it is a directory error of class Permanent. NotFound is not
// terminal: a just-invited guest can be NotFound for a short while, so the
// handlers decide which NotFounds are final.
func IsTerminal(err error) bool {
	var te *terminalError
	if errors.As(err, &te) {
		return true
	}
	var de *DirectoryError
	return errors.As(err, &de) && de.Class == Permanent
}

// errNoChange aborts an update that would change nothing, so that the
// version stays as it is.
var errNoChange = errors.New("no change")
