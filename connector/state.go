package connector

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Seed states (Seed.State, SCIM seedState).
const (
	SeedRequested   = "requested"
	SeedProvisioned = "provisioned"
	SeedExpired     = "expired"
	SeedWithdrawn   = "withdrawn"
)

// Derive returns the furthest onboarding state the user's facts support at
// now. It is a pure function: reconcile is level-triggered.
//
// Facts may arrive out of order, so a later fact implies the earlier ones: an
// accepted agreement or a registered MFA method can only come from a guest
// who redeemed. An onboarding that was never completed expires at ExpiresAt
// even before the guest is deleted (ExpiredAt records the termination).
//
// active=false is "disabled" only once nobody can sign in with the guest:
// the worker recorded Graph's confirmation (Disabled), the guest is gone, or
// there never was one. Until then the state stays what the other facts say
// and DeprovisionPending reports the pending disable.
func Derive(u User, now time.Time, agreements []Agreement) State {
	o := u.Onboarding
	switch {
	case !u.Active && (o.Disabled || o.GuestGone || o.GuestID == ""):
		return StateDisabled
	case o.Failed:
		return StateFailed
	case o.Conflict:
		return StateConflict
	case o.ExpiredAt != nil:
		return StateExpired
	case o.TerminatedAt != nil:
		return StateTerminated
	case o.InactiveAt != nil:
		return StateInactive
	case o.InvitedAt == nil:
		return StatePending
	}
	mfa := o.MFARegisteredAt != nil
	if mfa && allAccepted(o, agreements) {
		return StateOnboarded
	}
	if deadlinePassed(o, now) {
		return StateExpired
	}
	switch {
	case mfa:
		return StateMFARegistered
	case o.RedeemedAt != nil || len(o.Agreements) > 0:
		return StateRedeemed
	}
	return StateInvited
}

// DeprovisionPending reports whether active=false is not yet in effect in
// the tenant: the user has a guest that Graph has not confirmed disabled.
// The worker's disable job closes it (it is never given up). A queued
// deletion of a terminated onboarding is counted by /metrics, not here.
func DeprovisionPending(u User) bool {
	o := u.Onboarding
	return !u.Active && o.GuestID != "" && !o.GuestGone && !o.Disabled
}

// deadlinePassed reports whether an onboarding never completed is past its
// validity. Once onboarded, a later requirement (an agreement that SEED
// adds) does not terminate the account, nor does the end of the validity
// while a lifecycleHold is set.
func deadlinePassed(o Onboarding, now time.Time) bool {
	return o.OnboardedAt == nil && o.ExpiresAt != nil && !now.Before(*o.ExpiresAt) && o.LifecycleHold == ""
}

func allAccepted(o Onboarding, agreements []Agreement) bool {
	for _, a := range agreements {
		if strings.EqualFold(a.RequiredWhen, "seed") && o.Seed.ProvisionedAt == nil {
			continue
		}
		if !hasAccepted(o, a) {
			return false
		}
	}
	return true
}

func hasAccepted(o Onboarding, a Agreement) bool {
	for _, acc := range o.Agreements {
		if acc.Name == a.Name || (a.ID != "" && strings.EqualFold(acc.ID, a.ID)) {
			return true
		}
	}
	return false
}

// DeriveSeed returns the SEED state of s at now.
func DeriveSeed(s Seed, now time.Time) string {
	switch {
	case s.ProvisionedAt != nil && s.ExpiresAt != nil && !now.Before(*s.ExpiresAt):
		return SeedExpired
	case s.ProvisionedAt != nil:
		return SeedProvisioned
	case s.Requested:
		return SeedRequested
	case s.RequestedAt != nil:
		return SeedWithdrawn
	}
	return ""
}

