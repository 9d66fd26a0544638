package connector

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Job payloads.
type invitePayload struct {
	// ReplaceGuestID is the guest of an earlier onboarding of the same user,
	// deleted before the new invitation so that Graph does not hand it back.
	ReplaceGuestID string `json:"replaceGuestId,omitempty"`
}

type deleteGuestPayload struct {
	GuestID string `json:"guestId,omitempty"`
	Email   string `json:"email,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

type seedPayload struct {
	// Reprovision removes and re-adds the membership so that SEED sees a new
	// provisioning request.
	Reprovision bool `json:"reprovision,omitempty"`
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

func newJob(kind JobKind, subject string, payload any, now time.Time) Job {
	j := Job{Kind: kind, Subject: subject, RunAt: now, Created: now}
	if payload != nil {
		j.Payload = mustJSON(payload)
	}
	return j
}

func deleteGuestJob(subject, guestID, email, reason string, now time.Time) Job {
	return newJob(JobDeleteGuest, subject, deleteGuestPayload{GuestID: guestID, Email: email, Reason: reason}, now)
}

// newID returns a random UUID (v4). The service names new users itself so
// that the jobs and events committed with them carry their subject.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// onCreate decides the facts, jobs and events of a new user.
func (s *Service) onCreate(_ context.Context, actor string, u *User) (Change, error) {
	field, email, err := inviteAddress(*u)
	if err != nil {
		return Change{}, err
	}
	if err := s.opts.Policy.CheckSignUp(field, email, u.MailboxType); err != nil {
		return Change{}, err
	}
	if u.ID == "" {
		u.ID = newID()
	}
	now := s.clock.Now()
	u.Onboarding = Onboarding{InviteEmail: normEmail(email)}
	if u.SeedRequested {
		requestSeed(&u.Onboarding, now, s.opts)
	}
	ch := finish(User{ID: u.ID}, u, actor, now, s.opts)
	ch.Jobs = append(ch.Jobs, newJob(JobInvite, u.ID, nil, now))
	ch.Events = append([]Event{{Subject: u.ID, Type: "user.created", Actor: actor, At: now,
		Data: eventData(map[string]any{"userName": u.UserName, "seedRequested": u.SeedRequested})}}, ch.Events...)
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
func (s *Service) probeIntent(u User, edit func(u *User) error) (intent, error) {
	now := s.clock.Now()
	reactivatable := s.reactivatable(u, now)
	seedExpired := DeriveSeed(u.Onboarding.Seed, now) == SeedExpired && u.SeedRequested
	if !reactivatable && !seedExpired {
		return intent{}, nil
	}
	probe := u
	probe.Emails = append([]string(nil), u.Emails...)
	probe.Doc = append(json.RawMessage(nil), u.Doc...)
	if reactivatable {
		probe.Active = false
	}
	if seedExpired {
		probe.SeedRequested = false
	}
	if err := edit(&probe); err != nil {
		return intent{}, err
	}
	return intent{activate: reactivatable && probe.Active, requestSeed: seedExpired && probe.SeedRequested}, nil
}

// reactivatable reports whether activating u starts a new onboarding: it
// expired, failed, or lost its guest.
func (s *Service) reactivatable(u User, now time.Time) bool {
	o := u.Onboarding
	return o.ExpiredAt != nil || o.Failed || o.GuestGone || deadlinePassed(o, now)
}

// onUpdate reacts to a client's change of a stored user.
func (s *Service) onUpdate(_ context.Context, actor string, old User, u *User, in intent) (Change, error) {
	now := s.clock.Now()
	field, email, err := inviteAddress(*u)
	if err != nil {
		return Change{}, err
	}
	email = normEmail(email)
	o := &u.Onboarding
	addrChanged := email != old.Onboarding.InviteEmail
	if addrChanged || !strings.EqualFold(u.MailboxType, old.MailboxType) {
		if err := s.opts.Policy.CheckSignUp(field, email, u.MailboxType); err != nil {
			return Change{}, err
		}
	}

	var ch Change
	reason := ""
	switch {
	case u.Active && (in.activate || (!old.Active && s.reactivatable(old, now))):
		reason = "reactivated"
	case addrChanged && o.InvitedAt != nil && o.OnboardedAt == nil:
		// The guest's sign-in is the old address: a new invitation is the
		// only way to move an unfinished onboarding to the new one.
		reason = "addressChanged"
	}
	switch {
	case reason != "":
		o.InviteEmail = email
		ch.Jobs = append(ch.Jobs, s.resetForReinvite(u, now))
		ch.Events = append(ch.Events, Event{Subject: u.ID, Type: "onboarding.reinvite", Actor: actor, At: now,
			Data: eventData(map[string]any{"reason": reason})})
	case addrChanged && o.InvitedAt == nil:
		o.InviteEmail = email // the queued invitation reads it when it runs
	case addrChanged:
		// TODO(engine): moving an onboarded guest to a new sign-in address
		// (Graph: PATCH mail/otherMails or a new invitation with
		// resetRedemption); recorded, not applied.
		ch.Events = append(ch.Events, Event{Subject: u.ID, Type: "onboarding.addressChangeIgnored", Actor: actor, At: now})
	case u.Active && !old.Active:
		if o.InvitedAt == nil {
			ch.Jobs = append(ch.Jobs, newJob(JobInvite, u.ID, nil, now))
		} else {
			ch.Jobs = append(ch.Jobs, newJob(JobEnable, u.ID, nil, now))
		}
	case !u.Active && old.Active:
		ch.Jobs = append(ch.Jobs, newJob(JobDisable, u.ID, nil, now))
	}
	if old.Active != u.Active {
		typ := map[bool]string{true: "user.activated", false: "user.deactivated"}[u.Active]
		ch.Events = append(ch.Events, Event{Subject: u.ID, Type: typ, Actor: actor, At: now})
	}

	switch {
	case u.SeedRequested && (!old.SeedRequested || in.requestSeed):
		reprovision := o.Seed.ProvisionedAt != nil
		requestSeed(o, now, s.opts)
		if o.GuestID != "" && reason == "" {
			ch.Jobs = append(ch.Jobs, newJob(JobSeedProvision, u.ID, seedPayload{Reprovision: reprovision}, now))
		}
	case !u.SeedRequested && old.SeedRequested:
		// TODO(engine): remove the SEED group membership on withdrawal once
		// SEED's owners say whether that deprovisions the device.
		o.Seed.Requested = false
	}

	fc := finish(old, u, actor, now, s.opts)
	ch.Jobs = append(ch.Jobs, fc.Jobs...)
	ch.Events = append(ch.Events, fc.Events...)
	return ch, nil
}

// resetForReinvite clears the facts of the user's current onboarding (the
// event log keeps them) and returns the invitation job of the new one, which
// deletes the old guest first.
func (s *Service) resetForReinvite(u *User, now time.Time) Job {
	old := u.Onboarding
	replace := ""
	if old.GuestID != "" && !old.GuestGone {
		replace = old.GuestID
	}
	u.Onboarding = Onboarding{InviteEmail: old.InviteEmail, Seed: old.Seed}
	if u.SeedRequested {
		requestSeed(&u.Onboarding, now, s.opts) // a new guest is provisioned anew
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
func (s *Service) onDelete(_ context.Context, actor string, u User) Change {
	now := s.clock.Now()
	ch := Change{Events: []Event{{Subject: u.ID, Type: "user.deleted", Actor: actor, At: now,
		Data: eventData(map[string]any{"guestId": u.Onboarding.GuestID, "state": u.Onboarding.State})}}}
	if !u.Onboarding.GuestGone {
		// Without a guest id yet an invitation may be in flight: the job
		// deletes by address, unless another user holds it by then.
		ch.Jobs = append(ch.Jobs, deleteGuestJob(u.ID, u.Onboarding.GuestID, u.Onboarding.InviteEmail, "deleted", now))
	}
	return ch
}

// resignUp handles a sign-up whose userName is taken: a person whose earlier
// onboarding expired or failed signs up again, which starts a new onboarding
// on the existing resource. Anyone else gets the conflict.
func (s *Service) resignUp(ctx context.Context, actor string, u User, conflict error) (User, error) {
	page, err := s.store.ListUsers(ctx, Query{Filter: Eq(AttrUserName, u.UserName), Count: 1})
	if err != nil || len(page.Items) == 0 {
		return User{}, conflict
	}
	existing := page.Items[0]
	if !s.reactivatable(existing, s.clock.Now()) {
		return User{}, conflict
	}
	updated, err := s.store.UpdateUser(ctx, existing.ID, func(cur *User) (Change, error) {
		now := s.clock.Now()
		if !s.reactivatable(*cur, now) {
			return Change{}, conflict
		}
		old := *cur
		cur.UserName, cur.ExternalID, cur.Emails, cur.Doc = u.UserName, u.ExternalID, u.Emails, u.Doc
		cur.SeedRequested, cur.MailboxType = u.SeedRequested, u.MailboxType
		cur.Active = true
		cur.Modified = now
		ch, err := s.onUpdate(ctx, actor, old, cur, intent{activate: true, requestSeed: u.SeedRequested})
		if err != nil {
			return Change{}, err
		}
		ch.Events = append([]Event{{Subject: cur.ID, Type: "user.signedUpAgain", Actor: actor, At: now}}, ch.Events...)
		return ch, nil
	})
	if err != nil {
		if errors.Is(err, ErrAlreadyExists) {
			return User{}, conflict
		}
		return User{}, fmt.Errorf("sign up again %s: %w", existing.ID, err)
	}
	s.log.InfoContext(ctx, "user signed up again", "user", updated.ID, "actor", actor)
	return updated, nil
}

// onGroupChange queues the mirroring of a created or changed group.
func (s *Service) onGroupChange(actor string, old, g *Group) Change {
	now := s.clock.Now()
	typ := "group.updated"
	if old == nil {
		typ = "group.created"
		if g.ID == "" {
			g.ID = newID()
		}
	}
	var removed []string
	if old != nil {
		for _, m := range old.Members {
			if !containsString(g.Members, m) {
				removed = append(removed, m)
			}
		}
	}
	return Change{
		Jobs: []Job{newJob(JobGroupSync, g.ID, groupSyncPayload{Removed: removed}, now)},
		Events: []Event{{Subject: g.ID, Type: typ, Actor: actor, At: now,
			Data: eventData(map[string]any{"members": len(g.Members), "removed": removed})}},
	}
}

func (s *Service) onGroupDelete(actor string, g Group) Change {
	now := s.clock.Now()
	// TODO(engine): delete (or empty) a group passbridge created in Entra;
	// a mapped group belongs to someone else and is left alone.
	return Change{Events: []Event{{Subject: g.ID, Type: "group.deleted", Actor: actor, At: now,
		Data: eventData(map[string]any{"entraId": g.EntraID})}}}
}

// groupSyncPayload carries members removed by the change: the job cannot
// learn them from the group's current state.
type groupSyncPayload struct {
	Removed []string `json:"removed,omitempty"`
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
