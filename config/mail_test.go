package config

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMailDefaultsAndEnv(t *testing.T) {
	p := writeFile(t, `
invitation:
  redirectURL: "https://myapps.microsoft.com"
  sendEmail: false
mail:
  from: "TechPass <noreply@tech.gov.sg>"
  smtp:
    host: smtp.tech.gov.sg
    username: passbridge
    password: "${SMTP_PASSWORD}"
`)
	cfg, err := LoadValidated(p, []string{"SMTP_PASSWORD=pa55word", "PASSBRIDGE_MAIL_SMTP_PORT=2525"})
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Mail
	if !m.Enabled() || m.SMTP.Port != 2525 || !m.SMTP.StartTLS || m.SMTP.Timeout.D() != 30*time.Second || m.SMTP.Password != "pa55word" {
		t.Errorf("mail %+v", m)
	}
	if d := Default().Mail.SMTP; d.Port != 587 || !d.StartTLS {
		t.Errorf("defaults %+v, want port 587 and starttls true", d)
	}
	// The password is redacted in dumps and logs.
	if r := cfg.Redacted(); r.Mail.SMTP.Password != RedactedText {
		t.Errorf("redacted password %q", r.Mail.SMTP.Password)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", cfg)
	if strings.Contains(buf.String(), "pa55word") || !strings.Contains(buf.String(), `"host":"smtp.tech.gov.sg"`) {
		t.Errorf("logged config:\n%s", buf.String())
	}
	if ws := cfg.Warnings(); hasKey(ws, "mail.smtp.starttls") || hasKey(ws, "invitation.sendEmail") {
		t.Errorf("warnings %v", ws)
	}
}

func hasKey(ps []Problem, key string) bool {
	for _, p := range ps {
		if p.Key == key {
			return true
		}
	}
	return false
}

func TestMailValidate(t *testing.T) {
	c := validConfig()
	c.Mail.SMTP.Host = "smtp.example.com:25"
	c.Mail.SMTP.Username = "u"
	c.Mail.SMTP.Port = 0
	assertProblems(t, c.Validate(), []want{
		{key: "mail.smtp.host", msg: "is not a host name"},
		{key: "mail.smtp.port", msg: "at least 1"},
		{key: "mail.from", msg: "is required when mail.smtp.host is set"},
		{key: "mail.smtp.password", msg: "is required when mail.smtp.username is set"},
	})
	c = validConfig()
	c.Mail.From = "not an address"
	assertProblems(t, c.Validate(), []want{{key: "mail.from", msg: "is not an address"}})
}

func TestMailWarnings(t *testing.T) {
	c := validConfig()
	c.Mail.From, c.Mail.SMTP.Host, c.Mail.SMTP.StartTLS = "noreply@tech.gov.sg", "127.0.0.1", false
	if ws := c.Warnings(); !hasKey(ws, "mail.smtp.starttls") {
		t.Errorf("starttls false: no warning in %v", ws)
	}
	c = validConfig()
	c.Invitation.SendEmail = false
	if ws := c.Warnings(); !hasKey(ws, "invitation.sendEmail") {
		t.Errorf("sendEmail false without mail: no warning in %v", ws)
	}
}

func TestMailTemplatesChecked(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "reminder.html"), []byte("<p>{{.Email}</p>"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := validConfig()
	c.Mail.Templates = dir
	assertProblems(t, c.Validate(), []want{{key: "mail.templates", msg: filepath.Join(dir, "reminder.html")}})
	ps := problemsOf(t, c.Validate())
	if !strings.Contains(ps[0].Message, "bad character") {
		t.Errorf("message lacks the template error: %q", ps[0].Message)
	}

	ok := t.TempDir()
	if err := os.WriteFile(filepath.Join(ok, "reminder.html"), []byte("<p>{{.Email}}</p>"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Mail.Templates = ok
	if err := c.Validate(); err != nil {
		t.Errorf("a good override: %v", err)
	}
	c.Mail.Templates = filepath.Join(ok, "missing")
	assertProblems(t, c.Validate(), []want{{key: "mail.templates", msg: "is not a folder"}})
}
