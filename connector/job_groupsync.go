package connector

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// groupSyncHandler runs JobGroupSync.
type groupSyncHandler struct {
	jobEnv
	dir GroupWriter
}

// handle mirrors a SCIM group: it creates the Entra security group (or maps
// it through GroupMap), records its id, then makes the memberships of
// passbridge's guests follow the group's members. Membership calls are
// idempotent, so a retry just repeats them.
func (h groupSyncHandler) handle(ctx context.Context, j Job) error {
	var p groupSyncPayload
	if err := decode(j, &p); err != nil {
		return err
	}
	g, err := h.store.GetGroup(ctx, j.Subject)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get group %s: %w", j.Subject, err)
	}
	entra := g.EntraID
	if entra == "" {
		if entra, err = h.mirror(ctx, g); err != nil {
			return err
		}
	}
	for _, id := range g.Members {
		u, ok, err := h.getUser(ctx, id)
		if err != nil {
			return err
		}
		if !ok || u.Onboarding.GuestID == "" || u.Onboarding.GuestGone {
			continue // synced again once invited
		}
		if err := h.dir.AddGroupMember(ctx, entra, u.Onboarding.GuestID); err != nil {
			return fmt.Errorf("add group member: %w", err)
		}
	}
	for _, id := range p.Removed {
		if containsString(g.Members, id) {
			continue // added back since
		}
		u, ok, err := h.getUser(ctx, id)
		if err != nil {
			return err
		}
		if !ok || u.Onboarding.GuestID == "" {
			continue // a deleted user's guest is deleted with it
		}
		if err := h.dir.RemoveGroupMember(ctx, entra, u.Onboarding.GuestID); err != nil && ClassOf(err) != NotFound {
			return fmt.Errorf("remove group member: %w", err)
		}
	}
	return nil
}

// mirror creates (or maps) the Entra group of g and records its id; it
// returns the id recorded, which is another worker's when it won the race.
func (h groupSyncHandler) mirror(ctx context.Context, g Group) (string, error) {
	var (
		entra string
		err   error
	)
	if mapped, ok := h.opts.GroupMap[g.DisplayName]; ok && mapped != "" {
		entra = mapped
	} else {
		// TODO(engine): look the group up by mailNickname before a retry
		// creates it again after a lost answer (Directory has no lookup).
		entra, err = h.dir.CreateGroup(ctx, g.DisplayName, mailNickname(g.DisplayName, g.ID))
		if err != nil {
			return "", fmt.Errorf("create group: %w", err)
		}
	}
	_, err = h.store.UpdateGroup(ctx, g.ID, func(cur *Group) (Change, error) {
		if cur.EntraID != "" {
			entra = cur.EntraID
			return Change{}, errNoChange
		}
		cur.EntraID = entra
		cur.Modified = h.clock.Now()
		ev, err := newEvent(cur.ID, "group.mirrored", actorWorker, cur.Modified, map[string]any{"entraId": entra})
		if err != nil {
			return Change{}, err
		}
		return Change{Events: []Event{ev}}, nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return "", fmt.Errorf("record group id: %w", err)
	}
	return entra, nil
}

// mailNickname derives the mailNickname Graph requires for a security group:
// ASCII letters and digits only, unique by the group's id suffix. The end of
// the id is its random part: the start of a time-ordered id is its time.
func mailNickname(displayName, id string) string {
	var b strings.Builder
	for _, r := range displayName {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
		if b.Len() >= 40 {
			break
		}
	}
	suffix := strings.ReplaceAll(id, "-", "")
	if len(suffix) > 8 {
		suffix = suffix[len(suffix)-8:]
	}
	return "pb" + b.String() + suffix
}
