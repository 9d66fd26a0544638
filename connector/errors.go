package connector

import "fmt"

// InputError is a request the domain refuses: the SCIM layer answers 400 with
// scimType invalidValue (or ScimType when set) and Detail, which must say which
// field is wrong and what to send instead. Detail is shown to the client.
type InputError struct {
	Field    string // SCIM attribute path, e.g. "emails[type eq \"work\"].value"
	Detail   string
	ScimType string // "" means invalidValue
}

func (e *InputError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Detail) }
