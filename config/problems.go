package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key is the YAML key path ("scim.tokens[1].sha256") or, for a problem
	// with an environment variable, the variable's name.
	Key string
	// Message says what is wrong, as a sentence fragment after the key.
	Message string
	// Hint says how to fix it ("" when the message says it all).
	Hint string
	// Line is the line in the file, when the problem comes from the file (0
	// otherwise).
	Line int

	// path is the YAML key path the problem is about, also for a problem
	// keyed by an environment variable.
	path string
}

// String formats the problem as "key: message (line N); fix: hint".
func (p Problem) String() string {
	var b strings.Builder
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.Line)
	}
	if p.Hint != "" {
		b.WriteString("; fix: ")
		b.WriteString(p.Hint)
	}
	return b.String()
}

// Problems is the error returned by Load and Validate: every problem found,
// not only the first.
type Problems struct {
	List []Problem
}

// Error lists every problem, one per line.
func (ps *Problems) Error() string {
	var b strings.Builder
	if len(ps.List) == 1 {
		b.WriteString("configuration has 1 problem:")
	} else {
		fmt.Fprintf(&b, "configuration has %d problems:", len(ps.List))
	}
	for _, p := range ps.List {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Len returns the number of problems.
func (ps *Problems) Len() int {
	if ps == nil {
		return 0
	}
	return len(ps.List)
}

func (ps *Problems) add(key, msg, hint string) {
	ps.List = append(ps.List, Problem{Key: key, Message: msg, Hint: hint, path: key})
}

func (ps *Problems) addLine(line int, key, msg, hint string) {
	ps.List = append(ps.List, Problem{Key: key, Message: msg, Hint: hint, Line: line, path: key})
}

// err returns ps as an error, or nil when there is no problem.
func (ps *Problems) err() error {
	if ps.Len() == 0 {
		return nil
	}
	return ps
}

// merge appends the problems of err (a *Problems) to ps; any other non-nil
// error is returned unchanged.
func (ps *Problems) merge(err error) error {
	if err == nil {
		return nil
	}
	var other *Problems
	if errors.As(err, &other) {
		ps.List = append(ps.List, other.List...)
		return nil
	}
	return err
}

// sortBySection orders problems by the top-level section of their key, in
// the order of Config's fields (environment variables last), keeping the
// order within a section.
func (ps *Problems) sortBySection() {
	order := map[string]int{}
	for i, k := range fieldKeys(reflect.TypeFor[Config]()) {
		order[k] = i
	}
	rank := func(key string) int {
		sec := key
		if i := strings.IndexAny(key, ".["); i >= 0 {
			sec = key[:i]
		}
		if r, ok := order[sec]; ok {
			return r
		}
		return len(order)
	}
	sort.SliceStable(ps.List, func(i, j int) bool { return rank(ps.List[i].Key) < rank(ps.List[j].Key) })
}

// suggest returns the candidate closest to s, or "" when none is close.
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == ls {
			return c
		}
		d := levenshtein(ls, lc)
		if len(ls) >= 3 && (strings.HasPrefix(lc, ls) || strings.HasPrefix(ls, lc)) {
			d = min(d, 1) // "required" for "requiredWhen"
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(2, len(s)/3)
	if bestD <= limit {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
