package graphsim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// A small OData $filter evaluator: enough of the grammar for the queries
// passbridge (and typical Graph clients) send: eq/ne/ge/le/gt/lt, in,
// and/or/not, parentheses, startswith(), and any() lambdas over
// collections (otherMails/any(m:m eq 'x')).

type getter func(path string) (any, bool)

type predicate func(get getter) (bool, error)

var errUnsupported = errors.New("unsupported query")

type tok struct {
	kind string // ident, str, lit, (, ), ",", ":"
	val  string
}

func tokenize(s string) ([]tok, error) {
	var out []tok
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')' || c == ',' || c == ':':
			out = append(out, tok{kind: string(c)})
			i++
		case c == '\'':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string literal")
			}
			out = append(out, tok{kind: "str", val: b.String()})
		case c >= '0' && c <= '9' || c == '-':
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != ')' && s[j] != ',' {
				j++
			}
			out = append(out, tok{kind: "lit", val: s[i:j]})
			i = j
		case unicode.IsLetter(rune(c)) || c == '_' || c == '@':
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || strings.ContainsRune("_./@", rune(s[j]))) {
				j++
			}
			out = append(out, tok{kind: "ident", val: s[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q", c)
		}
	}
	return out, nil
}

type parser struct {
	toks []tok
	pos  int
}

func parseFilter(s string) (predicate, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	pr, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos].val)
	}
	return pr, nil
}

func (p *parser) peek() (tok, bool) {
	if p.pos >= len(p.toks) {
		return tok{}, false
	}
	return p.toks[p.pos], true
}

func (p *parser) next() (tok, error) {
	if p.pos >= len(p.toks) {
		return tok{}, errors.New("unexpected end of filter")
	}
	t := p.toks[p.pos]
	p.pos++
	return t, nil
}

func (p *parser) expect(kind string) error {
	t, err := p.next()
	if err != nil {
		return err
	}
	if t.kind != kind {
		return fmt.Errorf("expected %q", kind)
	}
	return nil
}

func (p *parser) isKeyword(w string) bool {
	t, ok := p.peek()
	return ok && t.kind == "ident" && strings.EqualFold(t.val, w)
}

func (p *parser) or() (predicate, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("or") {
		p.pos++
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(g getter) (bool, error) {
			a, err := l(g)
			if err != nil || a {
				return a, err
			}
			return right(g)
		}
	}
	return left, nil
}

func (p *parser) and() (predicate, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("and") {
		p.pos++
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(g getter) (bool, error) {
			a, err := l(g)
			if err != nil || !a {
				return a, err
			}
			return right(g)
		}
	}
	return left, nil
}

func (p *parser) unary() (predicate, error) {
	if p.isKeyword("not") {
		p.pos++
		inner, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(g getter) (bool, error) {
			v, err := inner(g)
			return !v, err
		}, nil
	}
	return p.primary()
}

