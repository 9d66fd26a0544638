package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	escim "github.com/elimity-com/scim"

	"github.com/passbridge/passbridge/connector"
)

type groupHandler struct {
	svc     *connector.Service
	patcher patcher
	baseURL string
}

var _ escim.ResourceHandler = groupHandler{}

type groupFields struct {
	displayName, externalID string
	members                 []string
	doc                     json.RawMessage
}

// groupFromDoc reads a validated SCIM group body, refusing input over the
// limits (limits.go; the members of a request are bounded by the caller).
func groupFromDoc(d doc) (groupFields, error) {
	if err := checkLimits(d, groupStringLimits, "members"); err != nil {
		return groupFields{}, err
	}
	return readGroup(d)
}

// readGroup is groupFromDoc without the limits.
func readGroup(d doc) (groupFields, error) {
	var f groupFields
	d = cloneDoc(d)
	delete(d, "id")
	delete(d, "meta")
	delete(d, "schemas")
	f.displayName, _ = d["displayName"].(string)
	if strings.TrimSpace(f.displayName) == "" {
		return f, &connector.InputError{Field: "displayName", Detail: "required: a unique, non-empty group name"}
	}
	f.externalID, _ = d["externalId"].(string)
	if list, ok := d["members"].([]any); ok {
		if err := checkMembers(list); err != nil {
			return f, err
		}
		for i, e := range list {
			m, _ := e.(map[string]any)
			v, _ := m["value"].(string)
			if v == "" {
				return f, &connector.InputError{Field: fmt.Sprintf("members[%d].value", i), Detail: "required: the id of a User"}
			}
			f.members = append(f.members, v)
		}
	}
	delete(d, "members") // kept as Group.Members
	delete(d, "displayName")
	delete(d, "externalId")
	raw, err := json.Marshal(d)
	if err != nil {
		return f, &connector.InputError{Field: "body", Detail: "cannot be stored as JSON"}
	}
	f.doc = raw
	return f, checkDocSize(raw, "Group")
}

func (f groupFields) applyTo(g *connector.Group) {
	g.DisplayName = f.displayName
	g.ExternalID = f.externalID
	g.Members = f.members
	g.Doc = f.doc
}

func (h groupHandler) groupDoc(g connector.Group) doc {
	d := decodeDoc(g.Doc)
	d["displayName"] = g.DisplayName
	if g.ExternalID != "" {
		d["externalId"] = g.ExternalID
	}
	members := make([]any, 0, len(g.Members))
	for _, id := range g.Members {
		members = append(members, map[string]any{"value": id, "$ref": h.baseURL + "/Users/" + url.PathEscape(id), "type": "User"})
	}
	d["members"] = members
	return d
}

func (h groupHandler) resource(g connector.Group) escim.Resource {
	d := h.groupDoc(g)
	delete(d, "externalId")
	return escim.Resource{ID: g.ID, ExternalID: optString(g.ExternalID), Attributes: escim.ResourceAttributes(d), Meta: meta(g.Created, g.Modified, g.Version)}
}

// memberError turns a store's "no such user" into a 400 naming the member:
// a missing member is bad input, not a missing group.
// For a client whose token has ownUsersOnly, another client's user is
// missing too (the same 400 as for an id nobody has).
func (h groupHandler) memberError(r *http.Request, members []string) error {
	for i, id := range members {
		if _, err := h.member(r, id); errors.Is(err, connector.ErrNotFound) {
			return noSuchMember(i, id)
		}
	}
	return nil
}

func noSuchMember(i int, id string) error {
	return &connector.InputError{Field: fmt.Sprintf("members[%d].value", i), Detail: fmt.Sprintf("no User has id %q: create the user first, then add it", id)}
}

// member reads a user named as a member, as the request's client sees it.
func (h groupHandler) member(r *http.Request, id string) (connector.User, error) {
	if cl := requestClient(r); cl.ownUsersOnly {
		return h.svc.GetOwnUser(r.Context(), cl.name, id)
	}
	return h.svc.GetUser(r.Context(), id)
}

