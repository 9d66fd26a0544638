package connector

import "time"

// Derive returns the furthest onboarding state the user's facts support at
// now. It is a pure function: reconcile is level-triggered.
func Derive(u User, now time.Time, agreements []Agreement) State {
	o := u.Onboarding
	switch {
	case !u.Active:
		return StateDisabled
	case o.Failed:
		return StateFailed
	case o.ExpiredAt != nil:
		return StateExpired
	case o.InvitedAt == nil:
		return StatePending
	case o.RedeemedAt == nil:
		return StateInvited
	case o.MFARegisteredAt == nil:
		return StateRedeemed
	case !allAccepted(o, agreements):
		return StateMFARegistered
	}
	return StateOnboarded
}

func allAccepted(o Onboarding, agreements []Agreement) bool {
	for _, a := range agreements {
		if a.RequiredWhen == "seed" && o.Seed.ProvisionedAt == nil {
			continue
		}
		found := false
		for _, acc := range o.Agreements {
			if acc.Name == a.Name || (a.ID != "" && acc.ID == a.ID) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
