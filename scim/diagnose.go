package scim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	escim "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/schema"
	fp "github.com/scim2/filter-parser/v2"
)

// The library reports schema violations with one generic sentence per SCIM
// error type. When it refuses a body, passbridge walks the body against the
// same schema to name the first offending field, so that the integrator
// knows what to fix. Returns "" when it finds nothing more specific.

func decodeBody(body []byte) (any, string) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		var se *json.SyntaxError
		if ok := asSyntax(err, &se); ok {
			return nil, fmt.Sprintf("body: not valid JSON at byte %d: %s", se.Offset, se.Error())
		}
		switch err {
		case io.EOF:
			return nil, "body: empty; send a JSON object"
		case io.ErrUnexpectedEOF:
			return nil, "body: not valid JSON: it ends before the value is complete"
		}
		return nil, "body: not valid JSON"
	}
	if d.More() {
		return nil, "body: more than one JSON value"
	}
	return v, ""
}

func asSyntax(err error, se **json.SyntaxError) bool {
	s, ok := err.(*json.SyntaxError)
	if ok {
		*se = s
	}
	return ok
}

func diagnoseResource(body []byte, rt escim.ResourceType) string {
	v, msg := decodeBody(body)
	if msg != "" {
		return msg
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "body: must be a JSON object"
	}
	if msg := checkSchemas(m, rt.Schema.ID); msg != "" {
		return msg
	}
	if msg := checkObject(m, rt.Schema.Attributes, ""); msg != "" {
		return msg
	}
	for _, ext := range rt.SchemaExtensions {
		ev, ok := m[ext.Schema.ID]
		if !ok || ev == nil {
			continue
		}
		em, ok := ev.(map[string]any)
		if !ok {
			return ext.Schema.ID + ": must be an object holding the extension's attributes"
		}
		if msg := checkObject(em, ext.Schema.Attributes, ext.Schema.ID+":"); msg != "" {
			return msg
		}
	}
	return ""
}

func checkSchemas(m map[string]any, core string) string {
	s, ok := m["schemas"]
	if !ok {
		return fmt.Sprintf("schemas: required; send [%q]", core)
	}
	list, ok := s.([]any)
	if !ok {
		return fmt.Sprintf("schemas: must be an array of schema URNs including %q", core)
	}
	for _, x := range list {
		if x == core {
			return ""
		}
	}
	return fmt.Sprintf("schemas: must include %q", core)
}

func checkObject(m map[string]any, attrs []schema.CoreAttribute, prefix string) string {
	for _, a := range attrs {
		var hit any
		n := 0
		for k, v := range m {
			if strings.EqualFold(k, a.Name()) {
				hit = v
				n++
			}
		}
		name := prefix + a.Name()
		if n > 1 {
			return fmt.Sprintf("%s: given more than once (attribute names are case-insensitive)", name)
		}
		if a.Mutability() == "readOnly" {
			continue
		}
		if hit == nil {
			if a.Required() {
				return fmt.Sprintf("%s: required", name)
			}
			continue
		}
		if msg := checkValue(a, hit, name); msg != "" {
			return msg
		}
	}
	return ""
}

func checkValue(a schema.CoreAttribute, v any, path string) string {
	if a.MultiValued() {
		list, ok := v.([]any)
		if !ok {
			return fmt.Sprintf("%s: must be an array", path)
		}
		if a.Required() && len(list) == 0 {
			return fmt.Sprintf("%s: required, at least one value", path)
		}
		for i, e := range list {
			if msg := checkSingular(a, e, fmt.Sprintf("%s[%d]", path, i)); msg != "" {
				return msg
			}
		}
		return ""
	}
	return checkSingular(a, v, path)
}

func checkSingular(a schema.CoreAttribute, v any, path string) string {
	if _, err := a.ValidateSingular(v); err == nil {
		return ""
	}
	if a.HasSubAttributes() {
		m, ok := v.(map[string]any)
		if !ok {
			var subs []string
			for _, s := range a.SubAttributes() {
				subs = append(subs, s.Name())
			}
			return fmt.Sprintf("%s: must be an object with the sub-attributes %s", path, strings.Join(subs, ", "))
		}
		if msg := checkObject(m, a.SubAttributes(), path+"."); msg != "" {
			return msg
		}
		return fmt.Sprintf("%s: invalid value", path)
	}
	t := a.AttributeType()
	switch t {
	case "dateTime":
		return fmt.Sprintf("%s: must be an xsd:dateTime string, e.g. \"2026-11-27T08:00:00Z\"", path)
	case "boolean":
		return fmt.Sprintf("%s: must be a boolean (true or false)", path)
	case "reference", "string":
		return fmt.Sprintf("%s: must be a string", path)
	}
	return fmt.Sprintf("%s: must be of type %s", path, t)
}

