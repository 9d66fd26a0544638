package connector

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// passbridge's own mails (ARCHITECTURE.md, "The lifecycle after sign-up").
//
// A mail is a JobMail job whose payload names a template and an event key;
// Onboarding.Mail[event] is its delivery record. Not sending one event
// twice rests on that record, written compare-and-swap around the SMTP
// hand-over:
//
//   - queued: the record is committed with the job (queueMail);
//   - claimed: the first job to run takes it (MailRecord.Job), so a
//     duplicated job for the same event finds it held and sends nothing;
//   - sending: SendingAt is set before the mail is handed to the server;
//   - refused: an SMTP (or Graph) error clears SendingAt again: nothing was
//     accepted, so the retry (with backoff) sends;
//   - sent: SentAt is set; every later job for the event is a no-op.
//
// An attempt that finds SendingAt still set follows one that ended without
// an answer: a crash mid-send, or a mail accepted whose recording failed.
// Whether the server took the mail cannot be known. passbridge then sends
// once more rather than leave the person without the mail (an invitation
// that never arrives stalls the onboarding for good), but not silently:
// the record says Uncertain, the event log gets "mail.uncertain", and the
// copy carries the same Message-ID (derived from user and event), by which
// a receiving mail system or client drops a duplicate.
//
// A redeem link is a bearer link: the invitation and reminder mails ask
// Graph for a fresh one when they are sent (a repeated invitation without
// Microsoft's mail returns the same guest and a new link), put it in the
// mail and nowhere else: not in the payload, the record, an event or a log.

// Mail templates (the mail package's template names).
const (
	MailInvitation        = "invitation"
	MailReminder          = "reminder"
	MailTerminationNotice = "terminationNotice"
	MailTerminated        = "terminated"
	MailInactivityNotice  = "inactivityNotice"
	MailDisabled          = "disabled"
)

// MailMessage is one mail for a Mailer to render and send. Its fields are
// those of mail.Message, so that one converts to the other.
type MailMessage struct {
	Template string
	To       string
	ToName   string
	// UserID and Event name the occasion; the Message-ID is derived from
	// them, the same for every attempt.
	UserID string
	Event  string
	// Data are the template's values (DisplayName, RedeemURL, ExpiresAt …).
	Data map[string]string
}

// Mailer sends one mail (the mail package over SMTP; an in-memory one in
// the demo). An error that has a Permanent() bool method returning true is
// a refusal retrying cannot fix.
type Mailer interface {
	Send(ctx context.Context, m MailMessage) error
}

// MailsInvitations reports whether passbridge mails invitations itself:
// a Mailer is configured and Graph is told not to mail them.
func (o Options) MailsInvitations() bool { return o.Mailer != nil && !o.Invitation.SendEmail }

// needsRedeemLink says which templates carry a fresh redeem link.
func needsRedeemLink(template string) bool {
	return template == MailInvitation || template == MailReminder
}

// InvitationMailEvent is the event key of the invitation mail of an
// onboarding invited at invitedAt.
func InvitationMailEvent(invitedAt time.Time) string {
	return "invitation:" + invitedAt.UTC().Format(time.RFC3339Nano)
}

// queueMail records that template is to be mailed to u for event, and
// returns the job to commit with the change; ok is false when the event
// has a record already (queued or sent: nothing to do). Call it inside an
// update of u.
func queueMail(u *User, template, event string, now time.Time) (j Job, ok bool, err error) {
	o := &u.Onboarding
	if _, had := o.Mail[event]; had {
		return Job{}, false, nil
	}
	j, err = newJob(JobMail, u.ID, mailPayload{Template: template, UserID: u.ID, Event: event}, now)
	if err != nil {
		return Job{}, false, err
	}
	if o.Mail == nil {
		o.Mail = map[string]*MailRecord{}
	}
	o.Mail[event] = &MailRecord{Template: template, QueuedAt: now}
	return j, true, nil
}

// invitationMail queues the invitation mail when u has just been invited
// and passbridge mails invitations itself (finish calls it for every
// change, so whichever writer records the invitation queues its mail in the
// same commit).
func invitationMail(old User, u *User, now time.Time, opts Options) ([]Job, error) {
	o := u.Onboarding
	if !opts.MailsInvitations() || o.InvitedAt == nil || o.GuestID == "" || !u.Active {
		return nil, nil
	}
	if old.Onboarding.InvitedAt != nil && old.Onboarding.InvitedAt.Equal(*o.InvitedAt) {
		return nil, nil
	}
	j, ok, err := queueMail(u, MailInvitation, InvitationMailEvent(*o.InvitedAt), now)
	if err != nil || !ok {
		return nil, err
	}
	return []Job{j}, nil
}

