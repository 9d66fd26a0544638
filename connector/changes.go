package connector

import (
	"encoding/json"
	"strings"
	"time"
)

// What a client's change means: the facts, jobs and events the Service
// commits with each create, update and delete. These are pure functions of
// the options, the clock's reading and the resources; the Service (service.go)
// runs them inside the store's compare-and-swap.

// onCreate decides the facts, jobs and events of a new user.
func onCreate(opts Options, now time.Time, actor string, u *User) (Change, error) {
	field, email, err := inviteAddress(*u)
	if err != nil {
		return Change{}, err
	}
	if err := opts.Policy.CheckSignUp(field, email, u.MailboxType); err != nil {
		return Change{}, err
	}
	if u.ID == "" {
		if u.ID, err = newID(); err != nil {
			return Change{}, err
		}
	}
	if err := CheckAccountType(u.Onboarding.AccountType); err != nil {
		return Change{}, err
	}
	u.Onboarding = Onboarding{InviteEmail: normEmail(email), AccountType: u.Onboarding.AccountType,
		LifecycleHold: u.Onboarding.LifecycleHold}
	if u.Onboarding.LifecycleHold != "" {
		t := now
		u.Onboarding.HoldBy, u.Onboarding.HoldAt = actor, &t
	}
	if u.SeedRequested {
		requestSeed(&u.Onboarding, now, opts)
	}
	ch, err := finish(User{ID: u.ID}, u, actor, now, opts)
	if err != nil {
		return Change{}, err
	}
	ch.Jobs = append(ch.Jobs, plainJob(JobInvite, u.ID, now))
	ev, err := newEvent(u.ID, "user.created", actor, now, map[string]any{"userName": u.UserName, "seedRequested": u.SeedRequested})
	if err != nil {
		return Change{}, err
	}
	ch.Events = append([]Event{ev}, ch.Events...)
	return ch, nil
}

// intent is what a client's edit meant beyond the values it left: whether it
// set active or seedRequested to true although they already were.
type intent struct {
	activate    bool // active=true sent to an expired or failed user
	requestSeed bool // seedRequested=true sent while SEED had expired
}

// probeIntent runs edit on a copy of u that shows the expired onboarding as
// inactive (and an expired SEED as not requested): if the edit sets the value
// back to true, the client asked again ("PATCH active=true" on an expired
// user, or a new sign-up by PUT). Edits may run more than once and have no
// side effects, which makes the probe safe.
func probeIntent(now time.Time, u User, edit func(u *User) error) (intent, error) {
	canReactivate := reactivatable(u, now)
	seedExpired := DeriveSeed(u.Onboarding.Seed, now) == SeedExpired && u.SeedRequested
	if !canReactivate && !seedExpired {
		return intent{}, nil
	}
	probe := u
	probe.Emails = append([]string(nil), u.Emails...)
	probe.Doc = append(json.RawMessage(nil), u.Doc...)
	if canReactivate {
		probe.Active = false
	}
	if seedExpired {
		probe.SeedRequested = false
	}
	if err := edit(&probe); err != nil {
		return intent{}, err
	}
	return intent{activate: canReactivate && probe.Active, requestSeed: seedExpired && probe.SeedRequested}, nil
}

// reactivatable reports whether activating u starts a new onboarding: it
// expired, failed, or lost its guest.
func reactivatable(u User, now time.Time) bool {
	o := u.Onboarding
	// A conflict is re-checked by a new onboarding (active=true again).
	return o.ExpiredAt != nil || o.Failed || o.Conflict || o.GuestGone || deadlinePassed(o, now)
}