// ownMembersOnly wraps the edit of an ownUsersOnly client's PUT or PATCH to
// the group as that client sees it: members it did not create are hidden
// from the edit and kept, and it cannot add another client's user. Who owns
// which member is read before the update (the store's callback must not
// read); the edit, run again under the store's lock, sees only the members
// read as the client's own (a member added meanwhile is kept, unseen), and
// refuses any added member not read so.
func (h groupHandler) ownMembersOnly(r *http.Request, id string, edit func(g *connector.Group) error) (func(g *connector.Group) error, error) {
	cur, err := h.svc.GetGroup(r.Context(), id)
	if err != nil {
		return nil, err
	}
	own, err := h.svc.OwnedUsers(r.Context(), requestClient(r).name, cur.Members)
	if err != nil {
		return nil, err
	}
	next := cur
	next.Members = ownedOnly(cur.Members, own)
	if err := edit(&next); err != nil {
		return nil, err
	}
	for i, m := range next.Members {
		if own[m] {
			continue
		}
		if _, err := h.member(r, m); err != nil {
			if errors.Is(err, connector.ErrNotFound) {
				return nil, noSuchMember(i, m)
			}
			return nil, err
		}
		own[m] = true
	}
	return func(g *connector.Group) error {
		all := g.Members
		g.Members = ownedOnly(all, own)
		if err := edit(g); err != nil {
			return err
		}
		kept := make(map[string]bool, len(g.Members))
		for i, m := range g.Members {
			if !own[m] {
				return noSuchMember(i, m)
			}
			kept[m] = true
		}
		// Other clients' members stay, and every member keeps its place
		// (Group.Members is in insertion order); added ones go last.
		merged := make([]string, 0, len(all)+len(g.Members))
		for _, m := range all {
			if !own[m] || kept[m] {
				merged = append(merged, m)
				delete(kept, m)
			}
		}
		for _, m := range g.Members {
			if kept[m] {
				merged = append(merged, m)
			}
		}
		g.Members = merged
		return nil
	}, nil
}

// ownedOnly returns the members in own, in order (a new slice).
func ownedOnly(members []string, own map[string]bool) []string {
	out := make([]string, 0, len(members))
	for _, m := range members {
		if own[m] {
			out = append(out, m)
		}
	}
	return out
}

// visible narrows groups' members to those the request's client may see:
// for an ownUsersOnly client, the users it created (one store read for all
// the groups); others see every member.
func (h groupHandler) visible(r *http.Request, gs ...*connector.Group) error {
	cl := requestClient(r)
	if !cl.ownUsersOnly {
		return nil
	}
	var ids []string
	for _, g := range gs {
		ids = append(ids, g.Members...)
	}
	own, err := h.svc.OwnedUsers(r.Context(), cl.name, ids)
	if err != nil {
		return err
	}
	for _, g := range gs {
		g.Members = ownedOnly(g.Members, own)
	}
	return nil
}

func (h groupHandler) Create(r *http.Request, attrs escim.ResourceAttributes) (escim.Resource, error) {
	f, err := groupFromDoc(doc(attrs))
	if err == nil {
		err = checkMemberCount(len(f.members))
	}
	if err != nil {
		return escim.Resource{}, fail(r, err, "Group", "")
	}
	if err := h.memberError(r, f.members); err != nil {
		return escim.Resource{}, fail(r, err, "Group", "")
	}
	var g connector.Group
	f.applyTo(&g)
	created, err := h.svc.CreateGroup(r.Context(), actor(r), g)
	if err != nil {
		return escim.Resource{}, fail(r, err, "Group", "")
	}
	return h.resource(created), nil
}

func (h groupHandler) Get(r *http.Request, id string) (escim.Resource, error) {
	g, err := h.svc.GetGroup(r.Context(), id)
	if err == nil {
		err = h.visible(r, &g)
	}
	if err != nil {
		return escim.Resource{}, fail(r, err, "Group", id)
	}
	return project(r, h.resource(g), URNGroup), nil
}

func (h groupHandler) GetAll(r *http.Request, p escim.ListRequestParams) (escim.Page, error) {
	page, err := h.svc.ListGroups(r.Context(), connector.Query{Filter: listFilter(r), StartIndex: p.StartIndex, Count: p.Count})
	if err != nil {
		return escim.Page{}, fail(r, err, "Group", "")
	}
	gs := make([]*connector.Group, len(page.Items))
	for i := range page.Items {
		gs[i] = &page.Items[i]
	}
	if err := h.visible(r, gs...); err != nil {
		return escim.Page{}, fail(r, err, "Group", "")
	}
	out := escim.Page{TotalResults: page.Total, Resources: []escim.Resource{}}
	for _, g := range page.Items {
		out.Resources = append(out.Resources, project(r, h.resource(g), URNGroup))
	}
	return out, nil
}

