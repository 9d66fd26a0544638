package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/passbridge/passbridge/connector"
)

// Lifecycle is the account lifecycle after sign-up (ARCHITECTURE.md, "The
// lifecycle after sign-up"): lifecycle.*. A duration of 0 turns its rule
// off (deleteAfterTermination 0: the guest is deleted at termination).
type Lifecycle struct {
	Reminders              Reminders    `yaml:"reminders"`
	DeleteAfterTermination Duration     `yaml:"deleteAfterTermination" validate:"min=0s,max=8760h"`
	Inactivity             Inactivity   `yaml:"inactivity"`
	GraceAfterChange       Duration     `yaml:"graceAfterChange" validate:"min=0s,max=8760h"`
	AccountTypes           AccountTypes `yaml:"accountTypes"`
}

// Reminders: lifecycle.reminders.after (first reminder of an unredeemed
// invitation) and .every (then one each).
type Reminders struct {
	After Duration `yaml:"after" validate:"min=0s,max=8760h"`
	Every Duration `yaml:"every" validate:"min=0s,max=8760h"`
}

// Inactivity: lifecycle.inactivity.* (and lifecycle.accountTypes.<type>.
// inactivity.*), counted from the last successful sign-in.
type Inactivity struct {
	RemindAfter    Duration `yaml:"remindAfter" validate:"min=0s,max=87600h"`
	DisableAfter   Duration `yaml:"disableAfter" validate:"min=0s,max=87600h"`
	TerminateAfter Duration `yaml:"terminateAfter" validate:"min=0s,max=87600h"`
}

// AccountTypes maps an accountType (public_officer, vendor, temp) to its
// overrides.
type AccountTypes map[string]AccountType

// AccountType overrides invitation.validity and lifecycle.inactivity.* for
// one account type (0 or left out: the general value).
type AccountType struct {
	Validity   Duration   `yaml:"validity" validate:"min=0s,max=8760h"`
	Inactivity Inactivity `yaml:"inactivity"`
}

// MFA: mfa.trustHomeTenant (a redeemed guest counts as MFA-registered:
// cross-tenant access trusts the home tenant's MFA).
type MFA struct {
	TrustHomeTenant bool `yaml:"trustHomeTenant"`
}

func defaultLifecycle() Lifecycle {
	return Lifecycle{
		Reminders:              Reminders{After: Duration(connector.DefaultRemindersAfter), Every: Duration(connector.DefaultRemindersEvery)},
		DeleteAfterTermination: Duration(connector.DefaultDeleteAfterTermination),
		Inactivity: Inactivity{RemindAfter: Duration(connector.DefaultInactivityRemindAfter),
			DisableAfter: Duration(connector.DefaultInactivityDisableAfter), TerminateAfter: Duration(connector.DefaultInactivityTermAfter)},
		GraceAfterChange: Duration(connector.DefaultGraceAfterChange),
	}
}

func (in Inactivity) options() connector.InactivityOptions {
	return connector.InactivityOptions{RemindAfter: in.RemindAfter.D(), DisableAfter: in.DisableAfter.D(), TerminateAfter: in.TerminateAfter.D()}
}

// LifecycleOptions maps lifecycle.*, invitation.resendMinInterval and
// mfa.trustHomeTenant onto the domain's options.
func (c *Config) LifecycleOptions() connector.LifecycleOptions {
	l := c.Lifecycle
	o := connector.LifecycleOptions{
		RemindersAfter:         l.Reminders.After.D(),
		RemindersEvery:         l.Reminders.Every.D(),
		DeleteAfterTermination: l.DeleteAfterTermination.D(),
		ResendMinInterval:      c.Invitation.ResendMinInterval.D(),
		Inactivity:             l.Inactivity.options(),
		GraceAfterChange:       l.GraceAfterChange.D(),
		TrustHomeTenantMFA:     c.MFA.TrustHomeTenant,
	}
	if len(l.AccountTypes) > 0 {
		o.AccountTypes = map[string]connector.AccountTypeOptions{}
		for name, t := range l.AccountTypes {
			o.AccountTypes[name] = connector.AccountTypeOptions{Validity: t.Validity.D(), Inactivity: t.Inactivity.options()}
		}
	}
	return o
}

// lifecycleChecks: account types are known ones, and each inactivity rule
// reminds before it disables, and disables before it deletes.
func (c *Config) lifecycleChecks(ps *Problems) {
	order := func(key string, in Inactivity) {
		steps := []struct {
			name string
			d    Duration
		}{{"remindAfter", in.RemindAfter}, {"disableAfter", in.DisableAfter}, {"terminateAfter", in.TerminateAfter}}
		for i := 1; i < len(steps); i++ {
			for j := 0; j < i; j++ {
				if steps[i].d > 0 && steps[j].d > 0 && steps[i].d <= steps[j].d {
					ps.add(key+"."+steps[i].name, fmt.Sprintf("%s is not later than %s.%s (%s)", steps[i].d, key, steps[j].name, steps[j].d),
						"remind first, then disable, then delete: remindAfter < disableAfter < terminateAfter")
				}
			}
		}
	}
	order("lifecycle.inactivity", c.Lifecycle.Inactivity)
	names := make([]string, 0, len(c.Lifecycle.AccountTypes))
	for name := range c.Lifecycle.AccountTypes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		key := "lifecycle.accountTypes." + name
		if !slices.Contains(connector.AccountTypes, name) {
			ps.add(key, fmt.Sprintf("%q is not an account type", name), "use "+strings.Join(connector.AccountTypes, ", "))
			continue
		}
		in := c.Lifecycle.Inactivity
		t := c.Lifecycle.AccountTypes[name].Inactivity
		if t.RemindAfter > 0 {
			in.RemindAfter = t.RemindAfter
		}
		if t.DisableAfter > 0 {
			in.DisableAfter = t.DisableAfter
		}
		if t.TerminateAfter > 0 {
			in.TerminateAfter = t.TerminateAfter
		}
		order(key+".inactivity", in)
	}
}
