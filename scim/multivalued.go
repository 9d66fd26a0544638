package scim

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/passbridge/passbridge/connector"
)

// Rules for the values of multi-valued attributes (RFC 7643 §2.4):
//
//   - "primary": true appears on at most one value of an attribute. A body
//     that marks two is refused with 400 invalidValue naming the attribute;
//     passbridge does not guess which one the client meant, because the
//     primary e-mail is the address that gets invited.
//   - the same value (same "type" and same "value", compared
//     case-insensitively) given twice is refused with 400 invalidValue
//     naming the repeated element. Values without a "value" sub-attribute
//     (addresses) are compared on all their sub-attributes but "primary".
//
// PATCH never produces either on its own: an add or replace that sets
// "primary": true on a value sets it false on the others (RFC 7644 §3.5.2),
// and an add of a value that is already there merges into it.

// checkMultiValued applies the rules above to every multi-valued attribute
// of a user body (core attributes at the top level, extensions under their
// URN). Members of a group are checked by checkMembers.
func checkMultiValued(d doc) error {
	for _, k := range sortedKeys(d) { // the first problem in a stable order
		switch v := d[k].(type) {
		case []any:
			if err := checkValues(k, v); err != nil {
				return err
			}
		case map[string]any:
			if !strings.HasPrefix(strings.ToLower(k), "urn:") {
				continue
			}
			for _, sk := range sortedKeys(v) {
				if list, ok := v[sk].([]any); ok {
					if err := checkValues(k+":"+sk, list); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func checkValues(name string, list []any) error {
	primary := -1
	seen := map[string]int{}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if isTrue(m[findKey(m, "primary")]) {
			if primary >= 0 {
				return &connector.InputError{Field: name, Detail: fmt.Sprintf(
					`"primary": true on more than one value (%s[%d] and %s[%d]); RFC 7643 §2.4 allows it on one value only: mark the one to use`,
					name, primary, name, i)}
			}
			primary = i
		}
		k, desc := valueKey(m)
		if k == "" {
			continue
		}
		if j, dup := seen[k]; dup {
			return &connector.InputError{Field: fmt.Sprintf("%s[%d]", name, i), Detail: fmt.Sprintf(
				"the same value as %s[%d] (%s); send each value once", name, j, desc)}
		}
		seen[k] = i
	}
	return nil
}

// valueKey identifies a value of a multi-valued attribute for duplicate
// detection: its type and value, or all of it but "primary" when it has no
// "value". "" when there is nothing to compare.
func valueKey(m map[string]any) (key, desc string) {
	typ := strings.ToLower(fmt.Sprint(nonNil(m[findKey(m, "type")])))
	if v, ok := m[findKey(m, "value")]; ok && v != nil {
		val := fmt.Sprint(v)
		if typ == "" {
			return "v\x00" + strings.ToLower(val), fmt.Sprintf("value %q", val)
		}
		return "t\x00" + typ + "\x00" + strings.ToLower(val), fmt.Sprintf("type %q, value %q", typ, val)
	}
	rest := map[string]any{}
	for k, v := range m {
		if !strings.EqualFold(k, "primary") && v != nil {
			rest[strings.ToLower(k)] = strings.ToLower(fmt.Sprint(v))
		}
	}
	if len(rest) == 0 {
		return "", ""
	}
	b, _ := json.Marshal(rest) // map keys are sorted
	return "o\x00" + string(b), "the same sub-attributes"
}

func nonNil(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// isTrue reads a boolean the way the library accepts one: true, or the
// strings Microsoft Entra sends ("True").
func isTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}

// checkMembers refuses a group body that lists the same member twice.
func checkMembers(list []any) error {
	seen := map[string]int{}
	for i, e := range list {
		m, _ := e.(map[string]any)
		v, _ := m["value"].(string)
		if v == "" {
			continue
		}
		if j, dup := seen[v]; dup {
			return &connector.InputError{Field: fmt.Sprintf("members[%d].value", i), Detail: fmt.Sprintf(
				"the same member as members[%d] (%q); list each member once", j, v)}
		}
		seen[v] = i
	}
	return nil
}

// settlePrimary enforces RFC 7644 §3.5.2 after a PATCH operation on a
// multi-valued attribute: when one of the values the operation wrote has
// "primary": true, every other value gets "primary": false.
func settlePrimary(list []any, touched []map[string]any) {
	var winner bool
	written := map[uintptr]bool{}
	for _, t := range touched {
		written[reflect.ValueOf(t).Pointer()] = true
		if isTrue(t[findKey(t, "primary")]) {
			winner = true
		}
	}
	if !winner {
		return
	}
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok || written[reflect.ValueOf(m).Pointer()] {
			continue
		}
		if k := findKey(m, "primary"); isTrue(m[k]) {
			m[k] = false
		}
	}
}
