package connector

import (
	"fmt"
	"strconv"
	"time"
)

// The lifecycle after sign-up (ARCHITECTURE.md): reminders, the notice
// before termination, termination and the deletion after it, inactivity,
// holds, grace and account types.
//
// The rules are facts settled from the clock, like the expiry: settle runs
// them for every writer of a user, so each automatic action is committed
// with the jobs it needs (a mail, a disable, a deletion) and an event that
// names the rule (factEvents). They run where the reconciler writes users:
// its page of managed states, its slow sign-in sweep of onboarded users,
// and its indexed query of users whose LifecycleDueAt has come
// (LifecycleStore), which is what reaches expired and inactive users
// without a full scan.
//
// No rule acts while LifecycleHold is set. Within GraceAfterChange of a
// status change by a client or an admin (StatusChangedAt), nothing is
// disabled or deleted automatically.

// terminationNoticeBefore is when the notice before termination is mailed:
// a day before expiresAt (the reminder due that day, which carries the
// redeem link, goes too).
const terminationNoticeBefore = 24 * time.Hour

// Event types of the lifecycle rules (data.rule names the rule).
const (
	EventLifecycleReminder          = "lifecycle.reminder"
	EventLifecycleTerminationNotice = "lifecycle.terminationNotice"
	EventLifecycleTerminated        = "lifecycle.terminated"
	EventLifecycleDeleteQueued      = "lifecycle.deleteQueued"
	EventLifecycleInactivityNotice  = "lifecycle.inactivityNotice"
	EventLifecycleInactive          = "lifecycle.inactive"
	EventLifecycleHoldSet           = "lifecycle.holdSet"
	EventLifecycleHoldCleared       = "lifecycle.holdCleared"
)

// Rule names (events' data.rule).
const (
	RuleReminders        = "reminders"
	RuleTerminationNote  = "terminationNotice"
	RuleValidity         = "validity"
	RuleDeleteAfterTerm  = "deleteAfterTermination"
	RuleInactivityNotice = "inactivity.remindAfter"
	RuleInactivityDisab  = "inactivity.disableAfter"
	RuleInactivityTerm   = "inactivity.terminateAfter"
)

// CheckAccountType refuses an accountType that is not one of AccountTypes.
func CheckAccountType(t string) error {
	if t == "" {
		return nil
	}
	for _, a := range AccountTypes {
		if t == a {
			return nil
		}
	}
	return &InputError{Field: "accountType", Detail: fmt.Sprintf("%q is not an account type: use one of %s, %s or %s", t, AccountPublicOfficer, AccountVendor, AccountTemp)}
}

// DisabledReason is the SCIM disabledReason of u ("" when not disabled).
func DisabledReason(u User) string {
	if !u.Active {
		return DisabledByClient
	}
	return u.Onboarding.DisabledReason
}

// lifecycleDisabled reports whether a rule wants the guest disabled
// although active is true (the disable job honours it).
func lifecycleDisabled(o Onboarding) bool {
	return o.DisabledReason == DisabledExpired || o.DisabledReason == DisabledInactivity
}

func inGrace(o Onboarding, now time.Time, opts Options) bool {
	g := opts.Lifecycle.GraceAfterChange
	return g > 0 && o.StatusChangedAt != nil && now.Before(o.StatusChangedAt.Add(g))
}

func hasGuest(o Onboarding) bool { return o.GuestID != "" && !o.GuestGone }

// unfinished: invited, not onboarded, not terminated (the reminders' and
// the notice's users).
func unfinished(u User) bool {
	o := u.Onboarding
	return u.Active && o.LifecycleHold == "" && !o.Failed && !o.Conflict && o.InvitedAt != nil &&
		o.ExpiredAt == nil && o.OnboardedAt == nil && hasGuest(o)
}

func unredeemed(o Onboarding) bool {
	return o.RedeemedAt == nil && o.MFARegisteredAt == nil && len(o.Agreements) == 0
}

