package connector_test

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/mail"
	"github.com/passbridge/passbridge/mail/mailtest"
	"github.com/passbridge/passbridge/store/sqlite"
)

// The lifecycle rules (lifecycle_rules.go) on the test clock: days in
// milliseconds, the fake tenant, a real SMTP sink when mail is on.

// contractLifecycle is the configuration contract's defaults.
func contractLifecycle(o *connector.Options) {
	o.Lifecycle = connector.LifecycleOptions{
		RemindersAfter:         connector.DefaultRemindersAfter,
		RemindersEvery:         connector.DefaultRemindersEvery,
		DeleteAfterTermination: connector.DefaultDeleteAfterTermination,
		ResendMinInterval:      connector.DefaultResendMinInterval,
		Inactivity: connector.InactivityOptions{
			RemindAfter:    connector.DefaultInactivityRemindAfter,
			DisableAfter:   connector.DefaultInactivityDisableAfter,
			TerminateAfter: connector.DefaultInactivityTermAfter,
		},
		GraceAfterChange: connector.DefaultGraceAfterChange,
	}
}

type lcEnv struct {
	*env
	sink *mailtest.Sink
	log  *testkit.Buffer
}

// newLifecycleEnv is newEnv with the contract's lifecycle defaults, and
// with passbridge's own mail to an SMTP sink when withMail.
func newLifecycleEnv(t *testing.T, withMail bool, mods ...func(o *connector.Options)) *lcEnv {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "passbridge.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &testkit.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := testkit.NewClock(t0)
	opts := connector.Options{
		Clock: clock, Logger: log,
		Policy:     connector.PolicyOptions{AllowedDomains: []string{"gov.sg", "*.gov.sg"}},
		Invitation: connector.Invitation{RedirectURL: "https://portal.example/welcome", SendEmail: true},
		Agreements: testAgreements[:2],
		Worker:     connector.WorkerOptions{Owner: "worker-1", Concurrency: 4, JitterSeed: 42},
		Reconcile:  connector.ReconcileOptions{Holder: "reconciler-1", BatchSize: 50},
	}
	contractLifecycle(&opts)
	var sink *mailtest.Sink
	if withMail {
		sink = mailtest.Start(t, mailtest.Options{})
		s, err := mail.NewSender(mail.Options{From: "TechPass <noreply@tech.gov.sg>", Host: sink.Host, Port: sink.Port,
			TLSConfig: sink.ClientTLS, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		opts.Mailer = smtpMailer{s}
		opts.Invitation.SendEmail = false
	}
	for _, m := range mods {
		m(&opts)
	}
	dir := newFakeDir(clock)
	e := &env{t: t, ctx: ctx, clock: clock, dir: dir, store: st, opts: opts,
		svc: connector.NewService(st, opts), worker: connector.NewWorker(st, dir, opts), rec: connector.NewReconciler(st, dir, opts)}
	return &lcEnv{env: e, sink: sink, log: logs}
}

// at moves the clock to d after base, reconciles and runs the jobs.
func (e *lcEnv) at(base time.Time, d time.Duration) connector.ReconcileReport {
	e.t.Helper()
	if now := base.Add(d); now.After(e.clock.Now()) {
		e.clock.Set(now)
	}
	rep := e.reconcile()
	e.drain()
	return rep
}

// mails counts the mails of template sent (recorded sent, and as many
// received by the SMTP sink in all).
func (e *lcEnv) mails(template string) int {
	e.t.Helper()
	page, err := e.store.ListUsers(e.ctx, connector.Query{Count: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	n, all := 0, 0
	for _, u := range page.Items {
		for _, r := range u.Onboarding.Mail {
			if r.SentAt == nil {
				continue
			}
			all++
			if r.Template == template {
				n++
			}
		}
	}
	if got := len(e.sink.Mails()); got != all {
		e.t.Fatalf("the SMTP sink received %d mails, %d recorded sent", got, all)
	}
	return n
}

func (e *lcEnv) invited(email string) connector.User {
	e.t.Helper()
	u := e.signUp(email, false)
	e.drain()
	return e.wantState(u.ID, connector.StateInvited)
}

// onboard takes an invited user through redemption, MFA and both
// agreements.
func (e *lcEnv) onboard(u connector.User) connector.User {
	e.t.Helper()
	g := u.Onboarding.GuestID
	e.dir.redeem(g)
	e.dir.registerMFA(g, "microsoftAuthenticatorAuthenticationMethod")
	e.dir.accept(g, "agr-tou", "Terms of Use", e.clock.Now())
	e.dir.accept(g, "agr-pp", "Privacy Policy", e.clock.Now())
	e.dir.signIn(g)
	e.reconcile()
	e.drain()
	return e.wantState(u.ID, connector.StateOnboarded)
}

func countEvents(e *env, id, typ string) int {
	n := 0
	for _, ev := range e.events(id) {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func TestLifecycleRemindersTerminationDeletion(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, true)
	u := e.invited("alice@tech.gov.sg")
	inv := *u.Onboarding.InvitedAt
	g := u.Onboarding.GuestID
	if e.mails("invitation") != 1 {
		t.Fatalf("invitation mails = %d", e.mails("invitation"))
	}
	e.at(inv, 22*day+23*time.Hour)
	if n := e.mails("reminder"); n != 0 {
		t.Fatalf("reminders before day 23 = %d", n)
	}
	rep := e.at(inv, 23*day)
	if n := e.mails("reminder"); n != 1 {
		t.Fatalf("reminders at day 23 = %d, want 1 (report %+v)", n, rep)
	}
	got := e.user(u.ID).Onboarding
	if got.RemindersSent != 1 || got.LastReminderAt == nil {
		t.Fatalf("facts after the first reminder: sent %d, last %v", got.RemindersSent, got.LastReminderAt)
	}
	// The reminder's redeem link is fresh, through a re-invitation without
	// Microsoft's mail; it is in the mail only.
	last := e.sink.Mails()[len(e.sink.Mails())-1]
	if parts, err := last.Parts(); err != nil || !strings.Contains(parts["text/plain"], fakeRedeemLink) {
		t.Errorf("reminder without the redeem link (%v):\n%s", err, parts["text/plain"])
	}
	if strings.Contains(e.log.String(), fakeRedeemLink) {
		t.Errorf("the redeem link was logged")
	}
	e.at(inv, 23*day+12*time.Hour)
	if n := e.mails("reminder"); n != 1 {
		t.Fatalf("reminders half a day later = %d, want 1", n)
	}
	for d := 24; d <= 29; d++ {
		e.at(inv, time.Duration(d)*day)
		if n := e.mails("reminder"); n != d-22 {
			t.Fatalf("reminders at day %d = %d, want %d", d, n, d-22)
		}
	}
	if n := e.mails("terminationNotice"); n != 1 {
		t.Fatalf("termination notices at day 29 (a day before) = %d, want 1", n)
	}
	if countEvents(e.env, u.ID, connector.EventLifecycleReminder) != 7 {
		t.Errorf("reminder events = %d, want 7", countEvents(e.env, u.ID, connector.EventLifecycleReminder))
	}

	// Day 30: terminated (disabled, sessions revoked), not yet deleted.
	e.at(inv, 30*day)
	got = e.wantState(u.ID, connector.StateExpired).Onboarding
	if got.TerminatedAt == nil || got.DisabledReason != connector.DisabledExpired || !got.Disabled {
		t.Fatalf("after termination: terminatedAt %v, reason %q, disabled %v", got.TerminatedAt, got.DisabledReason, got.Disabled)
	}
	if !e.dir.exists(g) || e.dir.enabled(g) {
		t.Fatalf("guest at termination: exists %v, enabled %v; want disabled, kept", e.dir.exists(g), e.dir.enabled(g))
	}
	if e.dir.count("revokeSessions") == 0 {
		t.Errorf("sessions not revoked at termination")
	}
	if n := e.mails("terminated"); n != 1 {
		t.Errorf("terminated mails = %d, want 1", n)
	}
	if n := e.mails("reminder"); n != 7 {
		t.Errorf("reminders after termination = %d, want 7", n)
	}
	// Day 34: still there; day 35 (deleteAfterTermination 120h): deleted,
	// found by the indexed query of due users (expired users are not in the
	// reconciler's pages).
	e.at(*got.TerminatedAt, 4*day)
	if !e.dir.exists(g) {
		t.Fatalf("guest deleted before deleteAfterTermination")
	}
	rep = e.at(*got.TerminatedAt, 5*day)
	if e.dir.exists(g) || rep.LifecycleDue == 0 {
		t.Fatalf("guest at day 35: exists %v (report %+v)", e.dir.exists(g), rep)
	}
	got = e.wantState(u.ID, connector.StateExpired).Onboarding
	if !got.GuestGone || got.LifecycleDueAt != nil {
		t.Errorf("after deletion: gone %v, due %v", got.GuestGone, got.LifecycleDueAt)
	}
	if !e.hasEvent(u.ID, connector.EventLifecycleDeleteQueued) || !e.hasEvent(u.ID, connector.EventLifecycleTerminated) {
		t.Errorf("events: %+v", e.events(u.ID))
	}
	// Nothing more is due: a later pass finds nobody.
	if rep := e.at(*got.TerminatedAt, 6*day); rep.LifecycleDue != 0 {
		t.Errorf("due users after deletion = %d", rep.LifecycleDue)
	}
}

func TestLifecycleDeleteAfterTerminationZero(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, false, func(o *connector.Options) { o.Lifecycle.DeleteAfterTermination = 0 })
	u := e.invited("bob@tech.gov.sg")
	g := u.Onboarding.GuestID
	e.at(*u.Onboarding.InvitedAt, 30*day)
	got := e.wantState(u.ID, connector.StateExpired).Onboarding
	if e.dir.exists(g) || !got.GuestGone {
		t.Fatalf("deleteAfterTermination 0: guest exists %v, gone %v; want deleted at termination", e.dir.exists(g), got.GuestGone)
	}
	if got.DisabledReason != "" || got.DeleteDueAt != nil {
		t.Errorf("deleteAfterTermination 0 recorded a delayed deletion: %+v", got)
	}
}

func TestLifecycleHoldStopsReminders(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, true)
	u := e.invited("carol@tech.gov.sg")
	inv := *u.Onboarding.InvitedAt
	if _, err := e.svc.SetHold(e.ctx, "admin:ops", u.ID, "training account"); err != nil {
		t.Fatal(err)
	}
	for d := 23; d <= 31; d++ {
		e.at(inv, time.Duration(d)*day)
	}
	if n := e.mails("reminder") + e.mails("terminationNotice") + e.mails("terminated"); n != 0 {
		t.Fatalf("mails while on hold = %d, want 0", n)
	}
	got := e.wantState(u.ID, connector.StateInvited)
	if !e.dir.exists(got.Onboarding.GuestID) || !e.dir.enabled(got.Onboarding.GuestID) {
		t.Fatalf("guest disabled or deleted while on hold")
	}
	// Cleared: the rules apply again (past expiry: terminated).
	if _, err := e.svc.SetHold(e.ctx, "admin:ops", u.ID, ""); err != nil {
		t.Fatal(err)
	}
	e.at(inv, 31*day+time.Hour)
	e.wantState(u.ID, connector.StateExpired)
}

func TestLifecycleRemindersThroughGraphWithoutSMTP(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, false)
	u := e.invited("dave@tech.gov.sg")
	inv := *u.Onboarding.InvitedAt
	e.at(inv, 23*day)
	if n := e.dir.invitationsTo("dave@tech.gov.sg"); n != 2 {
		t.Fatalf("invitations through Graph after the day-23 reminder = %d, want 2", n)
	}
	e.at(inv, 23*day+time.Hour)
	e.at(inv, 24*day)
	if n := e.dir.invitationsTo("dave@tech.gov.sg"); n != 3 {
		t.Fatalf("invitations after day 24 = %d, want 3", n)
	}
	if got := e.user(u.ID).Onboarding; got.RemindersSent != 2 || got.GuestID != u.Onboarding.GuestID {
		t.Errorf("facts: %+v", got)
	}
	// Redeemed: no more reminders.
	e.dir.redeem(u.Onboarding.GuestID)
	e.at(inv, 25*day)
	e.at(inv, 26*day)
	if n := e.dir.invitationsTo("dave@tech.gov.sg"); n != 3 {
		t.Errorf("invitations after redemption = %d, want 3", n)
	}
}

func TestLifecycleResendMinInterval(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, false)
	u := e.invited("erin@tech.gov.sg")
	inv := *u.Onboarding.InvitedAt
	e.clock.Set(inv.Add(3 * time.Hour))
	_, err := e.svc.ResendInvitation(e.ctx, "scim:test", u.ID)
	ie, ok := connector.IsInputError(err)
	want := inv.Add(24 * time.Hour).UTC().Format(time.RFC3339)
	if !ok || ie.Field != "resendInvitation" || !strings.Contains(ie.Detail, want) {
		t.Fatalf("resend after 3h = %v, want an input error on resendInvitation naming %s", err, want)
	}
	if err := e.svc.CheckResend(e.ctx, u.ID); err == nil {
		t.Errorf("CheckResend allowed a resend too soon")
	}
	e.drain()
	if n := e.dir.invitationsTo("erin@tech.gov.sg"); n != 1 {
		t.Fatalf("a refused resend sent an invitation: %d", n)
	}
	e.clock.Set(inv.Add(24 * time.Hour))
	if err := e.svc.CheckResend(e.ctx, u.ID); err != nil {
		t.Fatalf("CheckResend after 24h: %v", err)
	}
	if _, err := e.svc.ResendInvitation(e.ctx, "scim:test", u.ID); err != nil {
		t.Fatalf("resend after 24h: %v", err)
	}
	e.drain()
	if n := e.dir.invitationsTo("erin@tech.gov.sg"); n != 2 {
		t.Fatalf("invitations after the resend = %d, want 2", n)
	}
}

func TestLifecycleInactivity(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, true)
	u := e.onboard(e.invited("frank@tech.gov.sg"))
	g := u.Onboarding.GuestID
	last := e.clock.Now()
	e.at(last, day) // the next sign-in sweep reads it
	if got := e.user(u.ID).Onboarding; got.LastSignInAt == nil || !got.LastSignInAt.Equal(last) {
		t.Fatalf("lastSignInAt = %v, want %v", got.LastSignInAt, last)
	}
	e.at(last, 59*day)
	if n := e.mails("inactivityNotice"); n != 0 {
		t.Fatalf("inactivity notices before day 60 = %d", n)
	}
	e.at(last, 60*day)
	if n := e.mails("inactivityNotice"); n != 1 {
		t.Fatalf("inactivity notices at day 60 = %d, want 1", n)
	}
	e.at(last, 61*day)
	if n := e.mails("inactivityNotice"); n != 1 {
		t.Fatalf("inactivity notices at day 61 = %d, want still 1", n)
	}
	e.at(last, 89*day)
	e.wantState(u.ID, connector.StateOnboarded)
	e.at(last, 90*day)
	got := e.wantState(u.ID, connector.StateInactive).Onboarding
	if got.DisabledReason != connector.DisabledInactivity || e.dir.enabled(g) || !got.Disabled {
		t.Fatalf("after day 90: reason %q, guest enabled %v, disabled %v", got.DisabledReason, e.dir.enabled(g), got.Disabled)
	}
	if n := e.mails("disabled"); n != 1 {
		t.Errorf("disabled mails = %d, want 1", n)
	}
	if !e.user(u.ID).Active {
		t.Errorf("the inactivity rule changed active (a SCIM client would fight it)")
	}
	e.at(last, 179*day)
	if !e.dir.exists(g) {
		t.Fatalf("deleted before day 180")
	}
	e.at(last, 180*day)
	got = e.wantState(u.ID, connector.StateTerminated).Onboarding
	if e.dir.exists(g) || got.TerminatedAt == nil {
		t.Fatalf("after day 180: guest exists %v, terminatedAt %v", e.dir.exists(g), got.TerminatedAt)
	}
	if n := e.mails("terminated"); n != 1 {
		t.Errorf("terminated mails = %d, want 1", n)
	}
	for _, typ := range []string{connector.EventLifecycleInactivityNotice, connector.EventLifecycleInactive, connector.EventLifecycleTerminated} {
		if !e.hasEvent(u.ID, typ) {
			t.Errorf("no %s event", typ)
		}
	}
}

