package webhook

import (
	"fmt"
	"slices"
	"strings"
)

// TypePrefix starts every CloudEvents type passbridge sends: the reverse
// DNS name of the onboarding service, then the event log's type, e.g.
// "sg.techpass.passbridge.onboarding.invited".
const TypePrefix = "sg.techpass.passbridge."

// KnownEventTypes are the event log's types (connector.Event.Type) that a
// webhook's events filter may name. TestKnownEventTypes keeps it in step
// with the types the connector writes.
var KnownEventTypes = []string{
	"deprovisioning.delayed",
	"group.created", "group.deleted", "group.mirrored", "group.updated",
	"job.failed",
	"lifecycle.deleteQueued", "lifecycle.holdCleared", "lifecycle.holdSet", "lifecycle.inactive", "lifecycle.inactivityNotice",
	"lifecycle.reminder", "lifecycle.terminated", "lifecycle.terminationNotice",
	"mail.sent", "mail.skipped", "mail.uncertain",
	"onboarding.addressChangeIgnored", "onboarding.agreementAccepted", "onboarding.conflict", "onboarding.disabled",
	"onboarding.driftRepaired", "onboarding.enabled", "onboarding.expired", "onboarding.failed",
	"onboarding.guestAdopted", "onboarding.guestDeleted", "onboarding.invited", "onboarding.mfaRegistered",
	"onboarding.onboarded", "onboarding.redeemed", "onboarding.reinvite", "onboarding.reset", "onboarding.state",
	"onboarding.resendRequested",
	"seed.expired", "seed.provisioned", "seed.requested",
	"user.activated", "user.created", "user.deactivated", "user.deleted", "user.signedUpAgain",
}

// KnownEventCategories are the first parts of event types: a filter entry
// "<category>.*" selects every type of it, including types added later
// (admin actions, mail).
var KnownEventCategories = []string{"admin", "deprovisioning", "group", "job", "mail", "onboarding", "seed", "user", "lifecycle"}

// CheckEventFilter says why name cannot be an entry of a webhook's events
// list: a known type, or "<category>.*".
func CheckEventFilter(name string) error {
	if cat, ok := strings.CutSuffix(name, ".*"); ok {
		if slices.Contains(KnownEventCategories, cat) {
			return nil
		}
		return fmt.Errorf("%q names no known category of events; categories are %s", name, strings.Join(KnownEventCategories, ", "))
	}
	if slices.Contains(KnownEventTypes, name) {
		return nil
	}
	if s := closest(name); s != "" {
		return fmt.Errorf("%q is not an event type (did you mean %q?)", name, s)
	}
	return fmt.Errorf("%q is not an event type; write e.g. \"onboarding.invited\", or \"onboarding.*\" for a whole category", name)
}

// closest returns the known type that differs from name only in case, or
// whose name part matches ("invited" → "onboarding.invited").
func closest(name string) string {
	for _, k := range KnownEventTypes {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	for _, k := range KnownEventTypes {
		if _, rest, _ := strings.Cut(k, "."); strings.EqualFold(rest, name) {
			return k
		}
	}
	return ""
}

// filter selects event types; empty selects all.
type filter []string

func (f filter) match(typ string) bool {
	if len(f) == 0 {
		return true
	}
	for _, e := range f {
		if e == typ {
			return true
		}
		if cat, ok := strings.CutSuffix(e, ".*"); ok && strings.HasPrefix(typ, cat+".") {
			return true
		}
	}
	return false
}