// nextReminder is when the next reminder is due (false: none before
// expiry, or the rule is off).
func nextReminder(o Onboarding, opts Options) (time.Time, bool) {
	lc := opts.Lifecycle
	if lc.RemindersAfter <= 0 || o.InvitedAt == nil {
		return time.Time{}, false
	}
	next := o.InvitedAt.Add(lc.RemindersAfter)
	if o.RemindersSent > 0 {
		if lc.RemindersEvery <= 0 {
			return time.Time{}, false // one reminder only
		}
		next = next.Add(time.Duration(o.RemindersSent) * lc.RemindersEvery)
		if o.LastReminderAt != nil {
			// After an outage, one reminder and then the rhythm, not a burst.
			next = later(next, o.LastReminderAt.Add(lc.RemindersEvery))
		}
	}
	if o.ExpiresAt != nil && !next.Before(*o.ExpiresAt) {
		return time.Time{}, false
	}
	return next, true
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// activityBasis is what the inactivity rule counts from: the last
// successful sign-in, or the onboarding when later (or never signed in).
// A re-enabled account is not given a new period: the grace after the
// change (lifecycle.graceAfterChange) is the person's time to sign in.
func activityBasis(o Onboarding) time.Time {
	t := *o.OnboardedAt
	if o.LastSignInAt != nil {
		t = later(t, *o.LastSignInAt)
	}
	return t
}

// signInFresh: the inactivity rule acts only on sign-in activity read
// recently (Graph without P1 answers nothing, and then nobody is disabled).
func signInFresh(o Onboarding, now time.Time, opts Options) bool {
	window := max(3*opts.Lifecycle.SignInSweepInterval, 24*time.Hour)
	return o.SignInReadAt != nil && now.Sub(*o.SignInReadAt) <= window
}

func mailKey(kind string, at *time.Time, n int) string {
	k := kind + ":" + at.UTC().Format(time.RFC3339Nano)
	if n > 0 {
		k += ":" + strconv.Itoa(n)
	}
	return k
}

// applyLifecycle runs the rules that are due at now (after the expiry of
// settle) and returns their jobs.
func applyLifecycle(u *User, now time.Time, opts Options) ([]Job, error) {
	o := &u.Onboarding
	var jobs []Job
	mail := func(template, key string, always bool) error {
		if opts.Mailer == nil && !always {
			return nil
		}
		j, ok, err := queueMail(u, template, key, now)
		if err != nil || !ok {
			return err
		}
		jobs = append(jobs, j)
		return nil
	}
	t := now

	// trusted home-tenant MFA.
	if opts.Lifecycle.TrustHomeTenantMFA && o.RedeemedAt != nil && o.MFARegisteredAt == nil {
		r := *o.RedeemedAt
		o.MFARegisteredAt, o.MFAMethods = &r, []string{"homeTenant"}
	}

	if o.LifecycleHold != "" {
		return nil, nil
	}

	// reminders and the notice before termination.
	if unfinished(*u) {
		if next, ok := nextReminder(*o, opts); ok && unredeemed(*o) && !now.Before(next) {
			// Without mail.smtp the mail job re-invites through Graph,
			// which mails (job_mail.go).
			if err := mail(MailReminder, mailKey("reminder", o.InvitedAt, o.RemindersSent+1), true); err != nil {
				return nil, err
			}
			o.RemindersSent++
			o.LastReminderAt = &t
		}
		if opts.Mailer != nil && o.TerminationNoticeAt == nil && o.ExpiresAt != nil &&
			!now.Before(o.ExpiresAt.Add(-terminationNoticeBefore)) && now.Before(*o.ExpiresAt) {
			if err := mail(MailTerminationNotice, mailKey("terminationNotice", o.InvitedAt, 0), false); err != nil {
				return nil, err
			}
			o.TerminationNoticeAt = &t
		}
	}

	// deletion after termination.
	if o.ExpiredAt != nil && o.DeleteDueAt != nil && !o.DeleteQueued && hasGuest(*o) &&
		!now.Before(*o.DeleteDueAt) && !inGrace(*o, now, opts) {
		j, err := deleteGuestJob(u.ID, o.GuestID, "expired", now)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
		o.DeleteQueued = true
	}

	// inactivity after onboarding.
	if u.Active && o.OnboardedAt != nil && o.ExpiredAt == nil && o.TerminatedAt == nil && hasGuest(*o) && !o.Failed {
		in := opts.inactivityFor(o.AccountType)
		switch {
		case o.InactiveAt == nil:
			basis := activityBasis(*o)
			fresh := signInFresh(*o, now, opts)
			switch {
			case in.DisableAfter > 0 && fresh && !now.Before(basis.Add(in.DisableAfter)) && !inGrace(*o, now, opts):
				b := basis
				o.InactiveAt, o.InactiveSince, o.DisabledReason = &t, &b, DisabledInactivity
				jobs = append(jobs, plainJob(JobDisable, u.ID, now))
				if err := mail(MailDisabled, mailKey("disabled", &b, 0), false); err != nil {
					return nil, err
				}
			case in.RemindAfter > 0 && fresh && !now.Before(basis.Add(in.RemindAfter)) &&
				(o.InactivityNoticeFor == nil || !o.InactivityNoticeFor.Equal(basis)):
				b := basis
				o.InactivityNoticeFor = &b
				if err := mail(MailInactivityNotice, mailKey("inactivity", &b, 0), false); err != nil {
					return nil, err
				}
			}
		case in.TerminateAfter > 0 && o.InactiveSince != nil && !now.Before(o.InactiveSince.Add(in.TerminateAfter)) &&
			!inGrace(*o, now, opts):
			o.TerminatedAt = &t
			j, err := deleteGuestJob(u.ID, o.GuestID, "inactivity", now)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, j)
			o.DeleteQueued = true
			if err := mail(MailTerminated, mailKey("terminated", &t, 0), false); err != nil {
				return nil, err
			}
		}
	}
	return jobs, nil
}

