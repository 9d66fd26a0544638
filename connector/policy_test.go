package connector_test

import (
	"errors"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

func TestCheckSignUp(t *testing.T) {
	p := connector.PolicyOptions{
		AllowedDomains:      []string{"gov.sg", "*.gov.sg"},
		BlockedDomains:      []string{"spam.gov.sg"},
		BlockedMailboxTypes: []string{"LiteMail"},
	}
	tests := map[string]struct {
		field, email, mailbox string
		wantField, wantDetail string
	}{
		"ok/exact domain":          {field: "emails", email: "alice@gov.sg"},
		"ok/subdomain":             {field: "emails", email: "alice@tech.gov.sg"},
		"ok/deep subdomain":        {field: "emails", email: "alice@a.b.gov.sg"},
		"ok/case":                  {field: "emails", email: "Alice@Tech.GOV.SG"},
		"ok/full mailbox type":     {field: "emails", email: "alice@tech.gov.sg", mailbox: "Exchange"},
		"fail/gmail":               {field: "emails", email: "alice@gmail.com", wantField: "emails", wantDetail: `"alice@gmail.com": gmail.com is not an organisational domain; sign up with your agency address (gov.sg or *.gov.sg)`},
		"fail/lookalike suffix":    {field: "emails", email: "bob@evilgov.sg", wantField: "emails", wantDetail: `"bob@evilgov.sg": evilgov.sg is not an organisational domain; sign up with your agency address (gov.sg or *.gov.sg)`},
		"fail/domain as subdomain": {field: "emails", email: "bob@gov.sg.evil.com", wantField: "emails", wantDetail: `"bob@gov.sg.evil.com": gov.sg.evil.com is not an organisational domain; sign up with your agency address (gov.sg or *.gov.sg)`},
		"fail/blocked domain":      {field: "emails", email: "eve@spam.gov.sg", wantField: "emails", wantDetail: `"eve@spam.gov.sg": spam.gov.sg is not accepted for sign-up; sign up with your agency address (gov.sg or *.gov.sg)`},
		"fail/litemail":            {field: "emails", email: "alice@tech.gov.sg", mailbox: "litemail", wantField: connector.FieldMailboxType, wantDetail: `LiteMail mailboxes cannot sign up (they cannot complete onboarding); sign up with your agency address (gov.sg or *.gov.sg) on a full mailbox`},
		"fail/malformed":           {field: "userName", email: "alice@@tech.gov.sg", wantField: "userName", wantDetail: `"alice@@tech.gov.sg" is not a well-formed e-mail address (expected name@domain); sign up with your agency address (gov.sg or *.gov.sg)`},
		"fail/display name":        {field: "emails", email: "Alice <alice@tech.gov.sg>", wantField: "emails", wantDetail: `"Alice <alice@tech.gov.sg>" is not a well-formed e-mail address (expected name@domain); sign up with your agency address (gov.sg or *.gov.sg)`},
		"fail/no dot":              {field: "emails", email: "alice@localhost", wantField: "emails", wantDetail: `"alice@localhost" is not a well-formed e-mail address (the domain needs a dot); sign up with your agency address (gov.sg or *.gov.sg)`},
		"fail/bad label":           {field: "emails", email: "alice@-x.gov.sg", wantField: "emails", wantDetail: `"alice@-x.gov.sg" is not a well-formed e-mail address (invalid domain -x.gov.sg); sign up with your agency address (gov.sg or *.gov.sg)`},
		"fail/empty":               {field: "emails", email: "", wantField: "emails", wantDetail: `"" is not a well-formed e-mail address (empty); sign up with your agency address (gov.sg or *.gov.sg)`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := p.CheckSignUp(tc.field, tc.email, tc.mailbox)
			if tc.wantDetail == "" {
				if err != nil {
					t.Fatalf("CheckSignUp(%q) = %v, want nil", tc.email, err)
				}
				return
			}
			var ie *connector.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("CheckSignUp(%q) = %v, want *InputError", tc.email, err)
			}
			if ie.Field != tc.wantField || ie.Detail != tc.wantDetail {
				t.Errorf("CheckSignUp(%q) =\n  field %q detail %q\nwant\n  field %q detail %q", tc.email, ie.Field, ie.Detail, tc.wantField, tc.wantDetail)
			}
		})
	}
}

func TestCheckSignUpWildcardOnly(t *testing.T) {
	p := connector.PolicyOptions{AllowedDomains: []string{"*.gov.sg"}}
	if err := p.CheckSignUp("emails", "a@tech.gov.sg", ""); err != nil {
		t.Errorf("subdomain refused: %v", err)
	}
	// A wildcard covers subdomains only: the parent is a different
	// organisation and must be listed itself.
	if err := p.CheckSignUp("emails", "a@gov.sg", ""); err == nil {
		t.Errorf("gov.sg accepted by *.gov.sg alone")
	}
	open := connector.PolicyOptions{}
	if err := open.CheckSignUp("emails", "a@example.com", ""); err != nil {
		t.Errorf("no allowed domains: %v", err)
	}
}
