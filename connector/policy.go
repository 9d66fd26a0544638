package connector

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
)

// Attribute paths named in policy refusals (InputError.Field).
const (
	FieldEmails      = "emails"
	FieldUserName    = "userName"
	FieldMailboxType = "urn:ietf:params:scim:schemas:extension:techpass:2.0:User:mailboxType"
)

// CheckSignUp applies the sign-up policy to the address to invite (taken
// from field) and the mailbox type the client declared. A refusal is an
// *InputError whose Detail says what to use instead; Detail may show the
// address, which the client sent, but it is never logged by passbridge.
func (p PolicyOptions) CheckSignUp(field, email, mailboxType string) error {
	domain, err := wellFormed(email)
	if err != nil {
		return &InputError{Field: field, Detail: fmt.Sprintf("%q is not a well-formed e-mail address (%v); %s", email, err, p.useInstead())}
	}
	for _, t := range p.BlockedMailboxTypes {
		if mailboxType != "" && strings.EqualFold(strings.TrimSpace(t), strings.TrimSpace(mailboxType)) {
			return &InputError{Field: FieldMailboxType, Detail: fmt.Sprintf("%s mailboxes cannot sign up (they cannot complete onboarding); %s on a full mailbox", t, p.useInstead())}
		}
	}
	for _, b := range p.BlockedDomains {
		if domainMatches(b, domain) {
			return &InputError{Field: field, Detail: fmt.Sprintf("%q: %s is not accepted for sign-up; %s", email, domain, p.useInstead())}
		}
	}
	if len(p.AllowedDomains) == 0 {
		return nil
	}
	for _, a := range p.AllowedDomains {
		if domainMatches(a, domain) {
			return nil
		}
	}
	return &InputError{Field: field, Detail: fmt.Sprintf("%q: %s is not an organisational domain; %s", email, domain, p.useInstead())}
}

// useInstead tells the user which addresses are accepted.
func (p PolicyOptions) useInstead() string {
	if len(p.AllowedDomains) == 0 {
		return "sign up with your organisational address"
	}
	return fmt.Sprintf("sign up with your agency address (%s)", orList(p.AllowedDomains))
}

func orList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// domainMatches reports whether domain is pattern ("gov.sg": exactly) or,
// for "*.gov.sg", a subdomain of it at any depth (but not gov.sg itself, which
// must be listed on its own: an agency's own domain and its parent are
// different organisations).
func domainMatches(pattern, domain string) bool {
	pattern = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(pattern)), ".")
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(domain, "."+rest) && len(domain) > len(rest)+1
	}
	return domain == pattern
}

// wellFormed checks an address as an Entra login ID must be: a bare
// local@domain (no display name, no comments), a DNS domain with a dot. It
// returns the lower-cased domain.
func wellFormed(email string) (string, error) {
	if email == "" {
		return "", fmt.Errorf("empty")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return "", fmt.Errorf("expected name@domain")
	}
	at := strings.LastIndexByte(email, '@')
	local, domain := email[:at], strings.ToLower(email[at+1:])
	if local == "" || strings.ContainsAny(local, " \"") {
		return "", fmt.Errorf("expected name@domain")
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("the domain needs a dot")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("invalid domain %s", domain)
		}
		for _, c := range l {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return "", fmt.Errorf("invalid domain %s", domain)
			}
		}
	}
	return domain, nil
}

// inviteAddress picks the address to invite and the attribute it came from:
// the primary e-mail, else the work one, else the first, else a userName that
// is an address. It does not judge the address: CheckSignUp does.
func inviteAddress(u User) (field, email string, err error) {
	if e := preferredEmail(u); e != "" {
		return FieldEmails, strings.TrimSpace(e), nil
	}
	if strings.Contains(u.UserName, "@") {
		return FieldUserName, strings.TrimSpace(u.UserName), nil
	}
	return FieldEmails, "", &InputError{Field: FieldEmails, Detail: "an organisational e-mail address is required to invite the user: send it in emails (type work, primary) or as userName"}
}

// preferredEmail reads the emails attribute from the client's document to
// find the primary (else work) address; Emails alone does not keep those
// flags.
func preferredEmail(u User) string {
	var doc struct {
		Emails []struct {
			Value   string `json:"value"`
			Type    string `json:"type"`
			Primary any    `json:"primary"`
		} `json:"emails"`
	}
	if len(u.Doc) > 0 && json.Unmarshal(u.Doc, &doc) == nil && len(doc.Emails) > 0 {
		for _, e := range doc.Emails {
			if isTrue(e.Primary) && e.Value != "" {
				return e.Value
			}
		}
		for _, e := range doc.Emails {
			if strings.EqualFold(e.Type, "work") && e.Value != "" {
				return e.Value
			}
		}
	}
	for _, e := range u.Emails {
		if strings.TrimSpace(e) != "" {
			return e
		}
	}
	return ""
}

// isTrue accepts true and "True" (Entra sends booleans as strings).
func isTrue(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return strings.EqualFold(b, "true")
	}
	return false
}
