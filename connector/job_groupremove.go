package connector

import (
	"context"
	"errors"
	"fmt"
)

// groupRemoveHandler runs JobGroupRemoveMember: one guest out of one Entra
// group. Removals are jobs of their own, queued before the adds of the same
// change (and, jobs of one subject running oldest first, run before them),
// so that an add failing for good cannot drop a removal.
type groupRemoveHandler struct {
	jobEnv
	dir GroupMemberWriter
}

func (h groupRemoveHandler) handle(ctx context.Context, j Job) error {
	var p groupRemoveMemberPayload
	if err := decode(j, &p); err != nil {
		return err
	}
	if p.UserID == "" && p.GuestID == "" {
		return Terminal(fmt.Errorf("job %d: no member to remove", j.ID))
	}
	entra := p.EntraID
	if !p.GroupDeleted {
		g, err := h.store.GetGroup(ctx, j.Subject)
		switch {
		case err == nil:
			if containsString(g.Members, p.UserID) {
				return nil // added back since
			}
			if entra == "" {
				entra = g.EntraID
			}
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("get group %s: %w", j.Subject, err)
		}
		// A deleted group queued removals of its own members with its Entra id.
	}
	if entra == "" {
		return nil // never mirrored: the guest was never added
	}
	guest := p.GuestID
	if guest == "" {
		u, ok, err := h.getUser(ctx, p.UserID)
		if err != nil {
			return err
		}
		if !ok || u.Onboarding.GuestID == "" {
			return nil // not invited, or deleted: its guest is deleted with it
		}
		guest = u.Onboarding.GuestID
	}
	if err := h.dir.RemoveGroupMember(ctx, entra, guest); err != nil && ClassOf(err) != NotFound {
		return fmt.Errorf("remove guest %s from group %s: %w", guest, entra, err)
	}
	return nil
}
