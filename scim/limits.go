package scim

import (
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	escim "github.com/elimity-com/scim"

	"github.com/passbridge/passbridge/connector"
)

// Input limits, so that a stored user stays small and a page of them stays
// bounded. Each is refused with a 400 invalidValue whose detail names the
// attribute and the limit (README, "Input limits").
//
// Lengths are in characters (Unicode code points), as Microsoft Entra
// counts them; the Entra figures are those of the Microsoft Graph user and
// group resources, the directory the guests end up in.
const (
	// MaxUserNameLen: userName is the organisational e-mail address; Entra
	// caps mail and proxy addresses at 256 (RFC 5321 allows 254).
	MaxUserNameLen = 256
	// MaxEmailLen bounds emails[].value, for the same reason.
	MaxEmailLen = 256
	// MaxDisplayNameLen: Entra's user and group displayName hold 256.
	MaxDisplayNameLen = 256
	// MaxNamePartLen bounds name.givenName, familyName, middleName and the
	// honorifics: Entra's givenName and surname hold 64.
	MaxNamePartLen = 64
	// MaxNameFormattedLen bounds name.formatted, a whole name like
	// displayName.
	MaxNameFormattedLen = 256
	// MaxExternalIDLen: externalId is indexed and filtered on; 256 holds
	// any object id, GUID or distinguished name a client sends.
	MaxExternalIDLen = 256
	// MaxStringLen bounds every other string attribute (Entra's longest
	// user string attributes, such as streetAddress, hold 1024).
	MaxStringLen = 1024
	// MaxMultiValues bounds the values of one multi-valued attribute
	// (emails, phoneNumbers, addresses, ims, photos, roles, …) but group
	// members; clients send one to three.
	MaxMultiValues = 20
	// MaxDocBytes bounds a user or group as stored (its JSON document,
	// members aside): a full Entra user is about 2 KiB.
	MaxDocBytes = 32 << 10
	// MaxMembersPerRequest bounds the members in one group POST or PUT,
	// or added, replaced or removed by one PATCH; a larger change is split
	// into several PATCH requests.
	MaxMembersPerRequest = 1000
	// MaxPageSize is the largest page of a list (ServiceProviderConfig
	// filter.maxResults, and the default when count is absent); a larger
	// count is clamped to it (RFC 7644 §3.4.2.4). With MaxDocBytes it
	// bounds a page of users to about 7 MiB.
	MaxPageSize = 200
)

// userStringLimits are the lengths that differ from MaxStringLen, by the
// attribute's path in lower case without indices.
var userStringLimits = map[string]int{
	"username":             MaxUserNameLen,
	"displayname":          MaxDisplayNameLen,
	"externalid":           MaxExternalIDLen,
	"emails.value":         MaxEmailLen,
	"name.givenname":       MaxNamePartLen,
	"name.familyname":      MaxNamePartLen,
	"name.middlename":      MaxNamePartLen,
	"name.honorificprefix": MaxNamePartLen,
	"name.honorificsuffix": MaxNamePartLen,
	"name.formatted":       MaxNameFormattedLen,
}

var groupStringLimits = map[string]int{
	"displayname": MaxDisplayNameLen,
	"externalid":  MaxExternalIDLen,
}

// notStored are top-level keys checked by nobody here: dropped before the
// document is stored (readDoc, groupFromDoc), or bounded on their own.
var notStored = map[string]bool{"id": true, "meta": true, "schemas": true, "password": true}

// checkLimits applies the string and multi-valued limits to a user or
// group body; skip names top-level attributes bounded elsewhere (members).
func checkLimits(d doc, limits map[string]int, skip string) error {
	for _, k := range sortedKeys(d) { // the first problem in a stable order
		lk := strings.ToLower(k)
		if notStored[lk] || lk == skip {
			continue
		}
		if err := limitValue(d[k], k, lk, limits, 0); err != nil {
			return err
		}
	}
	return nil
}

// limitValue walks v, named field in errors and key (lower case, no
// indices) in limits. Extension attributes are named urn:…:attribute.
func limitValue(v any, field, key string, limits map[string]int, depth int) error {
	switch x := v.(type) {
	case string:
		max, ok := limits[key]
		if !ok {
			max = MaxStringLen
		}
		if len(x) > max { // bytes ≥ characters: counted only when it may matter
			if n := utf8.RuneCountInString(x); n > max {
				return &connector.InputError{Field: field, Detail: fmt.Sprintf(
					"%d characters, more than the %d allowed; send a shorter value", n, max)}
			}
		}
	case []any:
		if len(x) > MaxMultiValues {
			return &connector.InputError{Field: field, Detail: fmt.Sprintf(
				"%d values, more than the %d allowed; send the ones in use", len(x), MaxMultiValues)}
		}
		for i, e := range x {
			if err := limitValue(e, fmt.Sprintf("%s[%d]", field, i), key, limits, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		sep := "."
		if depth == 0 && strings.HasPrefix(key, "urn:") {
			// An extension: its attributes are top-level ones of their own.
			sep, key = ":", ""
		}
		for _, sk := range sortedKeys(x) {
			sub := strings.ToLower(sk)
			if key != "" {
				sub = key + "." + sub
			}
			next := depth + 1
			if sep == ":" {
				next = 0
			}
			if err := limitValue(x[sk], field+sep+sk, sub, limits, next); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkChanged applies checkLimits to the top-level attributes that differ
// between before and after: for resources stored before the limits.
func checkChanged(before, after doc, limits map[string]int) error {
	changed := doc{}
	for k, v := range after {
		if !reflect.DeepEqual(before[k], v) {
			changed[k] = v
		}
	}
	return checkLimits(changed, limits, "members")
}

// checkDocSize bounds a document as it is stored.
func checkDocSize(raw []byte, resource string) error {
	if len(raw) > MaxDocBytes {
		return &connector.InputError{Field: "body", Detail: fmt.Sprintf(
			"the %s would be stored as %d bytes of JSON, more than the %d allowed; send fewer or shorter attributes", resource, len(raw), MaxDocBytes)}
	}
	return nil
}

// checkMemberCount bounds the members of one group POST or PUT.
func checkMemberCount(n int) error {
	if n > MaxMembersPerRequest {
		return &connector.InputError{Field: "members", Detail: fmt.Sprintf(
			"%d members in one request, more than the %d allowed; create or replace the group with at most %d and add the rest with PATCH", n, MaxMembersPerRequest, MaxMembersPerRequest)}
	}
	return nil
}

// patchMembers counts the member values one PATCH names: on a members
// path, or under "members" in a path-less value.
func patchMembers(ops []escim.PatchOperation) int {
	count := func(v any) int {
		switch x := v.(type) {
		case []any:
			return len(x)
		case nil:
			return 0
		}
		return 1
	}
	n := 0
	for _, op := range ops {
		if op.Path != nil {
			if strings.EqualFold(op.Path.AttributePath.AttributeName, "members") {
				n += count(op.Value)
			}
			continue
		}
		if m, ok := op.Value.(map[string]any); ok {
			for k, v := range m {
				if strings.EqualFold(k, "members") || strings.EqualFold(k, URNGroup+":members") {
					n += count(v)
				}
			}
		}
	}
	return n
}

// checkPatchMembers bounds the members of one group PATCH.
func checkPatchMembers(ops []escim.PatchOperation) error {
	if n := patchMembers(ops); n > MaxMembersPerRequest {
		return &connector.InputError{Field: "Operations", Detail: fmt.Sprintf(
			"%d member values in one PATCH, more than the %d allowed; split the change into several requests", n, MaxMembersPerRequest)}
	}
	return nil
}