// terminate is the termination at the end of the validity (settle calls it
// once ExpiredAt is recorded): with DeleteAfterTermination 0 the guest is
// deleted at once, as before the lifecycle rules; otherwise it is disabled
// (sessions revoked) and deleted that much later.
func terminate(u *User, now time.Time, opts Options) ([]Job, error) {
	o := &u.Onboarding
	t := now
	o.TerminatedAt = &t
	var jobs []Job
	if hasGuest(*o) {
		if d := opts.Lifecycle.DeleteAfterTermination; d <= 0 {
			j, err := deleteGuestJob(u.ID, o.GuestID, "expired", now)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, j)
		} else {
			due := now.Add(d)
			o.DeleteDueAt, o.DisabledReason = &due, DisabledExpired
			jobs = append(jobs, plainJob(JobDisable, u.ID, now))
		}
	}
	if opts.Mailer != nil && o.InviteEmail != "" {
		j, ok, err := queueMail(u, MailTerminated, mailKey("terminated", o.InvitedAt, 0), now)
		if err != nil {
			return nil, err
		}
		if ok {
			jobs = append(jobs, j)
		}
	}
	return jobs, nil
}

// lifecycleDue is when a rule is next due for u (nil: none): what the
// reconciler's indexed query of due users reads. Rounded up to the second,
// as the store compares it as text.
func lifecycleDue(u User, now time.Time, opts Options) *time.Time {
	o := u.Onboarding
	var due *time.Time
	consider := func(t time.Time) {
		if due == nil || t.Before(*due) {
			tt := t
			due = &tt
		}
	}
	if o.LifecycleHold != "" {
		return nil // SetHold settles the user again when the hold is cleared
	}
	grace := func(t time.Time) time.Time {
		if inGrace(o, t, opts) {
			return o.StatusChangedAt.Add(opts.Lifecycle.GraceAfterChange)
		}
		return t
	}
	if unfinished(u) {
		if next, ok := nextReminder(o, opts); ok && unredeemed(o) {
			consider(next)
		}
		if opts.Mailer != nil && o.TerminationNoticeAt == nil && o.ExpiresAt != nil {
			consider(o.ExpiresAt.Add(-terminationNoticeBefore))
		}
		if o.ExpiresAt != nil {
			consider(*o.ExpiresAt)
		}
	}
	if o.ExpiredAt != nil && o.DeleteDueAt != nil && !o.DeleteQueued && hasGuest(o) {
		consider(grace(*o.DeleteDueAt))
	}
	if u.Active && o.OnboardedAt != nil && o.ExpiredAt == nil && o.TerminatedAt == nil && hasGuest(o) {
		in := opts.inactivityFor(o.AccountType)
		switch {
		case o.InactiveAt != nil && o.InactiveSince != nil && in.TerminateAfter > 0:
			consider(grace(o.InactiveSince.Add(in.TerminateAfter)))
		case o.InactiveAt == nil && signInFresh(o, now, opts):
			basis := activityBasis(o)
			if in.RemindAfter > 0 && (o.InactivityNoticeFor == nil || !o.InactivityNoticeFor.Equal(basis)) {
				consider(basis.Add(in.RemindAfter))
			}
			if in.DisableAfter > 0 {
				consider(grace(basis.Add(in.DisableAfter)))
			}
		}
	}
	if due == nil {
		return nil
	}
	d := ceilSecond(*due)
	return &d
}

