package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

func (g *group) json(r *http.Request) map[string]any {
	return map[string]any{
		"@odata.context": baseURL(r) + "/v1.0/$metadata#groups/$entity",
		"id":             g.ID, "displayName": g.DisplayName, "mailNickname": g.MailNickname,
		"mailEnabled": g.MailEnabled, "securityEnabled": g.SecurityEnabled, "groupTypes": []string{},
		"mail": nil, "description": nil, "createdDateTime": timeOrNil(g.Created),
	}
}

// postGroup creates a group; displayName, mailNickname, mailEnabled and
// securityEnabled are required.
// Source: https://learn.microsoft.com/graph/api/group-post-groups
func (s *Sim) postGroup(w http.ResponseWriter, r *http.Request, _ []string) {
	var b struct {
		DisplayName     string   `json:"displayName"`
		MailNickname    string   `json:"mailNickname"`
		MailEnabled     *bool    `json:"mailEnabled"`
		SecurityEnabled *bool    `json:"securityEnabled"`
		GroupTypes      []string `json:"groupTypes"`
	}
	if err := readJSONBody(r, &b); err != nil {
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload.")
		return
	}
	for prop, missing := range map[string]bool{
		"displayName": b.DisplayName == "", "mailNickname": b.MailNickname == "",
		"mailEnabled": b.MailEnabled == nil, "securityEnabled": b.SecurityEnabled == nil,
	} {
		if missing {
			s.writeError(w, r, http.StatusBadRequest, "Request_BadRequest",
				fmt.Sprintf("Invalid value specified for property '%s' of resource 'Group'.", prop))
			return
		}
	}
	if strings.ContainsAny(b.MailNickname, " @()\\[]\";:<>,") {
		s.writeError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'mailNickname' of resource 'Group'.")
		return
	}
	s.mu.Lock()
	g := &group{ID: newGUID(), DisplayName: b.DisplayName, MailNickname: b.MailNickname,
		MailEnabled: *b.MailEnabled, SecurityEnabled: *b.SecurityEnabled, Created: s.Now()}
	s.groups[g.ID] = g
	out := g.json(r)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

func (s *Sim) notFound(w http.ResponseWriter, r *http.Request, id string) {
	s.writeError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

func (s *Sim) getGroup(w http.ResponseWriter, r *http.Request, p []string) {
	s.mu.Lock()
	g, ok := s.groups[p[0]]
	var out map[string]any
	if ok {
		out = g.json(r)
	}
	s.mu.Unlock()
	if !ok {
		s.notFound(w, r, p[0])
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteGroup answers DELETE /groups/{id}: the group and its memberships
// go (to the deleted items, which the simulator does not model).
// Source: https://learn.microsoft.com/graph/api/group-delete
func (s *Sim) deleteGroup(w http.ResponseWriter, r *http.Request, p []string) {
	s.mu.Lock()
	_, ok := s.groups[p[0]]
	delete(s.groups, p[0])
	s.mu.Unlock()
	if !ok {
		s.notFound(w, r, p[0])
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) listMembers(w http.ResponseWriter, r *http.Request, p []string) {
	s.mu.Lock()
	g, ok := s.groups[p[0]]
	var out []map[string]any
	if ok {
		for _, id := range g.Members {
			if u := s.users[id]; u != nil {
				m, _ := render(u, []string{"id", "mail", "userPrincipalName"})
				m["@odata.type"] = "#microsoft.graph.user"
				out = append(out, m)
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		s.notFound(w, r, p[0])
		return
	}
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": baseURL(r) + "/v1.0/$metadata#directoryObjects", "value": out})
}

// addMember answers POST /groups/{id}/members/$ref.
// Source: https://learn.microsoft.com/graph/api/group-post-members
func (s *Sim) addMember(w http.ResponseWriter, r *http.Request, p []string) {
	var b map[string]json.RawMessage
	if err := readJSONBody(r, &b); err != nil {
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload.")
		return
	}
	var ref string
	if raw, ok := b["@odata.id"]; ok {
		_ = json.Unmarshal(raw, &ref)
	}
	u, err := url.Parse(ref)
	if ref == "" || err != nil {
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Invalid object identifier '"+ref+"'.")
		return
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	memberID := segs[len(segs)-1]
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[p[0]]
	if !ok {
		s.notFound(w, r, p[0])
		return
	}
	if m, ok := s.users[strings.ToLower(memberID)]; !ok || m.Deleted {
		s.notFound(w, r, memberID)
		return
	}
	if slices.Contains(g.Members, strings.ToLower(memberID)) {
		s.writeError(w, r, http.StatusBadRequest, "Request_BadRequest",
			"One or more added object references already exist for the following modified properties: 'members'.")
		return
	}
	g.Members = append(g.Members, strings.ToLower(memberID))
	w.WriteHeader(http.StatusNoContent)
}

// removeMember answers DELETE /groups/{id}/members/{memberId}/$ref.
// Source: https://learn.microsoft.com/graph/api/group-delete-members
func (s *Sim) removeMember(w http.ResponseWriter, r *http.Request, p []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[p[0]]
	if !ok {
		s.notFound(w, r, p[0])
		return
	}
	mid := strings.ToLower(p[1])
	if !slices.Contains(g.Members, mid) {
		s.notFound(w, r, p[1])
		return
	}
	g.Members = remove(g.Members, mid)
	w.WriteHeader(http.StatusNoContent)
}
