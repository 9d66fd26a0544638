package mail_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/mail"
	"github.com/passbridge/passbridge/mail/mailtest"
)

func sender(t *testing.T, sink *mailtest.Sink, mod func(*mail.Options)) *mail.Sender {
	t.Helper()
	o := mail.Options{From: "TechPass <noreply@tech.gov.sg>", Host: sink.Host, Port: sink.Port, TLSConfig: sink.ClientTLS}
	if mod != nil {
		mod(&o)
	}
	s, err := mail.NewSender(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const link = "https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f%3fticket%3dabc"

func invitation() mail.Message {
	return mail.Message{Template: mail.TemplateInvitation, To: "alice@tech.gov.sg", ToName: "Alice Tan",
		UserID: "u1", Event: "invitation:1", Data: map[string]string{"RedeemURL": link, "ExpiresAt": "2026-12-31"}}
}

func TestSendTextAndHTMLOverSTARTTLS(t *testing.T) {
	sink := mailtest.Start(t, mailtest.Options{Username: "relay", Password: "s3cret"})
	s := sender(t, sink, func(o *mail.Options) { o.Username, o.Password = "relay", "s3cret" })
	if err := s.Send(context.Background(), invitation()); err != nil {
		t.Fatal(err)
	}
	ms := sink.Mails()
	if len(ms) != 1 {
		t.Fatalf("sink got %d mails, want 1", len(ms))
	}
	m := ms[0]
	if !m.TLS || m.Auth != "relay" {
		t.Errorf("TLS %v auth %q: want STARTTLS and AUTH as relay", m.TLS, m.Auth)
	}
	if len(m.To) != 1 || m.To[0] != "alice@tech.gov.sg" || m.From != "noreply@tech.gov.sg" {
		t.Errorf("envelope from %q to %v", m.From, m.To)
	}
	if got := m.Header("Subject"); got != "Your TechPass invitation" {
		t.Errorf("subject %q", got)
	}
	want := "<" + mail.MessageID("u1", "invitation:1", "tech.gov.sg") + ">"
	if got := m.Header("Message-Id"); got != want {
		t.Errorf("Message-ID %q, want %q", got, want)
	}
	parts, err := m.Parts()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(parts["text/plain"], link) || !strings.Contains(parts["text/plain"], "Alice Tan") {
		t.Errorf("text part lacks the link or the name:\n%s", parts["text/plain"])
	}
	// html/template escapes & in an attribute; the link is the same URL.
	if !strings.Contains(parts["text/html"], `href="https://login.microsoftonline.com/redeem?rd=`) {
		t.Errorf("html part lacks the link:\n%s", parts["text/html"])
	}
}

func TestMessageIDIsDeterministic(t *testing.T) {
	a := mail.MessageID("u1", "invitation:1", "x.sg")
	if a != mail.MessageID("u1", "invitation:1", "x.sg") {
		t.Fatal("same user and event, different Message-IDs")
	}
	if a == mail.MessageID("u1", "reminder:1", "x.sg") || a == mail.MessageID("u2", "invitation:1", "x.sg") {
		t.Fatal("different events share a Message-ID")
	}
}

func TestSTARTTLSRequiredByDefault(t *testing.T) {
	sink := mailtest.Start(t, mailtest.Options{NoStartTLS: true})
	s := sender(t, sink, nil)
	err := s.Send(context.Background(), invitation())
	if err == nil {
		t.Fatal("sent to a server without STARTTLS")
	}
	if !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), "nothing was sent") {
		t.Errorf("error does not say STARTTLS is missing: %v", err)
	}
	if strings.Contains(err.Error(), "ticket") {
		t.Errorf("error quotes the link: %v", err)
	}
	if n := len(sink.Mails()); n != 0 {
		t.Fatalf("sink got %d mails", n)
	}
	// starttls: false (a local relay) sends in the clear.
	s = sender(t, sink, func(o *mail.Options) { o.NoStartTLS, o.TLSConfig = true, nil })
	if err := s.Send(context.Background(), invitation()); err != nil {
		t.Fatal(err)
	}
	if ms := sink.Mails(); len(ms) != 1 || ms[0].TLS {
		t.Fatalf("want one mail in the clear, got %+v", ms)
	}
}

