package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// inviteHandler runs JobInvite.
type inviteHandler struct {
	jobEnv
	dir interface {
		Inviter
		GuestFinder
		GuestDeleter
	}
}

// handle sends the user's invitation exactly once. A retry (Attempts > 1)
// may follow a call whose answer was lost, so it looks the guest up first
// and adopts it; Graph would hand the same guest back anyway, but would mail
// a second invitation.
func (h inviteHandler) handle(ctx context.Context, j Job) error {
	u, ok, err := h.getUser(ctx, j.Subject)
	if err != nil || !ok {
		return err
	}
	o := u.Onboarding
	if o.InvitedAt != nil || o.Failed || !u.Active {
		// Done already, or no longer wanted: reactivation queues a new one.
		return nil
	}
	var p invitePayload
	if err := decode(j, &p); err != nil {
		return err
	}
	if o.InviteJob != j.ID {
		held, err := h.holdIntent(ctx, u.ID, j.ID)
		if err != nil || !held {
			return err
		}
	}
	if p.ReplaceGuestID != "" {
		if err := h.dir.DeleteUser(ctx, p.ReplaceGuestID); err != nil && ClassOf(err) != NotFound {
			return fmt.Errorf("delete previous guest: %w", err)
		}
	}
	email := o.InviteEmail
	guestID, adopted := "", false
	if j.Attempts > 1 {
		g, err := h.dir.FindGuestByEmail(ctx, email)
		switch {
		case err == nil && g.ID != "" && g.ID != p.ReplaceGuestID:
			guestID, adopted = g.ID, true
		case err != nil && ClassOf(err) != NotFound:
			return fmt.Errorf("look up guest: %w", err)
		}
	}
	if guestID == "" {
		inv := h.opts.Invitation
		inv.Email = email
		inv.DisplayName = displayName(u)
		res, err := h.dir.Invite(ctx, inv)
		if err != nil {
			return fmt.Errorf("invite: %w", err)
		}
		if res.GuestID == "" {
			return fmt.Errorf("invite: answer without a guest id")
		}
		guestID = res.GuestID
		// TODO(engine): with Invitation.SendEmail false and a custom message,
		// mail res.RedeemURL ourselves (never log or store it).
	}
	return h.record(ctx, u.ID, j, email, guestID, adopted)
}

// holdIntent records the intent before calling out: of two invitation jobs
// for one onboarding (a reactivation before the first ran, a replayed row),
// only the one holding it invites. held is false when this job must not.
func (h inviteHandler) holdIntent(ctx context.Context, userID string, jobID int64) (held bool, err error) {
	dup := false
	_, err = h.store.UpdateUser(ctx, userID, func(cur *User) (Change, error) {
		co := &cur.Onboarding
		switch {
		case co.InvitedAt != nil || !cur.Active || co.Failed:
			dup = true
			return Change{}, errNoChange
		case co.InviteJob != 0 && co.InviteJob != jobID:
			dup = true
			return Change{}, errNoChange
		}
		co.InviteJob = jobID
		return Change{}, nil
	})
	switch {
	case errors.Is(err, ErrNotFound), dup:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("record invitation intent: %w", err)
	}
	return true, nil
}

