package connector

import (
	"context"
	"fmt"
)

// deleteGuestHandler runs JobDeleteGuest.
type deleteGuestHandler struct {
	jobEnv
	dir interface {
		GuestFinder
		GuestDeleter
	}
}

// userPage is the page size of the deletion's read of the users holding an
// address.
const userPage = 20

// handle deletes a guest by id, or by address when the invitation was still
// in flight. A guest or address another user holds by now (the same person
// signed up again) is left alone.
func (h deleteGuestHandler) handle(ctx context.Context, j Job) error {
	var p deleteGuestPayload
	if err := decode(j, &p); err != nil {
		return err
	}
	if p.GuestID == "" && p.Email == "" {
		return nil
	}
	if p.Email != "" {
		holder, err := h.heldElsewhere(ctx, j.Subject, p)
		if err != nil {
			return err
		}
		if holder != "" {
			h.log.InfoContext(ctx, "guest deletion skipped: held by another user", "job", j.ID, "user", holder)
			return nil
		}
	}
	guestID := p.GuestID
	if guestID == "" {
		g, err := h.dir.FindGuestByEmail(ctx, p.Email)
		if ClassOf(err) == NotFound && err != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("look up guest: %w", err)
		}
		guestID = g.ID
	}
	if err := h.dir.DeleteUser(ctx, guestID); err != nil && ClassOf(err) != NotFound {
		return fmt.Errorf("delete guest: %w", err)
	}
	_, err := updateUser(ctx, h.store, j.Subject, func(cur *User) (Change, error) {
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
	h.log.InfoContext(ctx, "guest deleted", "user", j.Subject, "guest", guestID, "reason", p.Reason)
	return nil
}

// heldElsewhere returns the id of a user other than subject that holds the
// job's address (and, with a guest id, that guest), reading every page of
// the users with that address.
func (h deleteGuestHandler) heldElsewhere(ctx context.Context, subject string, p deleteGuestPayload) (string, error) {
	for after := ""; ; {
		page, err := h.store.ListUsers(ctx, Query{Filter: Eq(AttrEmailsValue, p.Email), Count: userPage, AfterID: after})
		if err != nil {
			return "", fmt.Errorf("list users by address: %w", err)
		}
		for _, v := range page.Items {
			if v.ID == subject {
				continue
			}
			if p.GuestID == "" || v.Onboarding.GuestID == p.GuestID {
				return v.ID, nil
			}
		}
		if len(page.Items) < userPage {
			return "", nil
		}
		after = page.Items[len(page.Items)-1].ID
	}
}