// mailHandler runs JobMail.
type mailHandler struct {
	jobEnv
	dir    Inviter
	mailer Mailer
}

func (h mailHandler) handle(ctx context.Context, j Job) error {
	var p mailPayload
	if err := decode(j, &p); err != nil {
		return err
	}
	if h.mailer == nil && p.Template == MailReminder {
		return h.graphReminder(ctx, j, p)
	}
	if h.mailer == nil {
		return Terminal(errors.New("no mailer is configured (mail.smtp): the mail cannot be sent"))
	}
	if p.Template == "" || p.Event == "" {
		return Terminal(fmt.Errorf("job %d: mail payload without template or event", j.ID))
	}
	u, rec, uncertain, err := h.claim(ctx, j, p)
	if err != nil || rec == nil {
		return err
	}
	if uncertain {
		h.log.WarnContext(ctx, "mail: the previous attempt ended without an answer; sending again with the same Message-ID",
			"user", u.ID, "template", p.Template, "event", p.Event, "job", j.ID)
	}
	o := u.Onboarding
	msg := MailMessage{Template: p.Template, To: o.InviteEmail, ToName: displayName(u), UserID: u.ID, Event: p.Event,
		Data: h.mailData(u)}
	if msg.To == "" && len(u.Emails) > 0 {
		msg.To = u.Emails[0]
	}
	if needsRedeemLink(p.Template) {
		link, err := h.freshRedeemLink(ctx, u)
		if err != nil {
			h.refused(ctx, u.ID, j, p, err)
			return err
		}
		msg.Data["RedeemURL"] = link
	}
	if err := h.mailer.Send(ctx, msg); err != nil {
		err = fmt.Errorf("send %s mail: %w", p.Template, err)
		if ctx.Err() != nil {
			// Cut off (shutdown, a lost claim) in the middle of the
			// exchange: whether the server took the mail is unknown, so the
			// record stays "sending" and the next attempt is uncertain.
			return err
		}
		h.refused(ctx, u.ID, j, p, err)
		var perm interface{ Permanent() bool }
		if errors.As(err, &perm) && perm.Permanent() {
			return Terminal(err)
		}
		return err
	}
	return h.sent(ctx, u.ID, j, p)
}