// onUpdate reacts to a client's change of a stored user.
func onUpdate(opts Options, now time.Time, actor string, old User, u *User, in intent) (Change, error) {
	field, email, err := inviteAddress(*u)
	if err != nil {
		return Change{}, err
	}
	email = normEmail(email)
	o := &u.Onboarding
	addrChanged := email != old.Onboarding.InviteEmail
	if addrChanged || !strings.EqualFold(u.MailboxType, old.MailboxType) {
		if err := opts.Policy.CheckSignUp(field, email, u.MailboxType); err != nil {
			return Change{}, err
		}
	}

	var ch Change
	event := func(typ string, data map[string]any) error {
		ev, err := newEvent(u.ID, typ, actor, now, data)
		ch.Events = append(ch.Events, ev)
		return err
	}
	if err := lifecycleUpdate(now, actor, old, u, event); err != nil {
		return Change{}, err
	}
	reason := ""
	switch {
	case u.Active && (in.activate || (!old.Active && reactivatable(old, now))):
		reason = "reactivated"
	case addrChanged && o.Conflict:
		// The new address may be free: check it with a new onboarding.
		reason = "addressChanged"
	case addrChanged && o.InvitedAt != nil && o.OnboardedAt == nil:
		// The guest's sign-in is the old address: a new invitation is the
		// only way to move an unfinished onboarding to the new one.
		reason = "addressChanged"
	}
	switch {
	case reason != "":
		if g := o.GuestID; g != "" && !o.GuestGone {
			// The new invitation deletes the old guest first; meanwhile it
			// is nobody's to adopt.
			ch.Tombstones = append(ch.Tombstones, Tombstone{GuestID: g, UserID: u.ID, At: now})
		}
		o.InviteEmail = email
		j, err := resetForReinvite(opts, u, now)
		if err != nil {
			return Change{}, err
		}
		ch.Jobs = append(ch.Jobs, j)
		if err := event("onboarding.reinvite", map[string]any{"reason": reason}); err != nil {
			return Change{}, err
		}
	case addrChanged && o.InvitedAt == nil:
		o.InviteEmail = email // the queued invitation reads it when it runs
	case addrChanged:
		// TODO(engine): moving an onboarded guest to a new sign-in address
		// (Graph: PATCH mail/otherMails or a new invitation with
		// resetRedemption); recorded, not applied.
		ch.Events = append(ch.Events, Event{Subject: u.ID, Type: "onboarding.addressChangeIgnored", Actor: actor, At: now})
	case u.Active && !old.Active:
		if o.InvitedAt == nil {
			ch.Jobs = append(ch.Jobs, plainJob(JobInvite, u.ID, now))
		} else {
			ch.Jobs = append(ch.Jobs, plainJob(JobEnable, u.ID, now))
		}
	case !u.Active && old.Active:
		ch.Jobs = append(ch.Jobs, plainJob(JobDisable, u.ID, now))
	}
	if old.Active != u.Active {
		typ := map[bool]string{true: "user.activated", false: "user.deactivated"}[u.Active]
		ch.Events = append(ch.Events, Event{Subject: u.ID, Type: typ, Actor: actor, At: now})
	}

	switch {
	case u.SeedRequested && (!old.SeedRequested || in.requestSeed):
		reprovision := o.Seed.ProvisionedAt != nil
		requestSeed(o, now, opts)
		if o.GuestID != "" && reason == "" {
			j, err := newJob(JobSeedProvision, u.ID, seedPayload{Reprovision: reprovision}, now)
			if err != nil {
				return Change{}, err
			}
			ch.Jobs = append(ch.Jobs, j)
		}
	case !u.SeedRequested && old.SeedRequested:
		// TODO(engine): remove the SEED group membership on withdrawal once
		// SEED's owners say whether that deprovisions the device.
		o.Seed.Requested = false
	}

	fc, err := finish(old, u, actor, now, opts)
	if err != nil {
		return Change{}, err
	}
	ch.Jobs = append(ch.Jobs, fc.Jobs...)
	ch.Events = append(ch.Events, fc.Events...)
	return ch, nil
}

// resetForReinvite clears the facts of the user's current onboarding (the
// event log keeps them) and returns the invitation job of the new one, which
// deletes the old guest first.
func resetForReinvite(opts Options, u *User, now time.Time) (Job, error) {
	old := u.Onboarding
	replace := ""
	if old.GuestID != "" && !old.GuestGone {
		replace = old.GuestID
	}
	u.Onboarding = Onboarding{InviteEmail: old.InviteEmail, Seed: old.Seed}
	u.Onboarding.LifecycleHold, u.Onboarding.HoldBy, u.Onboarding.HoldAt = old.LifecycleHold, old.HoldBy, old.HoldAt
	u.Onboarding.AccountType, u.Onboarding.StatusChangedAt = old.AccountType, old.StatusChangedAt
	if u.SeedRequested {
		requestSeed(&u.Onboarding, now, opts) // a new guest is provisioned anew
	}
	return newJob(JobInvite, u.ID, invitePayload{ReplaceGuestID: replace}, now)
}