func (h groupHandler) precondition(r *http.Request, id string) (*int64, error) {
	return ifMatch(r, func() (int64, error) {
		g, err := h.svc.GetGroup(r.Context(), id)
		return g.Version, err
	})
}

func (h groupHandler) update(r *http.Request, id string, edit func(g *connector.Group) error) (connector.Group, error) {
	want, err := h.precondition(r, id)
	if err != nil {
		return connector.Group{}, err
	}
	if requestClient(r).ownUsersOnly {
		if edit, err = h.ownMembersOnly(r, id, edit); err != nil {
			return connector.Group{}, err
		}
	}
	g, err := h.svc.UpdateGroup(r.Context(), actor(r), id, want, edit)
	if err == nil {
		// The answer shows the group as the client sees it.
		err = h.visible(r, &g)
	}
	if errors.Is(err, connector.ErrNotFound) {
		// The group exists but a member does not: say which.
		if cur, gerr := h.svc.GetGroup(r.Context(), id); gerr == nil {
			var next connector.Group = cur
			if e := edit(&next); e == nil {
				if me := h.memberError(r, next.Members); me != nil {
					return connector.Group{}, me
				}
			}
		}
	}
	return g, err
}

func (h groupHandler) Replace(r *http.Request, id string, attrs escim.ResourceAttributes) (escim.Resource, error) {
	f, err := groupFromDoc(doc(attrs))
	if err == nil {
		err = checkMemberCount(len(f.members))
	}
	if err != nil {
		return escim.Resource{}, fail(r, err, "Group", id)
	}
	g, err := h.update(r, id, func(g *connector.Group) error {
		f.applyTo(g)
		return nil
	})
	if err != nil {
		return escim.Resource{}, fail(r, err, "Group", id)
	}
	return h.resource(g), nil
}

// Patch answers 204 No Content, as Microsoft Entra expects for groups; a
// client that wants the group back asks with attributes=….
func (h groupHandler) Patch(r *http.Request, id string, ops []escim.PatchOperation) (escim.Resource, error) {
	if err := checkPatchMembers(ops); err != nil {
		return escim.Resource{}, fail(r, err, "Group", id)
	}
	g, err := h.update(r, id, func(g *connector.Group) error {
		d := h.groupDoc(*g)
		// A group stored before the limits may break them; a PATCH of
		// its members must still work.
		read := groupFromDoc
		if checkLimits(d, groupStringLimits, "members") != nil || checkDocSize(g.Doc, "Group") != nil {
			read = readGroupLegacy(cloneDoc(d))
		}
		if err := h.patcher.apply(d, ops); err != nil {
			return err
		}
		f, err := read(d)
		if err != nil {
			return err
		}
		f.applyTo(g)
		return nil
	})
	if err != nil {
		return escim.Resource{}, fail(r, err, "Group", id)
	}
	if r.URL.Query().Get("attributes") != "" {
		return project(r, h.resource(g), URNGroup), nil
	}
	return escim.Resource{ID: g.ID}, nil
}

func (h groupHandler) Delete(r *http.Request, id string) error {
	want, err := h.precondition(r, id)
	if err != nil {
		return fail(r, err, "Group", id)
	}
	if err := h.svc.DeleteGroup(r.Context(), actor(r), id, want); err != nil {
		return fail(r, err, "Group", id)
	}
	return nil
}

// readGroupLegacy reads a group that broke the limits before the PATCH:
// what the PATCH changes meets them (see userHandler.Patch).
func readGroupLegacy(before doc) func(doc) (groupFields, error) {
	return func(d doc) (groupFields, error) {
		if err := checkChanged(before, d, groupStringLimits); err != nil {
			return groupFields{}, err
		}
		f, err := readGroup(d)
		if ie, ok := connector.IsInputError(err); ok && ie.Field == "body" {
			err = nil
		}
		return f, err
	}
}
