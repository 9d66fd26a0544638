package connector

import (
	"io"
	"log/slog"
	"time"
)

// Options configure the domain. cmd/passbridge maps the configuration file
// onto them; zero values take the defaults of the configuration contract.
type Options struct {
	Clock  Clock
	Logger *slog.Logger

	Policy PolicyOptions

	// InvitationValidity is how long an invitation may stay unfinished before
	// the onboarding is terminated (default 720h).
	InvitationValidity time.Duration
	// Invitation is what invitations say (email, redirect URL, message …).
	Invitation Invitation

	Agreements []Agreement
	Seed       SeedOptions
	// GroupMap maps a SCIM group displayName to an existing Entra group id.
	GroupMap map[string]string
}

// PolicyOptions is the sign-up policy.
type PolicyOptions struct {
	// AllowedDomains are organisational e-mail domains ("gov.sg") or wildcard
	// subdomains ("*.gov.sg"). Empty allows every domain not blocked.
	AllowedDomains []string
	BlockedDomains []string
	// BlockedMailboxTypes are mailbox types refused at sign-up (default LiteMail).
	BlockedMailboxTypes []string
}

// Agreement is a Terms of Use agreement a user must accept.
type Agreement struct {
	Name string
	ID   string
	// RequiredWhen is "always" or "seed" (only once SEED is provisioned).
	RequiredWhen string
}

// SeedOptions configure SEED device provisioning.
type SeedOptions struct {
	GroupID         string
	DueBusinessDays int // default 3
	Holidays        []time.Time
	Validity        time.Duration // default 720h
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.InvitationValidity <= 0 {
		o.InvitationValidity = 720 * time.Hour
	}
	if o.Policy.BlockedMailboxTypes == nil {
		o.Policy.BlockedMailboxTypes = []string{"LiteMail"}
	}
	if o.Seed.DueBusinessDays <= 0 {
		o.Seed.DueBusinessDays = 3
	}
	if o.Seed.Validity <= 0 {
		o.Seed.Validity = 720 * time.Hour
	}
	return o
}
