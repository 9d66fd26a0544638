// Package sqlq holds what the SQL backends share: the translation of a
// connector.Filter into a SQL condition with bound parameters, and the small
// normalisations (IDs, times, paging) that must behave the same on every
// backend so that the conformance suite sees one behaviour.
//
// It knows nothing of a particular driver; each backend describes its dialect.
package sqlq

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/passbridge/passbridge/connector"
)

// Args collects bind parameters and returns the dialect's marker for each.
type Args struct {
	// Placeholder returns the marker of the n-th (1-based) parameter: "?"
	// for SQLite, "$n" for PostgreSQL.
	Placeholder func(n int) string
	Values      []any
}

// Add binds v and returns its marker.
func (a *Args) Add(v any) string {
	a.Values = append(a.Values, v)
	return a.Placeholder(len(a.Values))
}

// Question is SQLite's placeholder.
func Question(int) string { return "?" }

// Dollar is PostgreSQL's placeholder.
func Dollar(n int) string { return "$" + strconv.Itoa(n) }

// Column says how one filterable attribute is stored.
type Column struct {
	// Expr is the column compared. For a multi-valued attribute it is the
	// column inside the In subquery.
	Expr string
	// Fold: values are stored folded (connector.FoldKey) and the filter
	// value is folded the same way, so comparisons ignore case without
	// relying on the database's idea of case.
	Fold bool
	// Bool: a boolean column (only eq, ne and pr apply).
	Bool bool
	// In, for multi-valued attributes, is a condition with one %s where the
	// comparison on Expr goes, e.g.
	// "u.id IN (SELECT e.user_id FROM user_emails e WHERE %s)": the filter
	// matches when any value matches (RFC 7644 §3.4.2.2).
	In string
}

// Schema maps filterable attribute names (connector.Attr…) to columns.
type Schema map[string]Column

// likeEscape is the LIKE escape character. '!' rather than a backslash so
// that the SQL text means the same whatever a server thinks of backslashes in
// string literals.
const likeEscape = "!"

// EscapeLike makes s match literally inside a LIKE pattern.
func EscapeLike(s string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return r.Replace(s)
}

// Compile translates f into a SQL condition over s, binding every value
// through a. A nil filter is "TRUE" (spelled 1=1, which both dialects read).
func Compile(f *connector.Filter, s Schema, a *Args) (string, error) {
	if f == nil {
		return "1=1", nil
	}
	switch f.Op {
	case connector.OpAnd, connector.OpOr:
		if f.Left == nil || f.Right == nil {
			return "", fmt.Errorf("filter: %s needs two operands", f.Op)
		}
		l, err := Compile(f.Left, s, a)
		if err != nil {
			return "", err
		}
		r, err := Compile(f.Right, s, a)
		if err != nil {
			return "", err
		}
		op := "AND"
		if f.Op == connector.OpOr {
			op = "OR"
		}
		return "(" + l + " " + op + " " + r + ")", nil
	case connector.OpNot:
		if f.Left == nil {
			return "", fmt.Errorf("filter: not needs an operand")
		}
		l, err := Compile(f.Left, s, a)
		if err != nil {
			return "", err
		}
		return "(NOT " + l + ")", nil
	}
	col, ok := s[f.Attr]
	if !ok {
		return "", fmt.Errorf("filter: attribute %q cannot be filtered on", f.Attr)
	}
	cond, err := compare(f, col, a)
	if err != nil {
		return "", err
	}
	if col.In != "" {
		return "(" + fmt.Sprintf(col.In, cond) + ")", nil
	}
	return cond, nil
}

func compare(f *connector.Filter, col Column, a *Args) (string, error) {
	if col.Bool {
		return compareBool(f, col, a)
	}
	if f.Op == connector.OpPr {
		// Columns are NOT NULL with '' for "absent".
		return col.Expr + " <> ''", nil
	}
	v, ok := f.Value.(string)
	if !ok {
		return "", fmt.Errorf("filter: %s %s needs a string value, got %T", f.Attr, f.Op, f.Value)
	}
	if col.Fold {
		v = connector.FoldKey(v)
	}
	switch f.Op {
	case connector.OpEq:
		return col.Expr + " = " + a.Add(v), nil
	case connector.OpNe:
		return col.Expr + " <> " + a.Add(v), nil
	case connector.OpGt:
		return col.Expr + " > " + a.Add(v), nil
	case connector.OpGe:
		return col.Expr + " >= " + a.Add(v), nil
	case connector.OpLt:
		return col.Expr + " < " + a.Add(v), nil
	case connector.OpLe:
		return col.Expr + " <= " + a.Add(v), nil
	case connector.OpCo:
		return like(col.Expr, "%"+EscapeLike(v)+"%", a), nil
	case connector.OpSw:
		return like(col.Expr, EscapeLike(v)+"%", a), nil
	case connector.OpEw:
		return like(col.Expr, "%"+EscapeLike(v), a), nil
	}
	return "", fmt.Errorf("filter: unknown operator %q", f.Op)
}

func like(expr, pattern string, a *Args) string {
	return expr + " LIKE " + a.Add(pattern) + " ESCAPE '" + likeEscape + "'"
}

func compareBool(f *connector.Filter, col Column, a *Args) (string, error) {
	if f.Op == connector.OpPr {
		return "1=1", nil // a boolean always has a value
	}
	var v bool
	switch x := f.Value.(type) {
	case bool:
		v = x
	case string:
		// Microsoft Entra sends "True"/"False"; the SCIM layer should have
		// converted them, but accepting them here costs nothing.
		switch strings.ToLower(x) {
		case "true":
			v = true
		case "false":
		default:
			return "", fmt.Errorf("filter: %s needs a boolean value, got %q", f.Attr, x)
		}
	default:
		return "", fmt.Errorf("filter: %s needs a boolean value, got %T", f.Attr, f.Value)
	}
	switch f.Op {
	case connector.OpEq:
		return col.Expr + " = " + a.Add(v), nil
	case connector.OpNe:
		return col.Expr + " <> " + a.Add(v), nil
	}
	return "", fmt.Errorf("filter: operator %s does not apply to boolean %s", f.Op, f.Attr)
}
