package scim

import (
	"fmt"
	"strings"

	escim "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/schema"
	fp "github.com/scim2/filter-parser/v2"
)

// doc is a resource's client-visible attributes as a JSON object: core
// attributes at the top level, each extension under its URN.
type doc = map[string]any

// patcher applies validated PATCH operations (RFC 7644 §3.5.2) to a doc,
// including the forms Microsoft Entra sends: path-less value objects whose
// keys are dotted or URN-qualified paths, remove of listed members with
// path "members" plus a value array, and value filters on multi-valued
// attributes that create the element when none matches.
type patcher struct {
	core schema.Schema
	exts map[string]schema.Schema // by lower-cased URN
}

func newPatcher(core schema.Schema, exts ...schema.Schema) patcher {
	p := patcher{core: core, exts: map[string]schema.Schema{}}
	for _, e := range exts {
		p.exts[strings.ToLower(e.ID)] = e
	}
	return p
}

func (p patcher) apply(d doc, ops []escim.PatchOperation) error {
	for i, op := range ops {
		if err := p.applyOne(d, op.Op, op.Path, op.Value); err != nil {
			return badRequest(scimTypeOf(err), "Operations[%d]: %v", i, err)
		}
	}
	return nil
}

type opError struct {
	scimType string
	msg      string
}

func (e *opError) Error() string { return e.msg }

func scimTypeOf(err error) string {
	if oe, ok := err.(*opError); ok {
		return oe.scimType
	}
	return "invalidValue"
}

func (p patcher) applyOne(d doc, op string, path *fp.Path, value any) error {
	op = strings.ToLower(op)
	if path == nil {
		if op == "remove" {
			return &opError{"noTarget", "remove needs a path"}
		}
		m, ok := value.(map[string]any)
		if !ok {
			return &opError{"invalidValue", "an operation without path needs an object value"}
		}
		for k, v := range m {
			if ext, ok := p.exts[strings.ToLower(k)]; ok {
				sub, ok := v.(map[string]any)
				if !ok {
					return &opError{"invalidValue", fmt.Sprintf("%s: must be an object", k)}
				}
				for sk, sv := range sub {
					uri := ext.ID
					if err := p.applyAttr(d, op, &uri, sk, nil, nil, sv); err != nil {
						return err
					}
				}
				continue
			}
			kp, err := fp.ParsePath([]byte(k))
			if err != nil {
				return &opError{"invalidPath", fmt.Sprintf("value key %q is not an attribute path", k)}
			}
			if err := p.applyOne(d, op, &kp, v); err != nil {
				return err
			}
		}
		return nil
	}
	ap := path.AttributePath
	sub := ap.SubAttribute
	if path.SubAttribute != nil {
		sub = path.SubAttribute
	}
	return p.applyAttr(d, op, ap.URIPrefix, ap.AttributeName, sub, path.ValueExpression, value)
}

// lookup finds the schema attribute; uri selects an extension.
func (p patcher) lookup(uri *string, name string) (schema.CoreAttribute, map[string]any, string, bool) {
	s := p.core
	if uri != nil && !strings.EqualFold(*uri, p.core.ID) {
		ext, ok := p.exts[strings.ToLower(*uri)]
		if !ok {
			return schema.CoreAttribute{}, nil, "", false
		}
		s = ext
	}
	for _, a := range s.Attributes {
		if strings.EqualFold(a.Name(), name) {
			return a, nil, s.ID, true
		}
	}
	// Common attributes the library adds (externalId).
	if strings.EqualFold(name, "externalId") {
		return schema.CoreAttribute{}, nil, s.ID, true
	}
	return schema.CoreAttribute{}, nil, "", false
}

func (p patcher) container(d doc, schemaID string, create bool) map[string]any {
	if schemaID == p.core.ID || schemaID == "" {
		return d
	}
	if m, ok := d[schemaID].(map[string]any); ok {
		return m
	}
	if !create {
		return nil
	}
	m := map[string]any{}
	d[schemaID] = m
	return m
}

