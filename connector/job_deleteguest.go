package connector

import (
	"context"
	"fmt"
)

// deleteGuestHandler runs JobDeleteGuest.
type deleteGuestHandler struct {
	jobEnv
	dir interface {
		GuestDeleter
	}
}

// handle deletes the guest the job names by id: passbridge never deletes an
// account found by address (it may be a member's or another party's). A
// guest another user holds by now is left alone. Graph's confirmation drops
// the guest's tombstone.
func (h deleteGuestHandler) handle(ctx context.Context, j Job) error {
	var p deleteGuestPayload
	if err := decode(j, &p); err != nil {
		return err
	}
	if p.GuestID == "" {
		// A job queued before deletions went by id alone, for an invitation
		// that was in flight: its handler queues the deletion of the guest
		// it created for a user deleted meanwhile.
		h.log.InfoContext(ctx, "guest deletion without a guest id skipped", "job", j.ID, "user", j.Subject)
		return nil
	}
	guestID := p.GuestID
	holder, err := guestHolder(ctx, h.store, guestID, j.Subject)
	if err != nil {
		return err
	}
	if holder != "" {
		h.log.InfoContext(ctx, "guest deletion skipped: held by another user", "job", j.ID, "guest", guestID, "user", holder)
		if err := h.store.RemoveTombstone(ctx, guestID); err != nil {
			return fmt.Errorf("drop tombstone: %w", err)
		}
		return nil
	}
	if err := h.dir.DeleteUser(ctx, guestID); err != nil && ClassOf(err) != NotFound {
		return fmt.Errorf("delete guest: %w", err)
	}
	_, err = updateUser(ctx, h.store, j.Subject, func(cur *User) (Change, error) {
		if cur.Onboarding.GuestID != guestID || cur.Onboarding.GuestGone {
			return Change{}, errNoChange
		}
		old := *cur
		cur.Onboarding.GuestGone = true
		return finish(old, cur, actorWorker, h.clock.Now(), h.opts)
	})
	if err != nil {
		return fmt.Errorf("record guest deletion: %w", err)
	}
	if err := h.store.RemoveTombstone(ctx, guestID); err != nil {
		return fmt.Errorf("drop tombstone: %w", err)
	}
	h.log.InfoContext(ctx, "guest deleted", "user", j.Subject, "guest", guestID, "reason", p.Reason)
	return nil
}
