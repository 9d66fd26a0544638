package connector

import (
	"fmt"
	"strings"
)

// FilterOp is a SCIM filter operator (RFC 7644 §3.4.2.2).
type FilterOp string

const (
	OpAnd FilterOp = "and"
	OpOr  FilterOp = "or"
	OpNot FilterOp = "not"
	OpEq  FilterOp = "eq"
	OpNe  FilterOp = "ne"
	OpCo  FilterOp = "co"
	OpSw  FilterOp = "sw"
	OpEw  FilterOp = "ew"
	OpPr  FilterOp = "pr"
	OpGt  FilterOp = "gt"
	OpGe  FilterOp = "ge"
	OpLt  FilterOp = "lt"
	OpLe  FilterOp = "le"
)

// Filterable attributes, by their canonical names. A store translates a Filter
// on these into its query language; anything else is rejected by the SCIM layer
// before it reaches a store.
const (
	AttrID              = "id"
	AttrUserName        = "userName"        // case-insensitive (RFC 7643 §4.1.1)
	AttrExternalID      = "externalId"      // case-sensitive
	AttrEmailsValue     = "emails.value"    // matches any of the user's e-mails, case-insensitive
	AttrActive          = "active"          // boolean
	AttrOnboardingState = "onboardingState" // State, case-sensitive
	AttrDisplayName     = "displayName"     // groups, case-insensitive
	AttrMembersValue    = "members.value"   // groups: a member's user id
	// AttrGuestID is Onboarding.GuestID (internal: the SCIM layer does not
	// expose it); eq only, case-sensitive.
	AttrGuestID = "onboarding.guestId"
	// AttrCreatedBy is User.CreatedBy (internal: how an ownUsersOnly
	// client's lists are narrowed); eq only, case-sensitive.
	AttrCreatedBy = "meta.createdBy"
)

// Filter is a filter expression tree, independent of SCIM's parser and of SQL.
type Filter struct {
	Op FilterOp
	// Comparison (eq … le, pr): the attribute and the value (string or bool;
	// nil for pr).
	Attr  string
	Value any
	// Logical: and/or use Left and Right, not uses Left.
	Left, Right *Filter
}

// String renders the filter back in SCIM syntax (for logs and tests).
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	switch f.Op {
	case OpAnd, OpOr:
		return fmt.Sprintf("(%s %s %s)", f.Left, f.Op, f.Right)
	case OpNot:
		return fmt.Sprintf("not (%s)", f.Left)
	case OpPr:
		return f.Attr + " pr"
	}
	switch v := f.Value.(type) {
	case string:
		return fmt.Sprintf("%s %s %q", f.Attr, f.Op, v)
	default:
		return fmt.Sprintf("%s %s %v", f.Attr, f.Op, v)
	}
}

// Eq is a shorthand for an equality filter.
func Eq(attr string, v any) *Filter { return &Filter{Op: OpEq, Attr: attr, Value: v} }

// And joins filters with and (nil ones are skipped).
func And(fs ...*Filter) *Filter {
	var out *Filter
	for _, f := range fs {
		switch {
		case f == nil:
		case out == nil:
			out = f
		default:
			out = &Filter{Op: OpAnd, Left: out, Right: f}
		}
	}
	return out
}

// Or joins filters with or (nil ones are skipped).
func Or(fs ...*Filter) *Filter {
	var out *Filter
	for _, f := range fs {
		switch {
		case f == nil:
		case out == nil:
			out = f
		default:
			out = &Filter{Op: OpOr, Left: out, Right: f}
		}
	}
	return out
}

// CaseInsensitive reports whether comparisons on attr ignore case.
func CaseInsensitive(attr string) bool {
	switch attr {
	case AttrUserName, AttrEmailsValue, AttrDisplayName:
		return true
	}
	return false
}

// FoldKey is how case-insensitive values are compared and indexed.
func FoldKey(s string) string { return strings.ToLower(s) }
