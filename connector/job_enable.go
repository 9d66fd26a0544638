package connector

import (
	"context"
	"fmt"
)

// enableHandler runs JobEnable (enabled) and JobDisable.
type enableHandler struct {
	jobEnv
	dir     GuestWriter
	enabled bool
}

// handle applies active=false (disable and revoke sessions) or active=true.
// It acts on the user's current wish, so a job overtaken by a later change
// does nothing. Only a guest Graph says does not exist (NotFound, i.e.
// Request_ResourceNotFound; Directory_ObjectNotFound right after an
// invitation is replication lag and Transient) counts as already gone.
// Disabled is recorded only once Graph confirmed both the PATCH and the
// revocation: until then SCIM does not say "disabled".
func (h enableHandler) handle(ctx context.Context, j Job) error {
	u, ok, err := h.getUser(ctx, j.Subject)
	if err != nil || !ok {
		return err
	}
	o := u.Onboarding
	// A lifecycle rule (termination, inactivity) disables a guest whose
	// active stays true.
	if (u.Active && !lifecycleDisabled(o)) != h.enabled || o.GuestID == "" || o.GuestGone {
		return nil // an invitation in flight disables its guest on commit
	}
	gone := false
	if err := h.dir.SetAccountEnabled(ctx, o.GuestID, h.enabled); err != nil {
		if ClassOf(err) != NotFound {
			return fmt.Errorf("set accountEnabled: %w", err)
		}
		gone = true
	}
	if !h.enabled && !gone {
		if err := h.dir.RevokeSessions(ctx, o.GuestID); err != nil {
			if ClassOf(err) != NotFound {
				return fmt.Errorf("revoke sessions: %w", err)
			}
			gone = true
		}
	}
	_, err = updateUser(ctx, h.store, u.ID, func(cur *User) (Change, error) {
		if cur.Onboarding.GuestID != o.GuestID {
			return Change{}, errNoChange
		}
		old := *cur
		cur.Onboarding.Disabled = !h.enabled
		cur.Onboarding.GuestGone = cur.Onboarding.GuestGone || gone
		if !cur.Onboarding.Failed {
			// Graph confirmed: a lastError that said the change was held
			// up (retryDeprovision) is no longer true. A failed
			// invitation's lastError stays.
			cur.Onboarding.LastError = ""
		}
		if factsEqual(old.Onboarding, cur.Onboarding) {
			return Change{}, errNoChange
		}
		return finish(old, cur, actorWorker, h.clock.Now(), h.opts)
	})
	if err != nil {
		return fmt.Errorf("record accountEnabled: %w", err)
	}
	return nil
}