func TestLifecycleInactivityUnavailableDisablesNobody(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, false)
	u := e.onboard(e.invited("gina@tech.gov.sg"))
	e.dir.noSignInActivity = true
	e.clock.Set(e.clock.Now().Add(100 * day))
	rep := e.reconcile()
	e.drain()
	if !rep.SignInUnavailable {
		t.Errorf("report does not say the inactivity rule is unavailable: %+v", rep)
	}
	e.wantState(u.ID, connector.StateOnboarded)
	if !strings.Contains(e.log.String(), "inactivity rule unavailable") {
		t.Errorf("not logged")
	}
}

func TestLifecycleGraceAfterReenable(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, false)
	u := e.onboard(e.invited("hank@tech.gov.sg"))
	g := u.Onboarding.GuestID
	last := e.clock.Now()
	e.at(last, 90*day)
	e.wantState(u.ID, connector.StateInactive)
	// The client re-enables the account (active false, then true).
	e.patch(u.ID, func(u *connector.User) { u.Active = false })
	e.drain()
	e.patch(u.ID, func(u *connector.User) { u.Active = true })
	e.drain()
	reenabled := e.clock.Now()
	e.wantState(u.ID, connector.StateOnboarded)
	if !e.dir.enabled(g) {
		t.Fatalf("guest not enabled again")
	}
	// Within graceAfterChange (5 days) nothing disables it, though the last
	// sign-in is still 90 days old.
	e.at(reenabled, 4*day)
	e.wantState(u.ID, connector.StateOnboarded)
	// After the grace, no sign-in: disabled again.
	e.at(reenabled, 5*day+time.Minute)
	e.wantState(u.ID, connector.StateInactive)

	// Another account signs in during its grace: it stays.
	v := e.onboard(e.invited("ivy@tech.gov.sg"))
	vlast := e.clock.Now()
	e.at(vlast, 90*day)
	e.wantState(v.ID, connector.StateInactive)
	e.patch(v.ID, func(u *connector.User) { u.Active = false })
	e.drain()
	e.patch(v.ID, func(u *connector.User) { u.Active = true })
	e.drain()
	e.at(e.clock.Now(), 2*day)
	e.dir.signIn(v.Onboarding.GuestID)
	e.at(e.clock.Now(), 7*day)
	e.wantState(v.ID, connector.StateOnboarded)
}