// settle brings the facts that follow from other facts and the clock up to
// date (termination at expiry, OnboardedAt, the SEED state, the stored
// state) and returns the jobs they need. Every writer of a user calls it, so
// the stored state never says "expired" without the guest's termination
// (disable now, deletion after lifecycle.deleteAfterTermination) queued.
func settle(u *User, now time.Time, opts Options) ([]Job, error) {
	o := &u.Onboarding
	var jobs []Job
	if u.Active && !o.Failed && o.ExpiredAt == nil && o.InvitedAt != nil &&
		Derive(*u, now, opts.Agreements) == StateExpired {
		t := now
		o.ExpiredAt = &t
		tj, err := terminate(u, now, opts)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, tj...)
	}
	lj, err := applyLifecycle(u, now, opts)
	if err != nil {
		return nil, err
	}
	jobs = append(jobs, lj...)
	st := Derive(*u, now, opts.Agreements)
	if st == StateOnboarded && o.OnboardedAt == nil {
		t := now
		o.OnboardedAt = &t
	}
	o.Seed.State = DeriveSeed(o.Seed, now)
	o.State = st
	o.LifecycleDueAt = lifecycleDue(*u, now, opts)
	return jobs, nil
}

// observation is what the reconciler learned about one guest in a pass; nil
// and false fields were not observed.
type observation struct {
	redeemedAt  *time.Time
	methodsRead bool
	methods     []string
	acceptances []AgreementAcceptance
	guestGone   bool
	// signInRead: signInActivity was read (lastSignIn nil: never signed in).
	signInRead bool
	lastSignIn *time.Time
}

func (ob observation) empty() bool {
	return ob.redeemedAt == nil && !ob.methodsRead && len(ob.acceptances) == 0 && !ob.guestGone && !ob.signInRead
}

// apply merges what was observed into the facts. It only adds facts: a fact
// once recorded is not withdrawn by a later, possibly stale, observation.
func (ob observation) apply(o *Onboarding, now time.Time) {
	if ob.redeemedAt != nil && o.RedeemedAt == nil {
		t := *ob.redeemedAt
		o.RedeemedAt = &t
	}
	if ob.methodsRead && o.MFARegisteredAt == nil {
		if mfa := mfaMethods(ob.methods); len(mfa) > 0 {
			t := now
			o.MFARegisteredAt = &t
			o.MFAMethods = mfa
		}
	}
	for _, a := range ob.acceptances {
		dup := false
		for _, have := range o.Agreements {
			if have.Name == a.Name {
				dup = true
				break
			}
		}
		if !dup {
			o.Agreements = append(o.Agreements, a)
		}
	}
	if ob.guestGone {
		o.GuestGone = true
	}
	ob.applySignIn(o, now)
}