func TestSMTPErrorsClassified(t *testing.T) {
	sink := mailtest.Start(t, mailtest.Options{})
	s := sender(t, sink, nil)
	for _, tc := range []struct {
		code int
		perm bool
	}{{451, false}, {554, true}} {
		sink.FailNext(1, tc.code)
		err := s.Send(context.Background(), invitation())
		var se interface{ Permanent() bool }
		if !errors.As(err, &se) || se.Permanent() != tc.perm {
			t.Errorf("code %d: error %v, want permanent=%v", tc.code, err, tc.perm)
		}
	}
	if n := len(sink.Mails()); n != 0 {
		t.Fatalf("sink kept %d refused mails", n)
	}
}

func TestEveryTemplateRenders(t *testing.T) {
	tpl, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range mail.TemplateNames {
		r, err := tpl.Render(mail.Message{Template: name, To: "a@b.sg"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Subject == "" || !strings.Contains(r.Text, "a@b.sg") || !strings.Contains(r.HTML, "<html>") {
			t.Errorf("%s: %+v", name, r)
		}
	}
	if _, err := tpl.Render(mail.Message{Template: "nope"}); err == nil {
		t.Error("unknown template rendered")
	}
}

func TestOverrideTemplates(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "invitation.txt", `{{define "subject"}}Welcome, {{.DisplayName}}{{end}}Custom text {{.RedeemURL}}`)
	write(t, dir, "invitation.html", `<p>Custom <a href="{{.RedeemURL}}">html</a></p>`)
	tpl, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(tpl.Overridden) != 2 {
		t.Errorf("overridden %v", tpl.Overridden)
	}
	sink := mailtest.Start(t, mailtest.Options{})
	s := sender(t, sink, func(o *mail.Options) { o.Templates = tpl })
	if err := s.Send(context.Background(), invitation()); err != nil {
		t.Fatal(err)
	}
	m := sink.Mails()[0]
	parts, _ := m.Parts()
	if m.Header("Subject") != "Welcome, Alice Tan" || !strings.HasPrefix(parts["text/plain"], "Custom text https://") ||
		!strings.Contains(parts["text/html"], "<p>Custom <a") {
		t.Errorf("override not used: %q %q %q", m.Header("Subject"), parts["text/plain"], parts["text/html"])
	}
	// The other templates stay the embedded ones.
	r, err := tpl.Render(mail.Message{Template: mail.TemplateReminder, To: "a@b.sg"})
	if err != nil || !strings.Contains(r.Subject, "Reminder") {
		t.Errorf("reminder: %v %q", err, r.Subject)
	}
}

func TestBrokenOverrideNamesTheFile(t *testing.T) {
	for _, tc := range []struct{ file, body, want string }{
		{"reminder.txt", `{{define "subject"}}x{{end}}{{if .Email}}`, "unexpected EOF"},
		{"reminder.html", `<p>{{.NoSuchKey}}</p>`, "NoSuchKey"},
		{"disabled.txt", `no subject {{.Email}}`, "defines no subject"},
		{"invitaton.txt", `typo`, "is not a template"},
	} {
		dir := t.TempDir()
		write(t, dir, tc.file, tc.body)
		err := mail.CheckTemplates(dir)
		if err == nil {
			t.Errorf("%s: accepted", tc.file)
			continue
		}
		var te *mail.TemplateError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), filepath.Join(dir, tc.file)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want the file name and %q", tc.file, err, tc.want)
		}
	}
}

func TestMemoryAndRedactLinks(t *testing.T) {
	m, err := mail.NewMemory(nil, "tech.gov.sg")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), invitation()); err != nil {
		t.Fatal(err)
	}
	got := mail.RedactLinks(m.Sent()[0].Text)
	if strings.Contains(got, "ticket") || !strings.Contains(got, "https://…[redeem link]") {
		t.Errorf("not redacted:\n%s", got)
	}
	if s := mail.RedactLinks("see https://myapps.microsoft.com now"); s != "see https://myapps.microsoft.com now" {
		t.Errorf("redacted a plain link: %s", s)
	}
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