func TestLifecycleAccountTypes(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, false, func(o *connector.Options) {
		o.Lifecycle.AccountTypes = map[string]connector.AccountTypeOptions{
			connector.AccountVendor: {Validity: 10 * day},
			connector.AccountTemp:   {Inactivity: connector.InactivityOptions{DisableAfter: 30 * day}},
		}
	})
	nu := newUser("vera@tech.gov.sg", false)
	nu.Onboarding.AccountType = connector.AccountVendor
	vu, err := e.svc.CreateUser(e.ctx, "scim:test", nu)
	if err != nil {
		t.Fatal(err)
	}
	e.drain()
	vo := e.user(vu.ID).Onboarding
	if vo.AccountType != connector.AccountVendor || !vo.ExpiresAt.Equal(vo.InvitedAt.Add(10*day)) {
		t.Fatalf("vendor: type %q, expires %v after invitation", vo.AccountType, vo.ExpiresAt.Sub(*vo.InvitedAt))
	}
	e.at(*vo.InvitedAt, 10*day)
	e.wantState(vu.ID, connector.StateExpired)

	// temp: disabled after 30 days without a sign-in, not 90.
	tu := e.onboard(e.invited("tom@tech.gov.sg"))
	e.patch(tu.ID, func(u *connector.User) { u.Onboarding.AccountType = connector.AccountTemp })
	last := e.clock.Now()
	// The change of type is no status change: no grace.
	e.at(last, 30*day)
	e.wantState(tu.ID, connector.StateInactive)

	// Anything else is refused, naming accountType and the values.
	bad := newUser("zed@tech.gov.sg", false)
	bad.Onboarding.AccountType = "contractor"
	_, err = e.svc.CreateUser(e.ctx, "scim:test", bad)
	ie, ok := connector.IsInputError(err)
	if !ok || ie.Field != "accountType" || !strings.Contains(ie.Detail, "public_officer") {
		t.Fatalf("accountType contractor = %v", err)
	}
	_, err = e.svc.UpdateUser(e.ctx, "scim:test", tu.ID, nil, func(u *connector.User) error {
		u.Onboarding.AccountType = "x"
		return nil
	})
	if ie, ok := connector.IsInputError(err); !ok || ie.Field != "accountType" {
		t.Fatalf("update to accountType x = %v", err)
	}
}