func (p patcher) applyAttr(d doc, op string, uri *string, name string, sub *string, filter fp.Expression, value any) error {
	attr, _, schemaID, ok := p.lookup(uri, name)
	if !ok {
		full := name
		if uri != nil {
			full = *uri + ":" + name
		}
		return &opError{"invalidPath", fmt.Sprintf("%q is not an attribute of this resource", full)}
	}
	canon := name
	if attr.Name() != "" {
		canon = attr.Name()
		if attr.Mutability() == "readOnly" {
			return nil // readOnly attributes are ignored on input (RFC 7643 §2.2)
		}
	} else {
		canon = "externalId"
	}
	c := p.container(d, schemaID, op != "remove")
	if c == nil {
		return nil
	}
	key := findKey(c, canon)
	if isEmptyValue(value) && op != "remove" {
		op, value = "remove", nil // Entra clears with "" or null
	}

	multi := attr.Name() != "" && attr.MultiValued()
	switch {
	case !multi && sub == nil:
		if op == "remove" {
			delete(c, key)
			return nil
		}
		c[key] = value
		return nil
	case !multi && sub != nil:
		m, _ := c[key].(map[string]any)
		if m == nil {
			if op == "remove" {
				return nil
			}
			m = map[string]any{}
			c[key] = m
		}
		sk := findKey(m, *sub)
		if op == "remove" {
			delete(m, sk)
		} else {
			m[sk] = value
		}
		if len(m) == 0 {
			delete(c, key)
		}
		return nil
	}

	// Multi-valued.
	list, _ := c[key].([]any)
	var touched []map[string]any // the values this operation wrote
	if filter == nil && sub == nil {
		vals := asList(value)
		switch op {
		case "replace":
			list = vals
			touched = elemMaps(vals)
		case "add":
			for _, v := range vals {
				if i := indexElem(list, v); i >= 0 {
					// Already there (RFC 7644 §3.5.2.1: no second copy); what
					// the client adds about it, e.g. primary, is merged.
					em, ok1 := list[i].(map[string]any)
					vm, ok2 := v.(map[string]any)
					if ok1 && ok2 {
						for k, x := range vm {
							if x != nil {
								em[findKey(em, k)] = x
							}
						}
						touched = append(touched, em)
					}
					continue
				}
				list = append(list, v)
				touched = append(touched, elemMaps([]any{v})...)
			}
		case "remove":
			if value == nil {
				delete(c, key)
				return nil
			}
			// Remove only the listed elements (Entra's members remove).
			var kept []any
			for _, e := range list {
				if !containsElem(vals, e) {
					kept = append(kept, e)
				}
			}
			list = kept
		}
		settlePrimary(list, touched)
		if len(list) == 0 {
			delete(c, key)
		} else {
			c[key] = list
		}
		return nil
	}

	matched := false
	var kept []any
	for _, e := range list {
		em, _ := e.(map[string]any)
		if filter != nil && !matchElem(em, filter) {
			kept = append(kept, e)
			continue
		}
		matched = true
		switch {
		case op == "remove" && sub == nil:
			continue // drop the element
		case op == "remove":
			delete(em, findKey(em, *sub))
		case sub != nil:
			em[findKey(em, *sub)] = value
			touched = append(touched, em)
		default:
			if vm, ok := value.(map[string]any); ok {
				for k, v := range vm {
					em[findKey(em, k)] = v
				}
			}
			touched = append(touched, em)
		}
		kept = append(kept, em)
	}
	if !matched && filter != nil {
		target := canon + "[" + fmt.Sprint(filter) + "]"
		switch {
		case op == "remove":
			// RFC 7644 §3.5.2.2 names no error for a remove whose filter
			// matches nothing, and Microsoft Entra removes members with
			// members[value eq "…"], also when retrying: nothing to do.
			return nil
		case op == "replace" && len(list) > 0:
			// RFC 7644 §3.5.2.3: a value selection filter that matches no
			// value is a 400 noTarget.
			return &opError{"noTarget", fmt.Sprintf("%s: no value of %s matches the filter; nothing was changed (use add to add a value)", target, canon)}
		}
		// An add, or a replace on an attribute with no value yet (RFC 7644
		// §3.5.2.3: "treat the operation as an add"); Microsoft Entra's
		// emails[type eq "work"].value on a user without e-mails: add it.
		elem := eqConstraints(filter)
		if elem == nil {
			return &opError{"noTarget", fmt.Sprintf("%s: no value matches the filter, and the filter does not say what to add (only eq terms joined by and do)", target)}
		}
		if sub != nil {
			elem[*sub] = value
		} else if vm, ok := value.(map[string]any); ok {
			for k, v := range vm {
				elem[k] = v
			}
		}
		kept = append(kept, elem)
		touched = append(touched, elem)
	}
	settlePrimary(kept, touched)
	if len(kept) == 0 {
		delete(c, key)
	} else {
		c[key] = kept
	}
	return nil
}

