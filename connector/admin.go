package connector

import (
	"context"
	"fmt"
	"strings"
)

// The operations an administrator starts from the console (package admin).
// Each commits, with the user, an event whose actor is the admin
// ("admin:<name>").

// Admin event types.
const (
	EventAdminResend      = "admin.resend"
	EventAdminRetry       = "admin.retry"
	EventAdminHoldSet     = "admin.holdSet"
	EventAdminHoldCleared = "admin.holdCleared"
)

// MaxHoldLength bounds a lifecycleHold reason.
const MaxHoldLength = 500

// ResendInvitation starts the invitation of an invited (not yet redeemed)
// user again: the old guest is deleted and a new invitation mailed (a new
// onboarding, so the validity starts again). A user whose invitation is
// still queued, or who has redeemed, is refused with an *InputError.
func (s *Service) ResendInvitation(ctx context.Context, actor, id string) (User, error) {
	return s.resend(ctx, actor, id, EventAdminResend)
}

// resend is the one rule of the console's resend and SCIM's
// resendInvitation (lifecycle_resend.go): typ names who asked.
func (s *Service) resend(ctx context.Context, actor, id, typ string) (User, error) {
	return s.adminReinvite(ctx, actor, id, typ, func(u User) error {
		o := u.Onboarding
		switch {
		case !u.Active:
			return &InputError{Field: "active", Detail: "the user is inactive (active=false): nothing to resend"}
		case o.InvitedAt == nil && !o.Failed && o.ExpiredAt == nil:
			return &InputError{Field: "onboardingState", Detail: "the invitation has not been sent yet (it is queued)"}
		case o.Failed || o.ExpiredAt != nil || o.GuestGone:
			return &InputError{Field: "onboardingState", Detail: fmt.Sprintf("the onboarding is %s: use retry", o.State)}
		case o.RedeemedAt != nil:
			return &InputError{Field: "onboardingState", Detail: "the invitation was already redeemed"}
		}
		return resendTooSoon(o, s.clock.Now(), s.opts)
	})
}

// RetryUser starts a new onboarding for a user whose onboarding failed
// (a permanent error, see LastError) or expired: the same as a SCIM client
// setting active=true again, started by an admin.
func (s *Service) RetryUser(ctx context.Context, actor, id string) (User, error) {
	return s.adminReinvite(ctx, actor, id, EventAdminRetry, func(u User) error {
		switch {
		case !u.Active:
			return &InputError{Field: "active", Detail: "the user is inactive (active=false): a SCIM client activates it"}
		case !reactivatable(u, s.clock.Now()):
			return &InputError{Field: "onboardingState", Detail: fmt.Sprintf("the onboarding is %s, not failed or expired: nothing to retry", u.Onboarding.State)}
		}
		return nil
	})
}

func (s *Service) adminReinvite(ctx context.Context, actor, id, typ string, check func(User) error) (User, error) {
	updated, err := s.store.UpdateUser(ctx, id, func(u *User) (Change, error) {
		if err := check(*u); err != nil {
			return Change{}, err
		}
		now := s.clock.Now()
		old := *u
		prev := u.Onboarding
		j, err := resetForReinvite(s.opts, u, now)
		if err != nil {
			return Change{}, err
		}
		ev, err := newEvent(u.ID, typ, actor, now, map[string]any{"previousState": prev.State, "lastError": prev.LastError})
		if err != nil {
			return Change{}, err
		}
		re, err := newEvent(u.ID, "onboarding.reinvite", actor, now, map[string]any{"reason": typ})
		if err != nil {
			return Change{}, err
		}
		ch := Change{Jobs: []Job{j}, Events: []Event{ev, re}}
		t := now
		u.Onboarding.StatusChangedAt = &t // an admin's change: lifecycle.graceAfterChange
		fc, err := finish(old, u, actor, now, s.opts)
		if err != nil {
			return Change{}, err
		}
		ch.Jobs = append(ch.Jobs, fc.Jobs...)
		ch.Events = append(ch.Events, fc.Events...)
		return ch, nil
	})
	if err != nil {
		return User{}, fmt.Errorf("%s %s: %w", typ, id, err)
	}
	s.log.InfoContext(ctx, "admin action", "action", typ, "user", id, "actor", actor)
	return updated, nil
}

// SetHold sets the user's lifecycleHold to reason, or clears it when reason
// is empty.
func (s *Service) SetHold(ctx context.Context, actor, id, reason string) (User, error) {
	reason = strings.TrimSpace(reason)
	if len(reason) > MaxHoldLength {
		return User{}, &InputError{Field: "lifecycleHold", Detail: fmt.Sprintf("at most %d characters", MaxHoldLength)}
	}
	updated, err := s.store.UpdateUser(ctx, id, func(u *User) (Change, error) {
		now := s.clock.Now()
		old, prev := *u, cloneOnboarding(u.Onboarding)
		o := &u.Onboarding
		typ, data := EventAdminHoldSet, map[string]any{"lifecycleHold": reason}
		if reason == "" {
			typ, data = EventAdminHoldCleared, map[string]any{"previous": o.LifecycleHold}
			o.LifecycleHold, o.HoldBy, o.HoldAt = "", "", nil
		} else {
			t := now
			o.LifecycleHold, o.HoldBy, o.HoldAt = reason, actor, &t
		}
		ev, err := newEvent(u.ID, typ, actor, now, data)
		if err != nil {
			return Change{}, err
		}
		// Settled again: the lifecycle rules' due time depends on the hold.
		old.Onboarding = prev
		ch, err := finish(old, u, actor, now, s.opts)
		if err != nil {
			return Change{}, err
		}
		ch.Events = append([]Event{ev}, ch.Events...)
		return ch, nil
	})
	if err != nil {
		return User{}, fmt.Errorf("set hold %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "admin action", "action", "hold", "user", id, "actor", actor, "set", reason != "")
	return updated, nil
}

// PolicyVerdict is the sign-up policy's answer for one address, nothing
// stored: Allowed, or the attribute refused and why.
type PolicyVerdict struct {
	Allowed bool   `json:"allowed"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason"`
}

// CheckPolicy applies the sign-up policy to an address and a declared
// mailbox type, as a SCIM create would, without storing anything.
func (s *Service) CheckPolicy(email, mailboxType string) PolicyVerdict {
	err := s.opts.Policy.CheckSignUp(FieldEmails, strings.TrimSpace(email), mailboxType)
	if err == nil {
		return PolicyVerdict{Allowed: true, Reason: s.opts.Policy.allowedWhy(email)}
	}
	if ie, ok := IsInputError(err); ok {
		return PolicyVerdict{Field: ie.Field, Reason: ie.Detail}
	}
	return PolicyVerdict{Reason: err.Error()}
}

// allowedWhy says why an accepted address is accepted.
func (p PolicyOptions) allowedWhy(email string) string {
	if len(p.AllowedDomains) == 0 {
		return "no policy.allowedDomains configured: every well-formed address not blocked is accepted"
	}
	domain := strings.ToLower(email[strings.LastIndexByte(email, '@')+1:])
	for _, a := range p.AllowedDomains {
		if domainMatches(a, domain) {
			return fmt.Sprintf("%s matches the organisational domain %s", domain, a)
		}
	}
	return "accepted"
}