// lifecycleEvents describes the lifecycle facts that changed from old to n
// (factEvents appends them).
func lifecycleEvents(old, n Onboarding, add func(typ string, data map[string]any)) {
	if n.RemindersSent > old.RemindersSent {
		add(EventLifecycleReminder, map[string]any{"rule": RuleReminders, "reminder": n.RemindersSent, "invitedAt": n.InvitedAt})
	}
	if n.TerminationNoticeAt != nil && old.TerminationNoticeAt == nil {
		add(EventLifecycleTerminationNotice, map[string]any{"rule": RuleTerminationNote, "expiresAt": n.ExpiresAt})
	}
	if n.TerminatedAt != nil && old.TerminatedAt == nil {
		rule := RuleValidity
		if n.ExpiredAt == nil {
			rule = RuleInactivityTerm
		}
		add(EventLifecycleTerminated, map[string]any{"rule": rule, "guestId": n.GuestID, "deleteDueAt": n.DeleteDueAt})
	}
	if n.DeleteQueued && !old.DeleteQueued && n.ExpiredAt != nil {
		add(EventLifecycleDeleteQueued, map[string]any{"rule": RuleDeleteAfterTerm, "guestId": n.GuestID})
	}
	if n.InactivityNoticeFor != nil && (old.InactivityNoticeFor == nil || !old.InactivityNoticeFor.Equal(*n.InactivityNoticeFor)) {
		add(EventLifecycleInactivityNotice, map[string]any{"rule": RuleInactivityNotice, "inactiveSince": n.InactivityNoticeFor, "lastSignInAt": n.LastSignInAt})
	}
	if n.InactiveAt != nil && old.InactiveAt == nil {
		add(EventLifecycleInactive, map[string]any{"rule": RuleInactivityDisab, "inactiveSince": n.InactiveSince, "lastSignInAt": n.LastSignInAt})
	}
}

// lifecycleUpdate applies what a client's change means for the lifecycle:
// accountType is checked, lifecycleHold set or cleared (with an event), a
// change of active starts the grace (StatusChangedAt), and re-enabling an
// account the inactivity rule disabled clears that.
func lifecycleUpdate(now time.Time, actor string, old User, u *User, event func(string, map[string]any) error) error {
	o := &u.Onboarding
	if o.AccountType != old.Onboarding.AccountType {
		if err := CheckAccountType(o.AccountType); err != nil {
			return err
		}
	}
	if len(o.LifecycleHold) > MaxHoldLength {
		return &InputError{Field: "lifecycleHold", Detail: fmt.Sprintf("at most %d characters", MaxHoldLength)}
	}
	if h, was := o.LifecycleHold, old.Onboarding.LifecycleHold; h != was {
		t := now
		if h == "" {
			o.HoldBy, o.HoldAt = "", nil
			if err := event(EventLifecycleHoldCleared, map[string]any{"previous": was}); err != nil {
				return err
			}
		} else {
			o.HoldBy, o.HoldAt = actor, &t
			if err := event(EventLifecycleHoldSet, map[string]any{"lifecycleHold": h}); err != nil {
				return err
			}
		}
	}
	if u.Active != old.Active {
		t := now
		o.StatusChangedAt = &t
		if u.Active && o.InactiveAt != nil {
			o.InactiveAt, o.InactiveSince, o.InactivityNoticeFor = nil, nil, nil
			if o.DisabledReason == DisabledInactivity {
				o.DisabledReason = ""
			}
		}
	}
	return nil
}
