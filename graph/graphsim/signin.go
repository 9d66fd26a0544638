package graphsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// signInActivity: Graph keeps it only with Entra ID P1 (and the caller
// needs AuditLog.Read.All); the control API sets a person's last sign-in
// and turns the licence off.
// Source: https://learn.microsoft.com/graph/api/resources/signinactivity

// SetLastSignIn sets the user's signInActivity.lastSuccessfulSignInDateTime
// (at zero: the simulator's now).
func (s *Sim) SetLastSignIn(idOrEmail string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookupLocked(idOrEmail, false)
	if u == nil {
		return fmt.Errorf("%w: %s", ErrNoUser, idOrEmail)
	}
	if at.IsZero() {
		at = s.Now()
	}
	u.LastSignIn = at.UTC()
	return nil
}

// SetSignInActivityAvailable plays a tenant with (true, the default) or
// without Entra ID P1: without, $select=signInActivity answers 403
// Authentication_RequestFromNonPremiumTenantOrB2CTenant.
func (s *Sim) SetSignInActivityAvailable(available bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noSignInActivity = !available
}

// signInDenied answers 403 for a $select of signInActivity in a tenant
// without P1.
func (s *Sim) signInDenied(w http.ResponseWriter, r *http.Request, sel []string) bool {
	s.mu.Lock()
	denied := s.noSignInActivity
	s.mu.Unlock()
	if !denied || !slices.ContainsFunc(sel, func(p string) bool { return strings.EqualFold(p, "signInActivity") }) {
		return false
	}
	s.writeError(w, r, http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
		"Neither tenant is B2C or tenant doesn't have premium license")
	return true
}
