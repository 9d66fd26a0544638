package connector_test

import (
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

func TestDerive(t *testing.T) {
	t0 := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	p := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	agreements := []connector.Agreement{
		{Name: "Terms of Use", ID: "tou", RequiredWhen: "always"},
		{Name: "Privacy Policy", ID: "pp"},
		{Name: "MDM AUP", ID: "mdm", RequiredWhen: "seed"},
	}
	acc := func(names ...string) []connector.AgreementAcceptance {
		var out []connector.AgreementAcceptance
		for _, n := range names {
			out = append(out, connector.AgreementAcceptance{Name: n, AcceptedAt: t0})
		}
		return out
	}
	day := 24 * time.Hour
	invited := connector.Onboarding{GuestID: "g", InvitedAt: p(0), ExpiresAt: p(30 * day)}
	with := func(f func(o *connector.Onboarding)) connector.Onboarding {
		o := invited
		f(&o)
		return o
	}
	tests := map[string]struct {
		active bool
		o      connector.Onboarding
		now    time.Duration
		want   connector.State
	}{
		"pending":       {active: true, o: connector.Onboarding{}, want: connector.StatePending},
		"invited":       {active: true, o: invited, now: day, want: connector.StateInvited},
		"redeemed":      {active: true, o: with(func(o *connector.Onboarding) { o.RedeemedAt = p(day) }), now: day, want: connector.StateRedeemed},
		"mfaRegistered": {active: true, o: with(func(o *connector.Onboarding) { o.RedeemedAt, o.MFARegisteredAt = p(day), p(day) }), now: day, want: connector.StateMFARegistered},
		"mfa, one agreement": {active: true, o: with(func(o *connector.Onboarding) {
			o.RedeemedAt, o.MFARegisteredAt, o.Agreements = p(day), p(day), acc("Terms of Use")
		}), now: day, want: connector.StateMFARegistered},
		"onboarded": {active: true, o: with(func(o *connector.Onboarding) {
			o.RedeemedAt, o.MFARegisteredAt, o.Agreements = p(day), p(day), acc("Terms of Use", "Privacy Policy")
		}), now: day, want: connector.StateOnboarded},
		"onboarded by id": {active: true, o: with(func(o *connector.Onboarding) {
			o.RedeemedAt, o.MFARegisteredAt = p(day), p(day)
			o.Agreements = []connector.AgreementAcceptance{{Name: "x", ID: "TOU"}, {Name: "y", ID: "pp"}}
		}), now: day, want: connector.StateOnboarded},
		"seed needs MDM AUP": {active: true, o: with(func(o *connector.Onboarding) {
			o.RedeemedAt, o.MFARegisteredAt, o.Agreements, o.Seed.ProvisionedAt = p(day), p(day), acc("Terms of Use", "Privacy Policy"), p(day)
		}), now: day, want: connector.StateMFARegistered},
		"seed with MDM AUP": {active: true, o: with(func(o *connector.Onboarding) {
			o.RedeemedAt, o.MFARegisteredAt, o.Agreements, o.Seed.ProvisionedAt = p(day), p(day), acc("Terms of Use", "Privacy Policy", "MDM AUP"), p(day)
		}), now: day, want: connector.StateOnboarded},
		"out of order: mfa": {active: true, o: with(func(o *connector.Onboarding) { o.MFARegisteredAt = p(day) }), now: day, want: connector.StateMFARegistered},
		"out of order: all": {active: true, o: with(func(o *connector.Onboarding) {
			o.MFARegisteredAt, o.Agreements = p(day), acc("Privacy Policy", "Terms of Use")
		}), now: day, want: connector.StateOnboarded},
		"out of order: agreed": {active: true, o: with(func(o *connector.Onboarding) { o.Agreements = acc("Terms of Use") }), now: day, want: connector.StateRedeemed},
		"expired by clock":     {active: true, o: invited, now: 30 * day, want: connector.StateExpired},
		"redeemed expires":     {active: true, o: with(func(o *connector.Onboarding) { o.RedeemedAt = p(day) }), now: 31 * day, want: connector.StateExpired},
		"expired fact":         {active: true, o: with(func(o *connector.Onboarding) { o.ExpiredAt = p(30 * day) }), now: 30 * day, want: connector.StateExpired},
		"onboarded late still": {active: true, o: with(func(o *connector.Onboarding) {
			o.MFARegisteredAt, o.Agreements = p(day), acc("Privacy Policy", "Terms of Use")
		}), now: 40 * day, want: connector.StateOnboarded},
		"onboarded, seed later, past validity": {active: true, o: with(func(o *connector.Onboarding) {
			o.MFARegisteredAt, o.Agreements, o.OnboardedAt, o.Seed.ProvisionedAt = p(day), acc("Privacy Policy", "Terms of Use"), p(day), p(35*day)
		}), now: 40 * day, want: connector.StateMFARegistered},
		// Was {active: false, o: invited}: "disabled" before Graph confirmed
		// it, the defect of issue 10. Disabled is the worker's record of the
		// confirmation; without it the state stays what it was.
		"disabled":             {active: false, o: with(func(o *connector.Onboarding) { o.Disabled = true }), now: day, want: connector.StateDisabled},
		"disable unconfirmed":  {active: false, o: invited, now: day, want: connector.StateInvited},
		"disabled, guest gone": {active: false, o: with(func(o *connector.Onboarding) { o.GuestGone = true }), now: day, want: connector.StateDisabled},
		"disabled pending":     {active: false, o: connector.Onboarding{}, want: connector.StateDisabled},
		"failed":               {active: true, o: connector.Onboarding{Failed: true, LastError: "x"}, want: connector.StateFailed},
		"failed beats time":    {active: true, o: with(func(o *connector.Onboarding) { o.Failed = true }), now: 40 * day, want: connector.StateFailed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u := connector.User{Active: tc.active, Onboarding: tc.o}
			if got := connector.Derive(u, t0.Add(tc.now), agreements); got != tc.want {
				t.Errorf("Derive = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDeriveSeed(t *testing.T) {
	t0 := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	p := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	tests := map[string]struct {
		s    connector.Seed
		want string
	}{
		"none":        {s: connector.Seed{}, want: ""},
		"requested":   {s: connector.Seed{Requested: true, RequestedAt: p(0)}, want: connector.SeedRequested},
		"provisioned": {s: connector.Seed{Requested: true, RequestedAt: p(0), ProvisionedAt: p(time.Hour), ExpiresAt: p(48 * time.Hour)}, want: connector.SeedProvisioned},
		"expired":     {s: connector.Seed{Requested: true, RequestedAt: p(0), ProvisionedAt: p(time.Hour), ExpiresAt: p(time.Hour)}, want: connector.SeedExpired},
		"withdrawn":   {s: connector.Seed{RequestedAt: p(0)}, want: connector.SeedWithdrawn},
	}
	for name, tc := range tests {
		if got := connector.DeriveSeed(tc.s, t0.Add(2*time.Hour)); got != tc.want {
			t.Errorf("%s: DeriveSeed = %q, want %q", name, got, tc.want)
		}
	}
}