func (p *parser) primary() (predicate, error) {
	t, err := p.next()
	if err != nil {
		return nil, err
	}
	if t.kind == "(" {
		inner, err := p.or()
		if err != nil {
			return nil, err
		}
		return inner, p.expect(")")
	}
	if t.kind != "ident" {
		return nil, fmt.Errorf("unexpected %q", t.val)
	}
	name := t.val
	// startswith(prop,'x')
	if strings.EqualFold(name, "startswith") || strings.EqualFold(name, "endswith") {
		if err := p.expect("("); err != nil {
			return nil, err
		}
		prop, err := p.next()
		if err != nil || prop.kind != "ident" {
			return nil, errors.New("startswith needs a property")
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		val, err := p.next()
		if err != nil || val.kind != "str" {
			return nil, errors.New("startswith needs a string")
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		ends := strings.EqualFold(name, "endswith")
		return func(g getter) (bool, error) {
			v, ok := g(prop.val)
			if !ok {
				return false, fmt.Errorf("%w: property %s", errUnsupported, prop.val)
			}
			sv, _ := v.(string)
			if ends {
				return strings.HasSuffix(strings.ToLower(sv), strings.ToLower(val.val)), nil
			}
			return strings.HasPrefix(strings.ToLower(sv), strings.ToLower(val.val)), nil
		}, nil
	}
	// collection/any(x:expr)
	if base, ok := strings.CutSuffix(name, "/any"); ok {
		if err := p.expect("("); err != nil {
			return nil, err
		}
		v, err := p.next()
		if err != nil || v.kind != "ident" {
			return nil, errors.New("any() needs a variable")
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		inner, err := p.or()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return func(g getter) (bool, error) {
			coll, ok := g(base)
			if !ok {
				return false, fmt.Errorf("%w: property %s", errUnsupported, base)
			}
			items, _ := coll.([]string)
			for _, it := range items {
				it := it
				m, err := inner(func(path string) (any, bool) {
					if path == v.val {
						return it, true
					}
					return g(path)
				})
				if err != nil || m {
					return m, err
				}
			}
			return false, nil
		}, nil
	}
	op, err := p.next()
	if err != nil || op.kind != "ident" {
		return nil, fmt.Errorf("expected an operator after %s", name)
	}
	switch strings.ToLower(op.val) {
	case "in":
		if err := p.expect("("); err != nil {
			return nil, err
		}
		var vals []tok
		for {
			v, err := p.next()
			if err != nil {
				return nil, err
			}
			if v.kind == ")" {
				break
			}
			if v.kind == "," {
				continue
			}
			vals = append(vals, v)
		}
		return func(g getter) (bool, error) {
			have, ok := g(name)
			if !ok {
				return false, fmt.Errorf("%w: property %s", errUnsupported, name)
			}
			for _, v := range vals {
				if c, err := compare(have, v); err == nil && c == 0 {
					return true, nil
				}
			}
			return false, nil
		}, nil
	case "eq", "ne", "ge", "le", "gt", "lt":
		v, err := p.next()
		if err != nil {
			return nil, err
		}
		o := strings.ToLower(op.val)
		return func(g getter) (bool, error) {
			have, ok := g(name)
			if !ok {
				return false, fmt.Errorf("%w: property %s", errUnsupported, name)
			}
			c, err := compare(have, v)
			if err != nil {
				return false, err
			}
			switch o {
			case "eq":
				return c == 0, nil
			case "ne":
				return c != 0, nil
			case "ge":
				return c >= 0, nil
			case "le":
				return c <= 0, nil
			case "gt":
				return c > 0, nil
			default:
				return c < 0, nil
			}
		}, nil
	}
	return nil, fmt.Errorf("unknown operator %q", op.val)
}

// compare compares a property value with a literal token: -1, 0, 1; a
// mismatch of kinds (or null) compares unequal (2).
func compare(have any, lit tok) (int, error) {
	if lit.kind == "ident" && strings.EqualFold(lit.val, "null") {
		if have == nil {
			return 0, nil
		}
		if s, ok := have.(string); ok && s == "" {
			return 0, nil
		}
		return 2, nil
	}
	switch h := have.(type) {
	case string:
		if lit.kind != "str" {
			return 0, fmt.Errorf("%w: a string property compared with %s", errUnsupported, lit.val)
		}
		return strings.Compare(strings.ToLower(h), strings.ToLower(lit.val)), nil
	case bool:
		if lit.kind != "ident" {
			return 2, nil
		}
		b, err := strconv.ParseBool(lit.val)
		if err != nil {
			return 0, fmt.Errorf("%w: %s is not a boolean", errUnsupported, lit.val)
		}
		if b == h {
			return 0, nil
		}
		return 2, nil
	case time.Time:
		s := lit.val
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t, err = time.Parse("2006-01-02", s)
			if err != nil {
				return 0, fmt.Errorf("%w: %s is not a DateTimeOffset", errUnsupported, s)
			}
		}
		return h.Compare(t), nil
	case nil:
		return 2, nil
	}
	return 0, errUnsupported
}

// parseSelect returns the lower-cased $select properties, or nil.
func parseSelect(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// project returns the properties of full named in sel (case-insensitive,
// in Graph's spelling); id is always included. Unknown properties are an
// error, as in Graph.
func project(full map[string]any, order []string, sel []string) (map[string]any, error) {
	out := map[string]any{}
	for _, want := range sel {
		found := false
		for _, k := range order {
			if strings.EqualFold(k, want) {
				out[k] = full[k]
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("Could not find a property named '%s' on type 'microsoft.graph.user'.", want)
		}
	}
	out["id"] = full["id"]
	return out, nil
}
