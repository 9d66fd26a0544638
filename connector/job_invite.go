package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// inviteHandler runs JobInvite.
type inviteHandler struct {
	jobEnv
	dir interface {
		Inviter
		GuestFinder
		GuestDeleter
		DirectoryReader
	}
}

// Why an invitation's guest was adopted rather than created (the
// onboarding.guestAdopted event's reason).
const (
	adoptLostAnswer    = "lostAnswer"    // this job's own invitation, whose answer was lost
	adoptExistingGuest = "existingGuest" // a pre-existing guest, by invitation.adoptExistingGuests
)

// handle sends the user's invitation exactly once, and only to an address
// no account passbridge did not invite holds. Graph answers an invitation
// to an existing guest with that guest, so the address is looked up before
// every attempt: a retry may find its own lost invitation (adopted), any
// other account puts the user in conflict (provenance.go).
func (h inviteHandler) handle(ctx context.Context, j Job) error {
	u, ok, err := h.getUser(ctx, j.Subject)
	if err != nil || !ok {
		return err
	}
	o := u.Onboarding
	if o.InvitedAt != nil || o.Failed || o.Conflict || !u.Active {
		// Done already, or no longer wanted: reactivation queues a new one.
		return nil
	}
	var p invitePayload
	if err := decode(j, &p); err != nil {
		return err
	}
	if o.InviteJob != j.ID {
		at, held, err := h.holdIntent(ctx, u.ID, j)
		if err != nil || !held {
			return err
		}
		o.InviteIntentAt = &at
	}
	intent := j.Created // onboardings recorded before InviteIntentAt existed
	if o.InviteIntentAt != nil {
		intent = *o.InviteIntentAt
	}
	if p.ReplaceGuestID != "" {
		if err := h.deleteReplaced(ctx, u.ID, p.ReplaceGuestID); err != nil {
			return err
		}
	}
	email := o.InviteEmail
	g, err := h.dir.FindGuestByEmail(ctx, email)
	switch {
	case err == nil && g.ID != "":
		if g.ID == p.ReplaceGuestID {
			return fmt.Errorf("the previous guest %s is still listed at this address; retrying once its deletion shows", g.ID)
		}
		return h.decide(ctx, u.ID, j, email, g, intent, j.Attempts > 1, false)
	case err != nil && ClassOf(err) != NotFound:
		return fmt.Errorf("look up guest: %w", err)
	}
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
	// res.RedeemURL is dropped here on purpose: with invitation.sendEmail
	// false and mail.smtp set, the mail job asks Graph for a fresh link when
	// it sends (job_mail.go), so no link is ever stored.

	// The answer may be an account that appeared since the lookup (Graph
	// returns the existing user): check it. A just-created guest may not be
	// readable yet (replication lag): that is a new account, ours.
	if rs, err := h.dir.GetGuests(ctx, []string{res.GuestID}); err == nil {
		if r, ok := rs[res.GuestID]; ok && r.Err == nil && r.Guest.ID != "" {
			return h.decide(ctx, u.ID, j, email, r.Guest, intent, true, true)
		}
	}
	return h.record(ctx, u.ID, j, email, res.GuestID, "")
}

// decide acts on the provenance of an account found at the user's address:
// before inviting (invited false) or in the invitation's answer.
func (h inviteHandler) decide(ctx context.Context, userID string, j Job, email string, g Guest, intent time.Time, ownAttempt, invited bool) error {
	v, err := h.provenance(ctx, userID, g, intent, ownAttempt)
	if err != nil {
		return err
	}
	switch {
	case v == verdictOwn && invited:
		return h.record(ctx, userID, j, email, g.ID, "")
	case v == verdictOwn:
		return h.record(ctx, userID, j, email, g.ID, adoptLostAnswer)
	}
	switch v {
	case verdictAdopt:
		return h.record(ctx, userID, j, email, g.ID, adoptExistingGuest)
	case verdictPending:
		return fmt.Errorf("guest %s at this address is being deleted; inviting once Graph confirmed", g.ID)
	}
	return h.recordConflict(ctx, userID, j, email, g, v)
}

// deleteReplaced deletes the guest of the user's previous onboarding, unless
// another user holds it by now, and drops its tombstone.
func (h inviteHandler) deleteReplaced(ctx context.Context, userID, guestID string) error {
	holder, err := guestHolder(ctx, h.store, guestID, userID)
	if err != nil {
		return err
	}
	if holder == "" {
		if err := h.dir.DeleteUser(ctx, guestID); err != nil && ClassOf(err) != NotFound {
			return fmt.Errorf("delete previous guest: %w", err)
		}
	} else {
		h.log.WarnContext(ctx, "previous guest not deleted: another user holds it", "user", userID, "guest", guestID, "holder", holder)
	}
	if err := h.store.RemoveTombstone(ctx, guestID); err != nil {
		return fmt.Errorf("drop tombstone of previous guest: %w", err)
	}
	return nil
}