func TestLifecycleTrustHomeTenantMFA(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		e := newLifecycleEnv(t, false, func(o *connector.Options) { o.Lifecycle.TrustHomeTenantMFA = trust })
		u := e.invited("jill@tech.gov.sg")
		g := u.Onboarding.GuestID
		e.dir.redeem(g)
		e.dir.accept(g, "agr-tou", "Terms of Use", e.clock.Now())
		e.dir.accept(g, "agr-pp", "Privacy Policy", e.clock.Now())
		e.reconcile()
		want := connector.StateRedeemed
		if trust {
			want = connector.StateOnboarded
		}
		got := e.wantState(u.ID, want)
		if trust && (got.Onboarding.MFARegisteredAt == nil || got.Onboarding.MFAMethods[0] != "homeTenant") {
			t.Errorf("trusted: facts %+v", got.Onboarding)
		}
	}
}

func TestLifecycleHoldOverSCIMEvents(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, false)
	u := e.invited("kim@tech.gov.sg")
	e.patch(u.ID, func(u *connector.User) { u.Onboarding.LifecycleHold = "under investigation" })
	got := e.user(u.ID).Onboarding
	if got.HoldBy != "scim:test" || got.HoldAt == nil || !e.hasEvent(u.ID, connector.EventLifecycleHoldSet) {
		t.Fatalf("hold by SCIM: %+v", got)
	}
	e.patch(u.ID, func(u *connector.User) { u.Onboarding.LifecycleHold = "" })
	if !e.hasEvent(u.ID, connector.EventLifecycleHoldCleared) || e.user(u.ID).Onboarding.HoldAt != nil {
		t.Fatalf("hold cleared by SCIM: no event")
	}
}
