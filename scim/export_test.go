package scim

import "github.com/passbridge/passbridge/connector"

// ParseFilter exposes parseFilter to the external tests (fuzz_test.go), with
// the attribute set of Groups when group is true, else of Users.
func ParseFilter(raw string, group bool) (*connector.Filter, error) {
	if group {
		return parseFilter(raw, groupFilterAttrs)
	}
	return parseFilter(raw, userFilterAttrs)
}

// ErrorStatus returns the HTTP status and SCIM type of err when it is a SCIM
// error, and ok false otherwise.
func ErrorStatus(err error) (status int, scimType string, ok bool) {
	e, ok := err.(*Error)
	if !ok {
		return 0, "", false
	}
	return e.Status, e.ScimType, true
}
