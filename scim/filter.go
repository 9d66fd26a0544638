package scim

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	fp "github.com/scim2/filter-parser/v2"

	"github.com/passbridge/passbridge/connector"
)

// maxFilterLen bounds the work a filter can ask for; Entra sends short ones.
const maxFilterLen = 4096

// filterAttrs maps the filterable attribute names of a resource type
// (lower-cased, with and without schema URN) to connector attribute names.
type filterAttrs map[string]string

var userFilterAttrs = filterAttrs{
	"id":              connector.AttrID,
	"username":        connector.AttrUserName,
	"externalid":      connector.AttrExternalID,
	"emails.value":    connector.AttrEmailsValue,
	"emails":          connector.AttrEmailsValue,
	"active":          connector.AttrActive,
	"onboardingstate": connector.AttrOnboardingState,
	strings.ToLower(URNTechPass) + ":onboardingstate": connector.AttrOnboardingState,
	strings.ToLower(URNUser) + ":username":            connector.AttrUserName,
	strings.ToLower(URNUser) + ":externalid":          connector.AttrExternalID,
	strings.ToLower(URNUser) + ":active":              connector.AttrActive,
	strings.ToLower(URNUser) + ":emails.value":        connector.AttrEmailsValue,
}

var groupFilterAttrs = filterAttrs{
	"id":            connector.AttrID,
	"displayname":   connector.AttrDisplayName,
	"externalid":    connector.AttrExternalID,
	"members.value": connector.AttrMembersValue,
	"members":       connector.AttrMembersValue,
	strings.ToLower(URNGroup) + ":displayname": connector.AttrDisplayName,
}

func (a filterAttrs) names() string {
	seen := map[string]bool{}
	var out []string
	for k, v := range a {
		if strings.Contains(k, ":") || k == "emails" || k == "members" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	// Stable order for messages and tests.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return strings.Join(out, ", ")
}

// Entra matches on emails[type eq "work"].value eq "x" (not RFC filter
// grammar); passbridge matches e-mail values whatever their type.
var emailTypeValuePath = regexp.MustCompile(`(?i)\bemails\[\s*type\s+eq\s+"[^"]*"\s*\]\.value\b`)

// An older Entra example sends unquoted values (externalId eq jyoung).
var bareValue = regexp.MustCompile(`(?i)^(\s*[A-Za-z][\w.:-]*\s+(?:eq|ne|co|sw|ew|gt|ge|lt|le)\s+)([^\s"()\[\]]+)(\s*)$`)

// parseFilter turns a SCIM filter into a connector.Filter over the
// attributes the store can evaluate, or a 400 invalidFilter naming what is
// wrong.
func parseFilter(raw string, attrs filterAttrs) (*connector.Filter, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	if len(raw) > maxFilterLen {
		return nil, badRequest("invalidFilter", "filter: longer than %d characters", maxFilterLen)
	}
	if nesting(raw) > maxFilterDepth {
		// Refused before parsing: the parser's time grows with the
		// square of the nesting of unbalanced brackets.
		return nil, errTooDeep()
	}
	src := emailTypeValuePath.ReplaceAllString(raw, "emails.value")
	if f := fastComparison(src, attrs); f != nil {
		return f, nil
	}
	expr, err := parseExpr(src)
	if err != nil {
		if m := bareValue.FindStringSubmatch(src); m != nil && !isLiteral(m[2]) {
			expr, err = parseExpr(m[1] + `"` + m[2] + `"` + m[3])
		}
		if err != nil {
			return nil, badRequest("invalidFilter", "filter: %q is not a valid SCIM filter (RFC 7644 §3.4.2.2), e.g. userName eq \"alice@agency.gov.sg\"", raw)
		}
	}
	terms := 0
	return translate(expr, attrs, 0, &terms)
}

// nesting returns how deep brackets ( and [ nest outside quoted strings.
func nesting(s string) int {
	depth, deepest, quoted := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == ')' || c == ']':
			depth--
		}
	}
	return deepest
}

// simpleComparison is the shape Microsoft Entra and most clients send
// (userName eq "x"): a plain attribute, an operator and a quoted string
// without escapes or control characters. It is translated directly; the
// general parser costs ~50 µs, several times the database lookup
// (BENCHMARKS.md).
var simpleComparison = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_.:-]*)\s+(?i:(eq|ne|co|sw|ew|gt|ge|lt|le))\s+"([^"\\\x00-\x1f\x7f]*)"$`)

func fastComparison(src string, attrs filterAttrs) *connector.Filter {
	m := simpleComparison.FindStringSubmatch(src)
	if m == nil || !utf8.ValidString(m[3]) {
		return nil
	}
	attr, ok := attrs[strings.ToLower(m[1])]
	if !ok || attr == connector.AttrActive {
		return nil // the general path explains or converts
	}
	return &connector.Filter{Op: connector.FilterOp(strings.ToLower(m[2])), Attr: attr, Value: m[3]}
}

func isLiteral(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "null":
		return true
	}
	return numberLiteral.MatchString(s)
}

var numberLiteral = regexp.MustCompile(`^-?\d+(\.\d+)?$`)

// parseExpr recovers from panics in the parser: filters are attacker input.
func parseExpr(s string) (e fp.Expression, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("filter parser: %v", r)
		}
	}()
	return fp.ParseFilter([]byte(s))
}

