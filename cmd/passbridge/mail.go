package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/mail"
)

// mailSender is what the mail package's Sender and Memory have in common.
type mailSender interface {
	Send(ctx context.Context, m mail.Message) error
}

// mailerFor adapts a mail sender to the connector's Mailer.
type mailerFor struct{ s mailSender }

func (m mailerFor) Send(ctx context.Context, msg connector.MailMessage) error {
	return m.s.Send(ctx, mail.Message(msg))
}

// newMailer returns the SMTP mailer mail.* configures, or nil when
// mail.smtp.host is not set (passbridge then sends no mail of its own).
// The templates are parsed and rendered once here, so that a broken
// override stops the start instead of the first mail.
func newMailer(cfg *config.Config, log *slog.Logger) (connector.Mailer, error) {
	if !cfg.Mail.Enabled() {
		return nil, nil
	}
	tpl, err := mail.LoadTemplates(cfg.Mail.Templates)
	if err != nil {
		return nil, fmt.Errorf("mail.templates: %w", err)
	}
	if len(tpl.Overridden) > 0 {
		log.Info("mail templates overridden", "files", tpl.Overridden)
	}
	s := cfg.Mail.SMTP
	snd, err := mail.NewSender(mail.Options{
		From: cfg.Mail.From, Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Password,
		NoStartTLS: !s.StartTLS, Timeout: s.Timeout.D(), Templates: tpl, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if !cfg.Invitation.SendEmail {
		log.Info("passbridge mails invitations itself", "smtp", s.Host, "starttls", s.StartTLS)
	}
	return mailerFor{snd}, nil
}
