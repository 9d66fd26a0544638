package connector

import (
	"context"
	"errors"
	"fmt"
)

// seedHandler runs JobSeedProvision.
type seedHandler struct {
	jobEnv
	dir GroupMemberWriter
}

// handle adds the guest to the SEED group.
func (h seedHandler) handle(ctx context.Context, j Job) error {
	var p seedPayload
	if err := decode(j, &p); err != nil {
		return err
	}
	u, ok, err := h.getUser(ctx, j.Subject)
	if err != nil || !ok {
		return err
	}
	s, o, group := u.Onboarding.Seed, u.Onboarding, h.opts.Seed.GroupID
	switch {
	case !u.SeedRequested || !s.Requested:
		return nil // withdrawn
	case s.ProvisionedAt != nil && !s.ProvisionedAt.Before(j.Created):
		return nil // done since this job was queued
	case o.GuestID == "" || o.GuestGone:
		return nil // the invitation queues provisioning when it lands
	case group == "":
		return Terminal(errors.New("seed.groupID is not configured"))
	}
	if p.Reprovision {
		if err := h.dir.RemoveGroupMember(ctx, group, o.GuestID); err != nil && ClassOf(err) != NotFound {
			return fmt.Errorf("remove from SEED group: %w", err)
		}
	}
	if err := h.dir.AddGroupMember(ctx, group, o.GuestID); err != nil {
		return fmt.Errorf("add to SEED group: %w", err)
	}
	_, err = updateUser(ctx, h.store, u.ID, func(cur *User) (Change, error) {
		cs := &cur.Onboarding.Seed
		if !cs.Requested || cur.Onboarding.GuestID != o.GuestID || (cs.ProvisionedAt != nil && !cs.ProvisionedAt.Before(j.Created)) {
			return Change{}, errNoChange
		}
		old := *cur
		now := h.clock.Now()
		t, exp := now, now.Add(h.opts.Seed.Validity)
		cs.ProvisionedAt, cs.ExpiresAt = &t, &exp
		return finish(old, cur, actorWorker, now, h.opts)
	})
	if err != nil {
		return fmt.Errorf("record SEED provisioning: %w", err)
	}
	return nil
}