// record commits the invitation's result, unless the user changed under it:
// deleted (the guest must not outlive it) or moved to another address (the
// guest is dropped and the new address invited on the next attempt).
func (h inviteHandler) record(ctx context.Context, userID string, j Job, email, guestID string, adopted bool) error {
	var moved bool
	updated, err := h.store.UpdateUser(ctx, userID, func(cur *User) (Change, error) {
		co := &cur.Onboarding
		if co.InvitedAt != nil || co.InviteJob != j.ID {
			return Change{}, errNoChange
		}
		if co.InviteEmail != email {
			moved = true
			return Change{}, errNoChange
		}
		old := *cur
		now := h.clock.Now()
		t, exp := now, now.Add(h.opts.InvitationValidity)
		co.GuestID, co.InvitedAt, co.ExpiresAt = guestID, &t, &exp
		co.LastError, co.Attempts, co.GuestGone, co.Disabled = "", j.Attempts, false, false
		ch, err := finish(old, cur, actorWorker, now, h.opts)
		if err != nil {
			return Change{}, err
		}
		if adopted {
			ev, err := newEvent(cur.ID, "onboarding.guestAdopted", actorWorker, now, map[string]any{"guestId": guestID, "attempt": j.Attempts})
			if err != nil {
				return Change{}, err
			}
			ch.Events = append(ch.Events, ev)
		}
		if co.Seed.Requested && co.Seed.ProvisionedAt == nil {
			ch.Jobs = append(ch.Jobs, plainJob(JobSeedProvision, cur.ID, now))
		}
		if !cur.Active {
			// Deactivated while the invitation was on its way.
			ch.Jobs = append(ch.Jobs, plainJob(JobDisable, cur.ID, now))
		}
		return ch, nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		// Deleted while we were inviting: the guest must not outlive it.
		return h.queueDeletion(ctx, userID, guestID, email, "deleted")
	case errors.Is(err, errNoChange) && moved:
		if err := h.queueDeletion(ctx, userID, guestID, "", "addressChanged"); err != nil {
			return err
		}
		return fmt.Errorf("address changed during the invitation")
	case errors.Is(err, errNoChange):
		return nil
	case err != nil:
		return fmt.Errorf("record invitation: %w", err)
	}
	h.log.InfoContext(ctx, "user invited", "user", updated.ID, "guest", guestID, "adopted", adopted, "attempt", j.Attempts)
	return h.requeueGroups(ctx, updated.ID)
}

func (h inviteHandler) queueDeletion(ctx context.Context, userID, guestID, email, reason string) error {
	dj, err := deleteGuestJob(userID, guestID, email, reason, h.clock.Now())
	if err != nil {
		return err
	}
	if err := h.store.EnqueueJobs(ctx, []Job{dj}); err != nil {
		return fmt.Errorf("queue guest deletion: %w", err)
	}
	return nil
}

// groupPage is the page size of requeueGroups' reads.
const groupPage = 100

// requeueGroups syncs the groups of a newly invited user: its membership
// could not be mirrored before it had a guest. It reads every page, since a
// user may be in more groups than one page holds.
func (h inviteHandler) requeueGroups(ctx context.Context, userID string) error {
	var jobs []Job
	now := h.clock.Now()
	for after := ""; ; {
		page, err := h.store.ListGroups(ctx, Query{Filter: Eq(AttrMembersValue, userID), Count: groupPage, AfterID: after})
		if err != nil {
			h.log.WarnContext(ctx, "list groups of user failed", "user", userID, "err", err)
			return nil // the invitation is recorded; a later group change syncs
		}
		for _, g := range page.Items {
			jobs = append(jobs, plainJob(JobGroupSync, g.ID, now))
		}
		if len(page.Items) < groupPage {
			break
		}
		after = page.Items[len(page.Items)-1].ID
	}
	if len(jobs) == 0 {
		return nil
	}
	if err := h.store.EnqueueJobs(ctx, jobs); err != nil {
		h.log.WarnContext(ctx, "queue group sync failed", "user", userID, "err", err)
	}
	return nil
}

func displayName(u User) string {
	var doc struct {
		DisplayName string `json:"displayName"`
		Name        struct {
			Formatted  string `json:"formatted"`
			GivenName  string `json:"givenName"`
			FamilyName string `json:"familyName"`
		} `json:"name"`
	}
	if len(u.Doc) > 0 && json.Unmarshal(u.Doc, &doc) == nil {
		switch {
		case doc.DisplayName != "":
			return doc.DisplayName
		case doc.Name.Formatted != "":
			return doc.Name.Formatted
		case doc.Name.GivenName+doc.Name.FamilyName != "":
			return strings.TrimSpace(doc.Name.GivenName + " " + doc.Name.FamilyName)
		}
	}
	return ""
}
