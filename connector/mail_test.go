package connector_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/mail"
	"github.com/passbridge/passbridge/mail/mailtest"
	"github.com/passbridge/passbridge/store/sqlite"
)

// The fake tenant's redeem link (fakedir_test.go).
const fakeRedeemLink = "https://redeem.invalid/secret"

// smtpMailer is the connector.Mailer that cmd/passbridge wires: the mail
// package over SMTP.
type smtpMailer struct{ s *mail.Sender }

func (m smtpMailer) Send(ctx context.Context, msg connector.MailMessage) error {
	return m.s.Send(ctx, mail.Message(msg))
}

type mailEnv struct {
	*env
	sink   *mailtest.Sink
	dbPath string
	logs   *testkit.Buffer
}

// newMailEnv is newEnv with passbridge mailing invitations itself
// (invitation.sendEmail false, mail.smtp set) to an SMTP sink, every log
// line kept. wrap, when set, wraps the mailer.
func newMailEnv(t *testing.T, wrap func(connector.Mailer) connector.Mailer) *mailEnv {
	t.Helper()
	ctx := t.Context()
	dbPath := filepath.Join(t.TempDir(), "passbridge.db")
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &testkit.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sink := mailtest.Start(t, mailtest.Options{})
	s, err := mail.NewSender(mail.Options{From: "TechPass <noreply@tech.gov.sg>", Host: sink.Host, Port: sink.Port,
		TLSConfig: sink.ClientTLS, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	var mailer connector.Mailer = smtpMailer{s}
	if wrap != nil {
		mailer = wrap(mailer)
	}
	clock := testkit.NewClock(t0)
	opts := connector.Options{
		Clock: clock, Logger: log,
		Policy: connector.PolicyOptions{AllowedDomains: []string{"gov.sg", "*.gov.sg"}},
		Invitation: connector.Invitation{RedirectURL: "https://portal.example/welcome", SendEmail: false,
			Message: "Welcome to the agency."},
		Agreements: testAgreements,
		Mailer:     mailer,
		Worker:     connector.WorkerOptions{Owner: "worker-1", Concurrency: 4, JitterSeed: 42},
		Reconcile:  connector.ReconcileOptions{Holder: "reconciler-1", BatchSize: 50},
	}
	dir := newFakeDir(clock)
	e := &env{t: t, ctx: ctx, clock: clock, dir: dir, store: st, opts: opts,
		svc: connector.NewService(st, opts), worker: connector.NewWorker(st, dir, opts), rec: connector.NewReconciler(st, dir, opts)}
	return &mailEnv{env: e, sink: sink, dbPath: dbPath, logs: logs}
}

// dbText returns every text value of every table of the database.
func (e *mailEnv) dbText() string {
	e.t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(e.ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		e.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tbl := range tables {
		rs, err := db.QueryContext(e.ctx, fmt.Sprintf(`SELECT * FROM %q`, tbl))
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			for _, v := range vals {
				fmt.Fprintf(&b, "%s\t", v)
			}
			b.WriteString("\n")
		}
		rs.Close()
	}
	if len(tables) < 3 {
		e.t.Fatalf("found only tables %v", tables)
	}
	return b.String()
}

func (e *mailEnv) record(id, event string) *connector.MailRecord {
	e.t.Helper()
	r := e.user(id).Onboarding.Mail[event]
	if r == nil {
		e.t.Fatalf("no mail record %q on %s: %+v", event, id, e.user(id).Onboarding.Mail)
	}
	return r
}

func TestInvitationMailCarriesTheLinkAndNothingElseDoes(t *testing.T) {
	e := newMailEnv(t, nil)
	u := e.signUp("alice@tech.gov.sg", false)
	e.drain()
	got := e.wantState(u.ID, connector.StateInvited)

	ms := e.sink.Mails()
	if len(ms) != 1 {
		t.Fatalf("sink got %d mails, want 1", len(ms))
	}
	m := ms[0]
	if !m.TLS || len(m.To) != 1 || m.To[0] != "alice@tech.gov.sg" {
		t.Fatalf("mail to %v over TLS %v", m.To, m.TLS)
	}
	parts, err := m.Parts()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(parts["text/plain"], fakeRedeemLink) || !strings.Contains(parts["text/html"], fakeRedeemLink) {
		t.Fatalf("the mail lacks the redeem link:\n%s\n%s", parts["text/plain"], parts["text/html"])
	}
	if !strings.Contains(parts["text/plain"], "Welcome to the agency.") {
		t.Errorf("the invitation message (which Graph drops) is not in the mail:\n%s", parts["text/plain"])
	}
	event := connector.InvitationMailEvent(*got.Onboarding.InvitedAt)
	if want := "<" + mail.MessageID(u.ID, event, "tech.gov.sg") + ">"; m.Header("Message-Id") != want {
		t.Errorf("Message-ID %q, want %q", m.Header("Message-Id"), want)
	}
	r := e.record(u.ID, event)
	if r.SentAt == nil || r.SendingAt != nil || r.Uncertain || r.Attempts != 1 {
		t.Errorf("record %+v", r)
	}
	// Graph was asked again for a fresh link, without its own mail.
	if n := e.dir.invitations["alice@tech.gov.sg"]; n != 2 {
		t.Errorf("invitations = %d, want 2 (the invitation, then the fresh link)", n)
	}
	if !e.hasEvent(u.ID, "mail.sent") {
		t.Error("no mail.sent event")
	}

	db := e.dbText()
	if !strings.Contains(db, "alice@tech.gov.sg") || !strings.Contains(db, `"sentAt"`) {
		t.Fatalf("the database scan does not see the user's facts:\n%s", db)
	}
	for what, text := range map[string]string{"database": db, "logs": e.logs.String(), "events": eventsText(t, e.env, u.ID)} {
		if strings.Contains(text, "redeem.invalid") || strings.Contains(text, "secret") {
			t.Errorf("the redeem link is in the %s:\n%s", what, text)
		}
	}
	if !strings.Contains(e.logs.String(), "mail sent") {
		t.Errorf("logs do not show the mail sent:\n%s", e.logs.String())
	}
}

func eventsText(t *testing.T, e *env, id string) string {
	b, err := json.Marshal(e.events(id))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMailRetriedAfterSMTPErrorIsSentOnce(t *testing.T) {
	e := newMailEnv(t, nil)
	e.sink.FailNext(2, 451)
	u := e.signUp("bob@tech.gov.sg", false)
	e.drain()
	if n := len(e.sink.Mails()); n != 1 {
		t.Fatalf("sink got %d mails, want 1", n)
	}
	r := e.record(u.ID, connector.InvitationMailEvent(*e.user(u.ID).Onboarding.InvitedAt))
	if r.SentAt == nil || r.Attempts != 3 || r.Uncertain || r.LastError != "" {
		t.Errorf("record %+v, want sent at the third attempt, not uncertain", r)
	}
	if e.hasEvent(u.ID, "mail.uncertain") {
		t.Error("a refused attempt counted as uncertain")
	}
}

func TestMailNotSentTwiceForADuplicatedJob(t *testing.T) {
	e := newMailEnv(t, nil)
	u := e.signUp("carol@tech.gov.sg", false)
	// Run the invitation only: its mail job is queued with it.
	if _, err := e.worker.RunOnce(e.ctx); err != nil {
		t.Fatal(err)
	}
	event := connector.InvitationMailEvent(*e.user(u.ID).Onboarding.InvitedAt)
	dup := connector.Job{Kind: connector.JobMail, Subject: u.ID, RunAt: e.clock.Now(), Created: e.clock.Now(),
		Payload: json.RawMessage(fmt.Sprintf(`{"template":"invitation","userId":%q,"event":%q}`, u.ID, event))}
	// A replayed row beside the original, and another after it was sent.
	if err := e.store.EnqueueJobs(e.ctx, []connector.Job{dup, dup}); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if err := e.store.EnqueueJobs(e.ctx, []connector.Job{dup}); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if n := len(e.sink.Mails()); n != 1 {
		t.Fatalf("sink got %d mails, want 1", n)
	}
	if n := e.dir.invitations["carol@tech.gov.sg"]; n != 2 {
		t.Errorf("invitations = %d, want 2: a duplicate must not ask Graph for a link either", n)
	}
}

// crashOnce delivers the first mail, then "crashes": it cancels the worker
// before the delivery is recorded.
type crashOnce struct {
	inner  connector.Mailer
	cancel context.CancelFunc
	mu     sync.Mutex
	done   bool
}

func (c *crashOnce) Send(ctx context.Context, m connector.MailMessage) error {
	if err := c.inner.Send(ctx, m); err != nil {
		return err
	}
	c.mu.Lock()
	first := !c.done
	c.done = true
	c.mu.Unlock()
	if first {
		c.cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func TestMailAfterACrashMidSendIsMarkedUncertain(t *testing.T) {
	crash := &crashOnce{}
	e := newMailEnv(t, func(m connector.Mailer) connector.Mailer { crash.inner = m; return crash })
	u := e.signUp("dave@tech.gov.sg", false)
	if _, err := e.worker.RunOnce(e.ctx); err != nil { // the invitation
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(e.ctx)
	crash.cancel = cancel
	if _, err := e.worker.RunOnce(wctx); err != nil { // the mail: delivered, then the crash
		t.Fatal(err)
	}
	event := connector.InvitationMailEvent(*e.user(u.ID).Onboarding.InvitedAt)
	if r := e.record(u.ID, event); r.SendingAt == nil || r.SentAt != nil {
		t.Fatalf("after the crash the record is %+v, want sending", r)
	}
	e.drain() // the claim runs out; another attempt
	ms := e.sink.Mails()
	if len(ms) != 2 {
		t.Fatalf("sink got %d mails, want the mail and one copy", len(ms))
	}
	if ms[0].Header("Message-Id") != ms[1].Header("Message-Id") {
		t.Errorf("the copy has another Message-ID: %q vs %q", ms[0].Header("Message-Id"), ms[1].Header("Message-Id"))
	}
	r := e.record(u.ID, event)
	if !r.Uncertain || r.SentAt == nil {
		t.Errorf("record %+v, want sent and uncertain", r)
	}
	if !e.hasEvent(u.ID, "mail.uncertain") {
		t.Error("no mail.uncertain event")
	}
	e.drain()
	if n := len(e.sink.Mails()); n != 2 {
		t.Fatalf("sink got %d mails after the record said sent", n)
	}
}

func TestInvitationMailStopsWhenGraphAnswersWithAnotherGuest(t *testing.T) {
	e := newMailEnv(t, nil)
	u := e.signUp("erin@tech.gov.sg", false)
	if _, err := e.worker.RunOnce(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateUser(e.ctx, u.ID, func(cur *connector.User) (connector.Change, error) {
		cur.Onboarding.GuestID = "guest-recorded-elsewhere"
		return connector.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if n := len(e.sink.Mails()); n != 0 {
		t.Fatalf("a link was mailed for another guest (%d mails)", n)
	}
	got := e.user(u.ID)
	if !strings.Contains(got.Onboarding.LastError, "not the recorded guest") {
		t.Errorf("lastError %q", got.Onboarding.LastError)
	}
}

func TestInvitationMailSkippedOnceRedeemed(t *testing.T) {
	e := newMailEnv(t, nil)
	u := e.signUp("fay@tech.gov.sg", false)
	if _, err := e.worker.RunOnce(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateUser(e.ctx, u.ID, func(cur *connector.User) (connector.Change, error) {
		t := e.clock.Now()
		cur.Onboarding.RedeemedAt = &t
		return connector.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if n := len(e.sink.Mails()); n != 0 {
		t.Fatalf("sink got %d mails for a redeemed invitation", n)
	}
	if r := e.record(u.ID, connector.InvitationMailEvent(*e.user(u.ID).Onboarding.InvitedAt)); r.Skipped != "redeemed" {
		t.Errorf("record %+v", r)
	}
}

func TestWithoutMailerNoMailJob(t *testing.T) {
	for _, sendEmail := range []bool{true, false} {
		e := newEnv(t, func(o *connector.Options) { o.Invitation.SendEmail = sendEmail })
		u := e.signUp("gus@tech.gov.sg", false)
		e.drain()
		got := e.wantState(u.ID, connector.StateInvited)
		if got.Onboarding.Mail != nil {
			t.Errorf("sendEmail %v without a mailer: mail records %+v", sendEmail, got.Onboarding.Mail)
		}
	}
	// A mailer with sendEmail true: Graph mails the invitation; passbridge does not.
	e := newMailEnv(t, nil)
	e.opts.Invitation.SendEmail = true
	e.svc = connector.NewService(e.store, e.opts)
	e.worker = connector.NewWorker(e.store, e.dir, e.opts)
	u := e.signUp("hal@tech.gov.sg", false)
	e.drain()
	if n := len(e.sink.Mails()); n != 0 || e.user(u.ID).Onboarding.Mail != nil {
		t.Fatalf("sendEmail true: passbridge mailed %d invitations", n)
	}
}