// diagnosePatch names what is wrong with a PATCH body.
func diagnosePatch(body []byte, rt escim.ResourceType) string {
	v, msg := decodeBody(body)
	if msg != "" {
		return msg
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "body: must be a JSON object"
	}
	var schemas, ops any
	for k, x := range m {
		switch strings.ToLower(k) {
		case "schemas":
			schemas = x
		case "operations":
			ops = x
		}
	}
	if l, ok := schemas.([]any); !ok || len(l) != 1 || l[0] != URNPatchOp {
		return fmt.Sprintf("schemas: must be [%q]", URNPatchOp)
	}
	list, ok := ops.([]any)
	if !ok || len(list) == 0 {
		return "Operations: required, an array of at least one operation"
	}
	for i, o := range list {
		om, ok := o.(map[string]any)
		if !ok {
			return fmt.Sprintf("Operations[%d]: must be an object with op, path and value", i)
		}
		opv, _ := om[findKey(om, "op")].(string)
		op := strings.ToLower(opv)
		if op != "add" && op != "remove" && op != "replace" {
			return fmt.Sprintf("Operations[%d].op: must be add, remove or replace, not %q", i, opv)
		}
		path, _ := om[findKey(om, "path")].(string)
		val, hasVal := om[findKey(om, "value")]
		if path == "" {
			if op == "remove" {
				return fmt.Sprintf("Operations[%d].path: required for remove", i)
			}
			vm, ok := val.(map[string]any)
			if !ok {
				return fmt.Sprintf("Operations[%d].value: without a path, value must be an object of attributes", i)
			}
			if msg := checkPathless(vm, rt, fmt.Sprintf("Operations[%d].value", i)); msg != "" {
				return msg
			}
			continue
		}
		if msg := checkPatchPath(path, op, val, hasVal, rt, fmt.Sprintf("Operations[%d].path", i), fmt.Sprintf("Operations[%d].value", i)); msg != "" {
			return msg
		}
	}
	return ""
}

// checkPathless checks the value of an operation without a path: its keys
// are attribute paths, or an extension's URN holding that extension's
// attributes.
func checkPathless(vm map[string]any, rt escim.ResourceType, where string) string {
	for _, k := range sortedKeys(vm) {
		v := vm[k]
		ext := ""
		for _, e := range rt.SchemaExtensions {
			if strings.EqualFold(e.Schema.ID, k) {
				ext = e.Schema.ID
			}
		}
		if ext == "" {
			if msg := checkPatchPath(k, "replace", v, true, rt, where+": key", fmt.Sprintf("%s.%s", where, k)); msg != "" {
				return msg
			}
			continue
		}
		sub, ok := v.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s.%s: must be an object holding the extension's attributes", where, k)
		}
		for _, sk := range sortedKeys(sub) {
			if msg := checkPatchPath(ext+":"+sk, "replace", sub[sk], true, rt, where+": key", fmt.Sprintf("%s.%s.%s", where, k, sk)); msg != "" {
				return msg
			}
		}
	}
	return ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkPatchPath checks one attribute path of a PATCH and the value given
// for it; pathAt and valueAt name them in the message.
func checkPatchPath(path, op string, val any, hasVal bool, rt escim.ResourceType, pathAt, valueAt string) string {
	p, err := fp.ParsePath([]byte(path))
	if err != nil {
		return fmt.Sprintf("%s: %q is not a valid attribute path", pathAt, path)
	}
	a, ok := findAttr(rt, p.AttributePath)
	if !ok {
		return fmt.Sprintf("%s: %q is not an attribute of %s", pathAt, path, rt.Name)
	}
	if op != "remove" && !hasVal {
		return fmt.Sprintf("%s: required for %s", valueAt, op)
	}
	if !hasVal || val == nil || a.Name() == "" {
		return ""
	}
	sub := p.AttributePath.SubAttributeName()
	if p.SubAttribute != nil {
		sub = *p.SubAttribute
	}
	target := a
	if sub != "" {
		s, ok := a.SubAttributes().ContainsAttribute(sub)
		if !ok {
			return fmt.Sprintf("%s: %q has no sub-attribute %q", pathAt, a.Name(), sub)
		}
		target = s
	}
	if target.MultiValued() && p.ValueExpression == nil {
		if _, isList := val.([]any); !isList {
			val = []any{val}
		}
		return checkValue(target, val, valueAt)
	}
	return checkSingular(target, val, valueAt)
}

func findAttr(rt escim.ResourceType, p fp.AttributePath) (schema.CoreAttribute, bool) {
	if strings.EqualFold(p.AttributeName, "externalId") && p.URIPrefix == nil {
		return schema.CoreAttribute{}, true
	}
	s := rt.Schema
	if uri := p.URI(); uri != "" && !strings.EqualFold(uri, rt.Schema.ID) {
		found := false
		for _, e := range rt.SchemaExtensions {
			if strings.EqualFold(e.Schema.ID, uri) {
				s, found = e.Schema, true
			}
		}
		if !found {
			return schema.CoreAttribute{}, false
		}
	}
	return s.Attributes.ContainsAttribute(p.AttributeName)
}