// recordConflict puts the user in state conflict: the address belongs to an
// account passbridge did not invite. Nothing is written in the tenant.
func (h inviteHandler) recordConflict(ctx context.Context, userID string, j Job, email string, g Guest, v verdict) error {
	msg := conflictMessage(g, v)
	var moved bool
	_, err := h.store.UpdateUser(ctx, userID, func(cur *User) (Change, error) {
		co := &cur.Onboarding
		if co.InvitedAt != nil || co.InviteJob != j.ID || co.Conflict {
			return Change{}, errNoChange
		}
		if co.InviteEmail != email {
			moved = true
			return Change{}, errNoChange
		}
		old := *cur
		now := h.clock.Now()
		co.Conflict, co.LastError, co.Attempts = true, msg, j.Attempts
		ch, err := finish(old, cur, actorWorker, now, h.opts)
		if err != nil {
			return Change{}, err
		}
		ev, err := newEvent(cur.ID, "onboarding.conflict", actorWorker, now, map[string]any{"accountId": g.ID, "userType": g.UserType})
		if err != nil {
			return Change{}, err
		}
		ch.Events = append(ch.Events, ev)
		return ch, nil
	})
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, errNoChange) && !moved:
		return nil
	case errors.Is(err, errNoChange):
		return fmt.Errorf("address changed during the invitation")
	case err != nil:
		return fmt.Errorf("record conflict: %w", err)
	}
	h.log.WarnContext(ctx, "user in conflict: address held by an account passbridge did not invite", "user", userID, "account", g.ID, "userType", g.UserType)
	return nil
}

// holdIntent records the intent before calling out: of two invitation jobs
// for one onboarding (a reactivation before the first ran, a replayed row),
// only the one holding it invites. held is false when this job must not.
// at is the intent's time, which the provenance check compares with an
// account's createdDateTime: now on the job's first attempt; on a later one
// (an earlier claim that did not record it, e.g. by a version without
// InviteIntentAt) the job's creation, the earliest it could have invited.
func (h inviteHandler) holdIntent(ctx context.Context, userID string, j Job) (at time.Time, held bool, err error) {
	jobID := j.ID
	dup := false
	at = h.clock.Now()
	if j.Attempts > 1 && !j.Created.IsZero() && j.Created.Before(at) {
		at = j.Created
	}
	_, err = h.store.UpdateUser(ctx, userID, func(cur *User) (Change, error) {
		co := &cur.Onboarding
		switch {
		case co.InvitedAt != nil || !cur.Active || co.Failed || co.Conflict:
			dup = true
			return Change{}, errNoChange
		case co.InviteJob != 0 && co.InviteJob != jobID:
			dup = true
			return Change{}, errNoChange
		}
		co.InviteJob = jobID
		t := at
		co.InviteIntentAt = &t
		return Change{}, nil
	})
	switch {
	case errors.Is(err, ErrNotFound), dup:
		return at, false, nil
	case err != nil:
		return at, false, fmt.Errorf("record invitation intent: %w", err)
	}
	return at, true, nil
}

// record commits the invitation's result, unless the user changed under it:
// deleted (the guest must not outlive it) or moved to another address (the
// guest is dropped and the new address invited on the next attempt). adopt
// is "" for a guest this attempt's invitation created, else why an existing
// guest was taken (adoptLostAnswer, adoptExistingGuest); a pre-existing
// guest that was never recorded is not passbridge's to delete.
func (h inviteHandler) record(ctx context.Context, userID string, j Job, email, guestID, adopt string) error {
	adopted := adopt != ""
	ours := adopt != adoptExistingGuest
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
		t, exp := now, now.Add(h.opts.validityFor(cur.Onboarding.AccountType))
		co.GuestID, co.InvitedAt, co.ExpiresAt = guestID, &t, &exp
		co.LastError, co.Attempts, co.GuestGone, co.Disabled = "", j.Attempts, false, false
		ch, err := finish(old, cur, actorWorker, now, h.opts)
		if err != nil {
			return Change{}, err
		}
		if adopted {
			ev, err := newEvent(cur.ID, "onboarding.guestAdopted", actorWorker, now, map[string]any{"guestId": guestID, "attempt": j.Attempts, "reason": adopt})
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
		if !ours {
			return nil
		}
		return h.queueDeletion(ctx, userID, guestID, "deleted")
	case errors.Is(err, errNoChange) && moved:
		if ours {
			if err := h.queueDeletion(ctx, userID, guestID, "addressChanged"); err != nil {
				return err
			}
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

// queueDeletion tombstones a guest passbridge invited but no user records,
// and queues its deletion (by id).
func (h inviteHandler) queueDeletion(ctx context.Context, userID, guestID, reason string) error {
	now := h.clock.Now()
	if err := h.store.AddTombstone(ctx, Tombstone{GuestID: guestID, UserID: userID, At: now}); err != nil {
		return fmt.Errorf("tombstone guest: %w", err)
	}
	dj, err := deleteGuestJob(userID, guestID, reason, now)
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
