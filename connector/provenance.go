package connector

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Provenance: passbridge acts only on accounts its own invitation created.
// Graph hands back the existing user when an invitation names an address
// that is already a guest (same object id), so the invitation handler looks
// the address up before inviting and checks whatever account it gets.

// ProvenanceSkew is how much earlier than the recorded intent
// (Onboarding.InviteIntentAt, passbridge's clock) an account's
// createdDateTime (Graph's clock) may be and still count as passbridge's
// invitation. It absorbs clock skew between the two; an account created by
// someone else within this window of the intent would pass the time check,
// which is why userType and creationType must match too.
const ProvenanceSkew = 2 * time.Minute

// verdict is what the provenance check says about an account found at the
// user's address.
type verdict int

const (
	verdictOwn     verdict = iota + 1 // passbridge's invitation: record it
	verdictAdopt                      // a pre-existing guest, adoptable by configuration
	verdictForeign                    // a guest passbridge did not invite: conflict
	verdictMember                     // a member (staff): conflict, never adopted
	verdictHeld                       // recorded by another passbridge user: conflict
	verdictPending                    // a guest whose deletion passbridge awaits: retry later
)

// provenance classifies g for the user userID whose invitation intent was
// recorded at intent. ownAttempt says whether this job may already have
// invited (a retry after a lost answer): on a first attempt any account
// found before inviting was there before.
func (h inviteHandler) provenance(ctx context.Context, userID string, g Guest, intent time.Time, ownAttempt bool) (verdict, error) {
	if !strings.EqualFold(g.UserType, "Guest") {
		return verdictMember, nil
	}
	pending, err := h.store.HasTombstone(ctx, g.ID)
	if err != nil {
		return 0, fmt.Errorf("check tombstone of %s: %w", g.ID, err)
	}
	if pending {
		return verdictPending, nil
	}
	holder, err := guestHolder(ctx, h.store, g.ID, userID)
	if err != nil {
		return 0, err
	}
	if holder != "" {
		return verdictHeld, nil
	}
	own := ownAttempt && strings.EqualFold(g.CreationType, "Invitation") &&
		g.Created != nil && !g.Created.Before(intent.Add(-ProvenanceSkew))
	switch {
	case own:
		return verdictOwn, nil
	case h.opts.AdoptExistingGuests:
		return verdictAdopt, nil
	}
	return verdictForeign, nil
}

// guestHolder returns the id of a stored user other than except whose
// recorded guest is guestID ("" if none).
func guestHolder(ctx context.Context, st Store, guestID, except string) (string, error) {
	page, err := st.ListUsers(ctx, Query{Filter: Eq(AttrGuestID, guestID), Count: 2})
	if err != nil {
		return "", fmt.Errorf("find the user holding guest %s: %w", guestID, err)
	}
	for _, v := range page.Items {
		if v.ID != except {
			return v.ID, nil
		}
	}
	return "", nil
}

// conflictMessage is the user's lastError for an address held by an
// account passbridge did not invite: the account's object id and userType
// (nothing else about it) and what an admin can do.
func conflictMessage(g Guest, v verdict) string {
	typ := g.UserType
	if typ == "" {
		typ = "unknown"
	}
	what := fmt.Sprintf("the address belongs to tenant account %s (userType %s)", g.ID, typ)
	switch v {
	case verdictMember:
		return what + ", a member passbridge will never adopt or change; give this user another address, or remove that account, then set active=true again to re-check"
	case verdictHeld:
		return what + ", which another passbridge user holds; give this user another address, or delete the other user, then set active=true again to re-check"
	}
	return what + ", a guest passbridge did not invite; remove that account, or set invitation.adoptExistingGuests to adopt existing guests, then set active=true again to re-check"
}
