package connector

import (
	"context"
	"fmt"
)

// groupDeleteHandler runs JobGroupDelete: the Entra group passbridge created
// for a SCIM group that was deleted. The payload carries the Entra id, since
// the SCIM group's row is gone. Mapped groups are never deleted: their
// deletion queues groupRemoveMember jobs instead.
type groupDeleteHandler struct {
	jobEnv
	dir GroupWriter
}

func (h groupDeleteHandler) handle(ctx context.Context, j Job) error {
	var p groupDeletePayload
	if err := decode(j, &p); err != nil {
		return err
	}
	if p.EntraID == "" {
		return Terminal(fmt.Errorf("job %d: no Entra group id", j.ID))
	}
	if err := h.dir.DeleteGroup(ctx, p.EntraID); err != nil && ClassOf(err) != NotFound {
		return fmt.Errorf("delete group %s: %w", p.EntraID, err)
	}
	return nil
}