// claim takes the event's record for job j and marks the attempt as
// sending. rec is nil when there is nothing to send: sent already, held by
// another job, or no longer wanted.
func (h mailHandler) claim(ctx context.Context, j Job, p mailPayload) (u User, rec *MailRecord, uncertain bool, err error) {
	var skip string
	u, err = h.store.UpdateUser(ctx, j.Subject, func(cur *User) (Change, error) {
		skip, uncertain = "", false
		co := &cur.Onboarding
		r := co.Mail[p.Event]
		if r == nil {
			// A job queued without its record (by hand, or by an older
			// writer): record it now.
			r = &MailRecord{Template: p.Template, QueuedAt: h.clock.Now()}
		}
		switch {
		case r.SentAt != nil:
			skip = "sent"
		case r.Job != 0 && r.Job != j.ID:
			skip = "held"
		case r.Skipped != "":
			skip = "skipped"
		}
		if skip != "" {
			return Change{}, errNoChange
		}
		now := h.clock.Now()
		var ch Change
		if why := h.unwanted(*cur, p.Template); why != "" {
			skip = why
			r.Skipped = why
			co.Mail = withRecord(co.Mail, p.Event, r)
			ev, err := newEvent(cur.ID, "mail.skipped", actorWorker, now, map[string]any{"template": p.Template, "event": p.Event, "reason": why})
			if err != nil {
				return Change{}, err
			}
			ch.Events = append(ch.Events, ev)
			return ch, nil
		}
		if r.SendingAt != nil {
			uncertain = true
			r.Uncertain = true
			ev, err := newEvent(cur.ID, "mail.uncertain", actorWorker, now, map[string]any{
				"template": p.Template, "event": p.Event, "job": j.ID, "attempt": j.Attempts,
				"note": "the previous attempt ended without an answer and may have been delivered: sent again with the same Message-ID"})
			if err != nil {
				return Change{}, err
			}
			ch.Events = append(ch.Events, ev)
		}
		t := now
		r.Job, r.SendingAt = j.ID, &t
		r.Attempts++
		co.Mail = withRecord(co.Mail, p.Event, r)
		return ch, nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return User{}, nil, false, nil // the user is gone: nobody to mail
	case errors.Is(err, errNoChange):
		h.log.DebugContext(ctx, "mail not sent", "user", j.Subject, "event", p.Event, "why", skip)
		return User{}, nil, false, nil
	case err != nil:
		return User{}, nil, false, fmt.Errorf("record mail attempt: %w", err)
	case skip != "":
		h.log.InfoContext(ctx, "mail no longer wanted", "user", j.Subject, "template", p.Template, "event", p.Event, "why", skip)
		return User{}, nil, false, nil
	}
	return u, u.Onboarding.Mail[p.Event], uncertain, nil
}

func withRecord(m map[string]*MailRecord, event string, r *MailRecord) map[string]*MailRecord {
	if m == nil {
		m = map[string]*MailRecord{}
	}
	m[event] = r
	return m
}

// unwanted says why template should no longer be sent to u ("" when it
// should). A link to redeem is only for an invitation still open.
func (h mailHandler) unwanted(u User, template string) string {
	o := u.Onboarding
	if o.InviteEmail == "" && len(u.Emails) == 0 {
		return "noAddress"
	}
	if !needsRedeemLink(template) {
		return ""
	}
	switch {
	case !u.Active:
		return "inactive"
	case o.Failed:
		return "failed"
	case o.ExpiredAt != nil:
		return "expired"
	case o.RedeemedAt != nil || o.MFARegisteredAt != nil || o.OnboardedAt != nil:
		return "redeemed"
	case o.GuestID == "" || o.GuestGone:
		return "noGuest"
	}
	return ""
}

// freshRedeemLink invites the recorded guest again without Microsoft's
// mail: Graph answers with the same guest and a new redeem link. A
// different guest (the address now belongs to another account) is never
// mailed a link.
func (h mailHandler) freshRedeemLink(ctx context.Context, u User) (string, error) {
	o := u.Onboarding
	inv := h.opts.Invitation
	inv.Email, inv.DisplayName, inv.SendEmail = o.InviteEmail, displayName(u), false
	inv.CCRecipients, inv.Message = nil, "" // nobody is mailed by Graph
	res, err := h.dir.Invite(ctx, inv)
	if err != nil {
		return "", fmt.Errorf("re-invite for a fresh redeem link: %w", err)
	}
	if res.GuestID != o.GuestID {
		return "", Terminal(fmt.Errorf("re-invite for a fresh redeem link: Graph answered with guest %q, not the recorded guest %q: no link is mailed", res.GuestID, o.GuestID))
	}
	if res.RedeemURL == "" {
		return "", fmt.Errorf("re-invite for a fresh redeem link: the answer carried no redeem link")
	}
	return res.RedeemURL, nil
}

// mailData are the template values passbridge knows about u (the redeem
// link is added by the caller, and only to the message).
func (h mailHandler) mailData(u User) map[string]string {
	o := u.Onboarding
	d := map[string]string{
		"DisplayName": displayName(u),
		"Email":       o.InviteEmail,
		"RedirectURL": h.opts.Invitation.RedirectURL,
		"Message":     h.opts.Invitation.Message,
	}
	if o.ExpiresAt != nil {
		d["ExpiresAt"] = o.ExpiresAt.In(h.opts.Seed.Location).Format("2 January 2006, 15:04 MST")
	}
	return d
}

// refused records that an attempt was not accepted (nothing was sent), so
// that the retry sends without doubt.
func (h mailHandler) refused(ctx context.Context, userID string, j Job, p mailPayload, cause error) {
	_, err := updateUser(ctx, h.store, userID, func(cur *User) (Change, error) {
		r := cur.Onboarding.Mail[p.Event]
		if r == nil || r.Job != j.ID || r.SentAt != nil {
			return Change{}, errNoChange
		}
		r.SendingAt, r.LastError = nil, cause.Error()
		return Change{}, nil
	})
	if err != nil {
		// The record still says sending: the retry treats it as uncertain.
		h.log.WarnContext(ctx, "record mail refusal failed", "user", userID, "event", p.Event, "err", err)
	}
}

// sent records the delivery.
func (h mailHandler) sent(ctx context.Context, userID string, j Job, p mailPayload) error {
	_, err := updateUser(ctx, h.store, userID, func(cur *User) (Change, error) {
		r := cur.Onboarding.Mail[p.Event]
		if r == nil || r.Job != j.ID || r.SentAt != nil {
			return Change{}, errNoChange
		}
		now := h.clock.Now()
		t := now
		r.SentAt, r.SendingAt, r.LastError = &t, nil, ""
		ev, err := newEvent(cur.ID, "mail.sent", actorWorker, now, map[string]any{
			"template": p.Template, "event": p.Event, "attempts": r.Attempts, "uncertain": r.Uncertain})
		if err != nil {
			return Change{}, err
		}
		return Change{Events: []Event{ev}}, nil
	})
	if err != nil {
		// Retried: the next attempt finds the record sending (uncertain).
		return fmt.Errorf("record mail sent: %w", err)
	}
	h.log.InfoContext(ctx, "mail sent", "user", userID, "template", p.Template, "event", p.Event, "job", j.ID)
	return nil
}