// mfaMethods returns the MFA methods among a user's authentication methods:
// every method but the password, which /authentication/methods lists for
// every account.
func mfaMethods(methods []string) []string {
	var out []string
	for _, m := range methods {
		m = strings.TrimPrefix(m, "#microsoft.graph.")
		if m == "" || strings.EqualFold(m, "passwordAuthenticationMethod") {
			continue
		}
		out = append(out, m)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// matchAgreement finds the configured agreement an audit event is about: by
// the target id, and by display name when the id is not the agreement id
// (whether the log's Policy target carries the agreement id is not
// documented, so both are tried).
func matchAgreement(ev AuditEvent, agreements []Agreement) (Agreement, bool) {
	if ev.TargetID != "" {
		for _, a := range agreements {
			if a.ID != "" && strings.EqualFold(a.ID, ev.TargetID) {
				return a, true
			}
		}
	}
	if ev.TargetName != "" {
		for _, a := range agreements {
			if strings.EqualFold(strings.TrimSpace(a.Name), strings.TrimSpace(ev.TargetName)) {
				return a, true
			}
		}
	}
	return Agreement{}, false
}

// factEvents describes every change of facts from old to u as events for
// the log.
func factEvents(old Onboarding, u User, actor string, now time.Time) ([]Event, error) {
	n := u.Onboarding
	var (
		evs  []Event
		errs []error
	)
	add := func(typ string, data map[string]any) {
		ev, err := newEvent(u.ID, typ, actor, now, data)
		if err != nil {
			errs = append(errs, err)
			return
		}
		evs = append(evs, ev)
	}
	if old.InvitedAt != nil && n.InvitedAt == nil {
		add("onboarding.reset", map[string]any{"previous": old})
	}
	if n.InvitedAt != nil && (old.InvitedAt == nil || !old.InvitedAt.Equal(*n.InvitedAt)) {
		add("onboarding.invited", map[string]any{"guestId": n.GuestID, "invitedAt": n.InvitedAt, "expiresAt": n.ExpiresAt})
	}
	if n.RedeemedAt != nil && old.RedeemedAt == nil {
		add("onboarding.redeemed", map[string]any{"redeemedAt": n.RedeemedAt})
	}
	if n.MFARegisteredAt != nil && old.MFARegisteredAt == nil {
		add("onboarding.mfaRegistered", map[string]any{"mfaRegisteredAt": n.MFARegisteredAt, "methods": n.MFAMethods})
	}
	for _, a := range n.Agreements {
		if !slices.ContainsFunc(old.Agreements, func(o AgreementAcceptance) bool { return o.Name == a.Name }) {
			add("onboarding.agreementAccepted", map[string]any{"name": a.Name, "id": a.ID, "acceptedAt": a.AcceptedAt})
		}
	}
	if n.OnboardedAt != nil && old.OnboardedAt == nil {
		add("onboarding.onboarded", map[string]any{"onboardedAt": n.OnboardedAt})
	}
	if n.ExpiredAt != nil && old.ExpiredAt == nil {
		add("onboarding.expired", map[string]any{"expiresAt": n.ExpiresAt, "guestId": n.GuestID})
	}
	if n.Disabled != old.Disabled {
		add(map[bool]string{true: "onboarding.disabled", false: "onboarding.enabled"}[n.Disabled], map[string]any{"guestId": n.GuestID})
	}
	if n.GuestGone && !old.GuestGone {
		add("onboarding.guestDeleted", map[string]any{"guestId": n.GuestID})
	}
	if n.Failed && !old.Failed {
		add("onboarding.failed", map[string]any{"lastError": n.LastError})
	}
	if n.Seed.RequestedAt != nil && (old.Seed.RequestedAt == nil || !old.Seed.RequestedAt.Equal(*n.Seed.RequestedAt)) {
		add("seed.requested", map[string]any{"requestedAt": n.Seed.RequestedAt, "dueAt": n.Seed.DueAt})
	}
	if n.Seed.ProvisionedAt != nil && (old.Seed.ProvisionedAt == nil || !old.Seed.ProvisionedAt.Equal(*n.Seed.ProvisionedAt)) {
		add("seed.provisioned", map[string]any{"provisionedAt": n.Seed.ProvisionedAt, "expiresAt": n.Seed.ExpiresAt})
	}
	if n.Seed.State != old.Seed.State && (n.Seed.State == SeedExpired || n.Seed.State == SeedWithdrawn) {
		add("seed."+n.Seed.State, map[string]any{"expiresAt": n.Seed.ExpiresAt})
	}
	lifecycleEvents(old, n, add)
	if n.State != old.State {
		add("onboarding.state", map[string]any{"from": old.State, "to": n.State})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fact events of %s: %w", u.ID, err)
	}
	return evs, nil
}

// finish settles u after a change from old and returns what to commit with
// it: the jobs settling needs and an event for every change of facts.
func finish(old User, u *User, actor string, now time.Time, opts Options) (Change, error) {
	jobs, err := settle(u, now, opts)
	if err != nil {
		return Change{}, err
	}
	// passbridge's own invitation mail, when it sends them (job_mail.go).
	mj, err := invitationMail(old, u, now, opts)
	if err != nil {
		return Change{}, err
	}
	jobs = append(jobs, mj...)
	u.Modified = now // the facts are part of the resource (meta.lastModified)
	evs, err := factEvents(old.Onboarding, *u, actor, now)
	if err != nil {
		return Change{}, err
	}
	return Change{Jobs: jobs, Events: evs}, nil
}

// factsEqual reports whether two users' facts are the same (used to skip
// writes that would change nothing). They are compared as stored, as JSON;
// facts that cannot be encoded count as different, so the write goes ahead
// and its own encoding reports the error.
func factsEqual(a, b Onboarding) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && string(ja) == string(jb)
}
