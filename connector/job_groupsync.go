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
// it through GroupMap), records its id and origin, then adds passbridge's
// guests among the group's members. Removals are groupRemoveMember jobs of
// their own, queued before this one (job_groupremove.go). Membership calls
// are idempotent, so a retry just repeats them.
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
		if entra, err = h.mirror(ctx, g, p.Client); err != nil {
			if errors.Is(err, errGroupGone) {
				return nil
			}
			return err
		}
	}
	// A job queued before removals had jobs of their own carries them: they
	// still run, and before the adds, so that a failing add cannot hold
	// them back.
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
	return nil
}

// errGroupGone: the SCIM group was deleted while the job mirrored it.
var errGroupGone = errors.New("group deleted meanwhile")

// mirror creates (or maps) the Entra group of g and records its id and
// origin; it returns the id recorded, which is another worker's when it won
// the race. client is the SCIM client whose change queued the job: the
// Service checked it already, this holds the line if the configuration
// changed in between.
func (h groupSyncHandler) mirror(ctx context.Context, g Group, client string) (string, error) {
	var (
		entra  string
		origin string
		err    error
	)
	if key, mapped, ok := h.opts.mappedGroup(g.DisplayName); ok {
		if client != "" && !h.opts.groupClientAllowed(key, client) {
			return "", Terminal(fmt.Errorf("groups.map[%s]: client %q may not use this mapped group", key, clientName(client)))
		}
		entra, origin = mapped, GroupMapped
	} else {
		if h.opts.GroupCreateDisabled {
			return "", Terminal(fmt.Errorf("groups.create is false and groups.map does not map %q", g.DisplayName))
		}
		// TODO(engine): look the group up by mailNickname before a retry
		// creates it again after a lost answer (Directory has no lookup).
		entra, err = h.dir.CreateGroup(ctx, g.DisplayName, mailNickname(g.DisplayName, g.ID))
		if err != nil {
			return "", fmt.Errorf("create group: %w", err)
		}
		origin = GroupCreated
	}
	_, err = h.store.UpdateGroup(ctx, g.ID, func(cur *Group) (Change, error) {
		if cur.EntraID != "" {
			entra = cur.EntraID
			return Change{}, errNoChange
		}
		cur.EntraID, cur.EntraOrigin = entra, origin
		cur.Modified = h.clock.Now()
		ev, err := newEvent(cur.ID, "group.mirrored", actorWorker, cur.Modified, map[string]any{"entraId": entra, "origin": origin})
		if err != nil {
			return Change{}, err
		}
		return Change{Events: []Event{ev}}, nil
	})
	if errors.Is(err, ErrNotFound) {
		if origin != GroupCreated {
			return "", errGroupGone
		}
		// The SCIM group was deleted after this job read it: its deletion
		// saw no Entra id, so the group just created is deleted here.
		j, jerr := newJob(JobGroupDelete, g.ID, groupDeletePayload{EntraID: entra}, h.clock.Now())
		if jerr == nil {
			jerr = h.store.EnqueueJobs(ctx, []Job{j})
		}
		if jerr != nil {
			return "", fmt.Errorf("queue deletion of group %s created for deleted group %s: %w", entra, g.ID, jerr)
		}
		return "", errGroupGone
	}
	if err != nil && !errors.Is(err, errNoChange) {
		return "", fmt.Errorf("record group id: %w", err)
	}
	return entra, nil
}

// mappedGroup returns the groups.map key and Entra id for displayName: an
// exact key first, else one equal case-insensitively (SCIM group names are
// unique case-insensitively, so "seed users" must not escape the entry for
// "SEED Users" and create a same-named group).
func (o Options) mappedGroup(displayName string) (key, entraID string, ok bool) {
	if id, ok := o.GroupMap[displayName]; ok && id != "" {
		return displayName, id, true
	}
	fold := FoldKey(displayName)
	for k, id := range o.GroupMap {
		if id != "" && FoldKey(k) == fold {
			return k, id, true
		}
	}
	return "", "", false
}

// groupClientAllowed says whether the SCIM client (an actor, "scim:<token
// name>", or a bare token name) may use the mapped group key: any client
// when the entry names none.
func (o Options) groupClientAllowed(key, client string) bool {
	allowed, ok := o.GroupClients[key]
	if !ok || len(allowed) == 0 {
		return true
	}
	return containsString(allowed, clientName(client))
}

// clientName is the token name of an actor ("scim:portal" → "portal").
func clientName(actor string) string { return strings.TrimPrefix(actor, "scim:") }

// checkGroupUse refuses a SCIM group change the configuration does not
// allow: a displayName groups.map maps, from a client its entry does not
// list (whatever the change: such a client cannot put users into that
// group), or a new or renamed unmapped group while groups.create is false.
// old is nil for a create.
func checkGroupUse(o Options, actor string, old *Group, g Group) error {
	renamed := old == nil || FoldKey(old.DisplayName) != FoldKey(g.DisplayName)
	if !renamed && old.EntraOrigin == GroupCreated {
		return nil // passbridge's own group: no mapping involved
	}
	if key, _, ok := o.mappedGroup(g.DisplayName); ok {
		if o.groupClientAllowed(key, actor) {
			return nil
		}
		return &InputError{Field: "displayName", Detail: fmt.Sprintf(
			"%q names an existing Entra group (groups.map) that this client (%q) may not use: groups.map[%s].clients does not list it; ask the administrator to add it, or choose another displayName",
			g.DisplayName, clientName(actor), key)}
	}
	if renamed && o.GroupCreateDisabled && (old == nil || old.EntraID == "") {
		return &InputError{Field: "displayName", Detail: fmt.Sprintf(
			"%q is not mapped to an Entra group (groups.map) and groups.create is false, so passbridge creates no groups: use a displayName the administrator mapped", g.DisplayName)}
	}
	return nil
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