// maxFilterDepth bounds nesting (brackets, not, a change between and and
// or); a chain of one operator (a or b or c …) is one level, bounded by
// maxFilterTerms comparisons instead.
const (
	maxFilterDepth = 32
	maxFilterTerms = 100
)

func errTooDeep() error {
	return badRequest("invalidFilter", "filter: nested more than %d levels", maxFilterDepth)
}

// childDepth is the depth of a logical expression's operand: the same
// operator continues the chain.
func childDepth(parent *fp.LogicalExpression, child fp.Expression, depth int) int {
	if c, ok := child.(*fp.LogicalExpression); ok && strings.EqualFold(string(c.Operator), string(parent.Operator)) {
		return depth
	}
	return depth + 1
}

func countTerm(terms *int) error {
	if *terms++; *terms > maxFilterTerms {
		return badRequest("invalidFilter", "filter: more than %d comparisons; split the query", maxFilterTerms)
	}
	return nil
}

func translate(e fp.Expression, attrs filterAttrs, depth int, terms *int) (*connector.Filter, error) {
	if depth > maxFilterDepth {
		return nil, errTooDeep()
	}
	switch e := e.(type) {
	case *fp.LogicalExpression:
		l, err := translate(e.Left, attrs, childDepth(e, e.Left, depth), terms)
		if err != nil {
			return nil, err
		}
		r, err := translate(e.Right, attrs, childDepth(e, e.Right, depth), terms)
		if err != nil {
			return nil, err
		}
		op := connector.OpAnd
		if strings.EqualFold(string(e.Operator), "or") {
			op = connector.OpOr
		}
		return &connector.Filter{Op: op, Left: l, Right: r}, nil
	case *fp.NotExpression:
		inner, err := translate(e.Expression, attrs, depth+1, terms)
		if err != nil {
			return nil, err
		}
		return &connector.Filter{Op: connector.OpNot, Left: inner}, nil
	case *fp.ValuePath:
		// emails[value eq "x"], members[value eq "id"]: the inner filter on
		// sub-attribute value of a multi-valued attribute.
		base := strings.ToLower(e.AttributePath.AttributeName)
		return translateValuePath(base, e.ValueFilter, attrs, depth+1, terms)
	case *fp.AttributeExpression:
		if err := countTerm(terms); err != nil {
			return nil, err
		}
		return comparison(attrPathKey(e.AttributePath), e, attrs)
	}
	return nil, badRequest("invalidFilter", "filter: unsupported expression")
}

func translateValuePath(base string, e fp.Expression, attrs filterAttrs, depth int, terms *int) (*connector.Filter, error) {
	if depth > maxFilterDepth {
		return nil, errTooDeep()
	}
	switch e := e.(type) {
	case *fp.LogicalExpression:
		l, err := translateValuePath(base, e.Left, attrs, childDepth(e, e.Left, depth), terms)
		if err != nil {
			return nil, err
		}
		r, err := translateValuePath(base, e.Right, attrs, childDepth(e, e.Right, depth), terms)
		if err != nil {
			return nil, err
		}
		op := connector.OpAnd
		if strings.EqualFold(string(e.Operator), "or") {
			op = connector.OpOr
		}
		return &connector.Filter{Op: op, Left: l, Right: r}, nil
	case *fp.AttributeExpression:
		if err := countTerm(terms); err != nil {
			return nil, err
		}
		key := base + "." + strings.ToLower(e.AttributePath.AttributeName)
		return comparison(key, e, attrs)
	}
	return nil, badRequest("invalidFilter", "filter: unsupported expression inside %s[...]", base)
}

func attrPathKey(p fp.AttributePath) string {
	k := strings.ToLower(p.AttributeName)
	if p.SubAttribute != nil {
		k += "." + strings.ToLower(*p.SubAttribute)
	}
	if p.URIPrefix != nil {
		k = strings.ToLower(*p.URIPrefix) + ":" + k
	}
	return k
}

func comparison(key string, e *fp.AttributeExpression, attrs filterAttrs) (*connector.Filter, error) {
	attr, ok := attrs[key]
	if !ok {
		return nil, badRequest("invalidFilter", "filter: attribute %q cannot be filtered on; use one of: %s", e.AttributePath.String(), attrs.names())
	}
	op := connector.FilterOp(strings.ToLower(string(e.Operator)))
	f := &connector.Filter{Op: op, Attr: attr}
	if op == connector.OpPr {
		return f, nil
	}
	switch v := e.CompareValue.(type) {
	case string:
		if attr == connector.AttrActive {
			switch strings.ToLower(v) {
			case "true":
				f.Value = true
			case "false":
				f.Value = false
			default:
				return nil, badRequest("invalidFilter", "filter: active is a boolean: compare it with true or false")
			}
		} else {
			f.Value = v
		}
	case bool:
		if attr != connector.AttrActive {
			return nil, badRequest("invalidFilter", "filter: %s is a string: quote the value", attr)
		}
		f.Value = v
	case nil:
		return nil, badRequest("invalidFilter", "filter: %s %s needs a value (null is only meaningful with pr)", attr, op)
	default:
		return nil, badRequest("invalidFilter", "filter: %s compares with a quoted string, not %v", attr, v)
	}
	if attr == connector.AttrActive && op != connector.OpEq && op != connector.OpNe {
		return nil, badRequest("invalidFilter", "filter: active supports eq, ne and pr only")
	}
	return f, nil
}
