package connector

import (
	"context"
	"fmt"
	"time"
)

// Resend on request: SCIM's PATCH resendInvitation=true and the console's
// resend share Service.ResendInvitation and this rule.

// resendTooSoon refuses a resend within invitation.resendMinInterval of the
// last invitation (a resend is a new invitation: it restarts the count),
// saying when one is allowed. Nothing is sent.
func resendTooSoon(o Onboarding, now time.Time, opts Options) error {
	d := opts.Lifecycle.ResendMinInterval
	if d <= 0 || o.InvitedAt == nil {
		return nil
	}
	at := o.InvitedAt.Add(d)
	if now.Before(at) {
		return &InputError{Field: "resendInvitation", Detail: fmt.Sprintf(
			"too soon: the last invitation was sent at %s; a resend is allowed from %s (invitation.resendMinInterval %s)",
			o.InvitedAt.UTC().Format(time.RFC3339), ceilSecond(at).Format(time.RFC3339), d)}
	}
	return nil
}

// EventResendRequested is the event of a resend a SCIM client asked for
// (PATCH resendInvitation=true); the console's is EventAdminResend.
const EventResendRequested = "onboarding.resendRequested"

// RequestResend is SCIM's resendInvitation=true: the console's resend rule
// (ResendInvitation), refused within invitation.resendMinInterval.
func (s *Service) RequestResend(ctx context.Context, actor, id string) (User, error) {
	return s.resend(ctx, actor, id, EventResendRequested)
}

// ResendRefusal says why a resend of u would be refused now (nil: it would
// go ahead): the checks of ResendInvitation, without reading or writing.
func (s *Service) ResendRefusal(u User) error {
	o := u.Onboarding
	switch {
	case !u.Active:
		return &InputError{Field: "resendInvitation", Detail: "the user is inactive (active=false): nothing to resend"}
	case o.InvitedAt == nil && !o.Failed && o.ExpiredAt == nil:
		return &InputError{Field: "resendInvitation", Detail: "the invitation has not been sent yet (it is queued)"}
	case o.Failed || o.ExpiredAt != nil || o.GuestGone:
		return &InputError{Field: "resendInvitation", Detail: fmt.Sprintf("the onboarding is %s: set active=true again to start a new one", o.State)}
	case o.RedeemedAt != nil:
		return &InputError{Field: "resendInvitation", Detail: "the invitation was already redeemed"}
	}
	return resendTooSoon(o, s.clock.Now(), s.opts)
}

// CheckResend reports whether ResendInvitation would be refused now,
// without changing anything (SCIM checks a PATCH's resendInvitation before
// its other operations are stored).
func (s *Service) CheckResend(ctx context.Context, id string) error {
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return fmt.Errorf("resend %s: %w", id, err)
	}
	return s.ResendRefusal(u)
}

// ceilSecond rounds t up to the second (a time said in RFC 3339 without
// fractions must not be before t).
func ceilSecond(t time.Time) time.Time {
	d := t.UTC().Truncate(time.Second)
	if d.Before(t) {
		d = d.Add(time.Second)
	}
	return d
}

// graphReminder sends a reminder without mail.smtp: the recorded guest is
// invited again with Microsoft's mail (Graph answers with the same guest).
// The record is kept as for a mail, so one reminder is sent once.
func (h mailHandler) graphReminder(ctx context.Context, j Job, p mailPayload) error {
	u, rec, _, err := h.claim(ctx, j, p)
	if err != nil || rec == nil {
		return err
	}
	o := u.Onboarding
	inv := h.opts.Invitation
	inv.Email, inv.DisplayName, inv.SendEmail = o.InviteEmail, displayName(u), true
	res, err := h.dir.Invite(ctx, inv)
	if err != nil {
		err = fmt.Errorf("re-invite through Graph (reminder): %w", err)
		h.refused(ctx, u.ID, j, p, err)
		return err
	}
	if res.GuestID != o.GuestID {
		// Graph mailed whoever holds the address now; say so, do not retry.
		h.log.WarnContext(ctx, "reminder: Graph answered with another guest", "user", u.ID, "guest", res.GuestID, "recorded", o.GuestID)
	}
	return h.sent(ctx, u.ID, j, p)
}