// requestSeed records a (new) SEED request: due in DueBusinessDays business
// days, provisioning facts of an earlier request cleared.
func requestSeed(o *Onboarding, now time.Time, opts Options) {
	t := now
	due := AddBusinessDays(now, opts.Seed.DueBusinessDays, opts.Seed.Holidays, opts.Seed.Location).UTC()
	o.Seed = Seed{Requested: true, RequestedAt: &t, DueAt: &due}
}

// onDelete queues the deletion of the user's guest.
func onDelete(now time.Time, actor string, u User) (Change, error) {
	ev, err := newEvent(u.ID, "user.deleted", actor, now, map[string]any{"guestId": u.Onboarding.GuestID, "state": u.Onboarding.State})
	if err != nil {
		return Change{}, err
	}
	ch := Change{Events: []Event{ev}}
	if g := u.Onboarding.GuestID; g != "" && !u.Onboarding.GuestGone {
		// Only the recorded guest is deleted, never an address looked up
		// later. Without a guest id an invitation may be in flight: its
		// handler finds the user gone and queues the deletion itself. The
		// tombstone stays until Graph confirmed.
		j, err := deleteGuestJob(u.ID, g, "deleted", now)
		if err != nil {
			return Change{}, err
		}
		ch.Jobs = append(ch.Jobs, j)
		ch.Tombstones = append(ch.Tombstones, Tombstone{GuestID: g, UserID: u.ID, At: now})
	}
	return ch, nil
}

// onGroupChange queues the mirroring of a created or changed group: one
// groupRemoveMember job per member removed, then the groupSync job that adds
// the members. Jobs of one subject run oldest first, so the removals run
// before the adds, each on its own.
func onGroupChange(now time.Time, actor string, old, g *Group) (Change, error) {
	typ := "group.updated"
	if old == nil {
		typ = "group.created"
		if g.ID == "" {
			id, err := newID()
			if err != nil {
				return Change{}, err
			}
			g.ID = id
		}
	}
	var (
		removed []string
		jobs    []Job
	)
	if old != nil {
		for _, m := range old.Members {
			if !containsString(g.Members, m) {
				removed = append(removed, m)
				j, err := newJob(JobGroupRemoveMember, g.ID, groupRemoveMemberPayload{EntraID: old.EntraID, UserID: m}, now)
				if err != nil {
					return Change{}, err
				}
				jobs = append(jobs, j)
			}
		}
	}
	j, err := newJob(JobGroupSync, g.ID, groupSyncPayload{Client: actor}, now)
	if err != nil {
		return Change{}, err
	}
	jobs = append(jobs, j)
	ev, err := newEvent(g.ID, typ, actor, now, map[string]any{"members": len(g.Members), "removed": removed})
	if err != nil {
		return Change{}, err
	}
	return Change{Jobs: jobs, Events: []Event{ev}}, nil
}

// onGroupDelete queues what a deleted group leaves to do in the tenant: the
// deletion of the Entra group passbridge created, or, for a mapped group
// (someone else's), the removal of passbridge's guests only, each its own
// job. guests are the members' guest ids as read before the delete; the
// jobs carry them, and the Entra id, since the group's row is gone.
func onGroupDelete(now time.Time, actor string, g Group, guests map[string]string) (Change, error) {
	var jobs []Job
	switch {
	case g.EntraID == "":
		// Not mirrored: a sync job in flight deletes what it creates
		// (groupSyncHandler.mirror).
	case g.EntraOrigin == GroupCreated:
		j, err := newJob(JobGroupDelete, g.ID, groupDeletePayload{EntraID: g.EntraID}, now)
		if err != nil {
			return Change{}, err
		}
		jobs = append(jobs, j)
	default:
		for _, m := range g.Members {
			j, err := newJob(JobGroupRemoveMember, g.ID, groupRemoveMemberPayload{
				EntraID: g.EntraID, UserID: m, GuestID: guests[m], GroupDeleted: true}, now)
			if err != nil {
				return Change{}, err
			}
			jobs = append(jobs, j)
		}
	}
	ev, err := newEvent(g.ID, "group.deleted", actor, now, map[string]any{
		"entraId": g.EntraID, "origin": g.EntraOrigin, "members": len(g.Members), "jobs": len(jobs)})
	if err != nil {
		return Change{}, err
	}
	return Change{Jobs: jobs, Events: []Event{ev}}, nil
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
