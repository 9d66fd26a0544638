package config

import (
	"errors"
	"fmt"
	netmail "net/mail"
	"os"

	"github.com/passbridge/passbridge/mail"
)

// checkMail checks mail.*: a sender with a server, credentials in pairs,
// and the template overrides, parsed and rendered as at start (a broken
// file is named with its template error).
func (c *Config) checkMail(ps *Problems) {
	m := c.Mail
	if m.From != "" {
		if _, err := netmail.ParseAddress(m.From); err != nil {
			ps.add("mail.from", fmt.Sprintf("%q is not an address: %v", m.From, err), hints["mail.from"])
		}
	}
	if m.Enabled() && m.From == "" {
		ps.add("mail.from", "is required when mail.smtp.host is set", hints["mail.from"])
	}
	if m.SMTP.Username != "" && m.SMTP.Password == "" {
		ps.add("mail.smtp.password", "is required when mail.smtp.username is set", hints["mail.smtp.password"])
	}
	if m.SMTP.Password != "" && m.SMTP.Username == "" {
		ps.add("mail.smtp.username", "is required when mail.smtp.password is set", "write the SMTP user name, or remove the password")
	}
	if m.Templates == "" {
		return
	}
	if fi, err := os.Stat(m.Templates); err != nil || !fi.IsDir() {
		ps.add("mail.templates", fmt.Sprintf("%q is not a folder", m.Templates), "write the folder holding NAME.txt and NAME.html overrides")
		return
	}
	err := mail.CheckTemplates(m.Templates)
	var te *mail.TemplateError
	for _, e := range unjoin(err) {
		if errors.As(e, &te) {
			ps.add("mail.templates", fmt.Sprintf("%s: %v", te.File, te.Err), hints["mail.templates"])
		} else {
			ps.add("mail.templates", e.Error(), hints["mail.templates"])
		}
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// mailWarnings are mail settings that work but are probably not meant.
func (c *Config) mailWarnings() []Problem {
	var ws []Problem
	add := func(key, msg, hint string) { ws = append(ws, Problem{Key: key, Message: msg, Hint: hint}) }
	m := c.Mail
	if m.Enabled() && !m.SMTP.StartTLS {
		add("mail.smtp.starttls", "is false: mails (with their redeem links) and the SMTP password cross the network unencrypted",
			"use it only for a relay on the same host or a trusted network; otherwise remove the key (STARTTLS is then required)")
	}
	if !c.Invitation.SendEmail && !m.Enabled() {
		add("invitation.sendEmail", "is false and mail.smtp.host is not set, so nobody mails the invitation: guests get no redeem link",
			"set mail.smtp to have passbridge mail it, or set invitation.sendEmail to true")
	}
	if m.Enabled() && c.Invitation.SendEmail && c.Invitation.Message != "" {
		add("invitation.message", "is dropped by Microsoft from the invitations it mails for an app",
			"set invitation.sendEmail to false: passbridge then mails the invitation, with the message, itself")
	}
	return ws
}