func elemMaps(list []any) []map[string]any {
	var out []map[string]any
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func indexElem(list []any, v any) int {
	for i, e := range list {
		if sameElem(e, v) {
			return i
		}
	}
	return -1
}

func isEmptyValue(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && s == ""
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// containsElem compares multi-valued elements by their "value" sub-attribute
// when they have one, else by equality of their JSON-ish form.
func containsElem(list []any, v any) bool {
	for _, e := range list {
		if sameElem(e, v) {
			return true
		}
	}
	return false
}

func sameElem(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		av, aHas := am[findKey(am, "value")]
		bv, bHas := bm[findKey(bm, "value")]
		if aHas && bHas {
			return strings.EqualFold(fmt.Sprint(av), fmt.Sprint(bv))
		}
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// findKey returns the existing key matching name case-insensitively, or name.
func findKey(m map[string]any, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// matchElem evaluates a value filter on one element of a multi-valued attribute.
func matchElem(m map[string]any, e fp.Expression) bool {
	switch e := e.(type) {
	case *fp.LogicalExpression:
		if strings.EqualFold(string(e.Operator), "and") {
			return matchElem(m, e.Left) && matchElem(m, e.Right)
		}
		return matchElem(m, e.Left) || matchElem(m, e.Right)
	case *fp.NotExpression:
		return !matchElem(m, e.Expression)
	case *fp.AttributeExpression:
		v, ok := m[findKey(m, e.AttributePath.AttributeName)]
		op := strings.ToLower(string(e.Operator))
		if op == "pr" {
			return ok && v != nil && v != ""
		}
		if !ok {
			return op == "ne"
		}
		if b, isBool := v.(bool); isBool {
			cb, _ := e.CompareValue.(bool)
			if op == "ne" {
				return b != cb
			}
			return b == cb
		}
		vs, cs := strings.ToLower(fmt.Sprint(v)), strings.ToLower(fmt.Sprint(e.CompareValue))
		switch op {
		case "eq":
			return vs == cs
		case "ne":
			return vs != cs
		case "co":
			return strings.Contains(vs, cs)
		case "sw":
			return strings.HasPrefix(vs, cs)
		case "ew":
			return strings.HasSuffix(vs, cs)
		case "gt":
			return vs > cs
		case "ge":
			return vs >= cs
		case "lt":
			return vs < cs
		case "le":
			return vs <= cs
		}
	}
	return false
}

// eqConstraints turns `type eq "work"` (and-joined eqs) into {"type":"work"}.
func eqConstraints(e fp.Expression) map[string]any {
	switch e := e.(type) {
	case *fp.AttributeExpression:
		if strings.EqualFold(string(e.Operator), "eq") {
			return map[string]any{e.AttributePath.AttributeName: e.CompareValue}
		}
	case *fp.LogicalExpression:
		if strings.EqualFold(string(e.Operator), "and") {
			l, r := eqConstraints(e.Left), eqConstraints(e.Right)
			if l == nil || r == nil {
				return nil
			}
			for k, v := range r {
				l[k] = v
			}
			return l
		}
	}
	return nil
}
