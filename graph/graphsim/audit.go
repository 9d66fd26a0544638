package graphsim

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// AuditEvent is a directory audit log entry.
// Source: https://learn.microsoft.com/graph/api/resources/directoryaudit
type AuditEvent struct {
	ID                string
	At                time.Time
	Activity          string // activityDisplayName, e.g. "Accept Terms Of Use"
	Category          string
	Service           string // loggedByService
	OperationType     string
	UserID            string // initiatedBy.user.id
	UserPrincipalName string
	TargetType        string // targetResources[0].type, e.g. "Policy"
	TargetID          string
	TargetName        string
}

// AddAuditEvent appends an event (its ID and time default to new / now).
func (s *Sim) AddAuditEvent(e AuditEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendAuditLocked(&e)
}

func (s *Sim) appendAuditLocked(e *AuditEvent) {
	if e.ID == "" {
		cat := e.Category
		if cat == "" {
			cat = "Directory"
		}
		e.ID = cat + "_" + newGUID()
	}
	if e.At.IsZero() {
		e.At = s.Now()
	}
	s.audits = append(s.audits, e)
}

func (e *AuditEvent) json() map[string]any {
	var initiated map[string]any
	if e.UserID != "" {
		initiated = map[string]any{"app": nil, "user": map[string]any{
			"id": e.UserID, "displayName": nil, "userPrincipalName": nilIfEmpty(e.UserPrincipalName),
			"ipAddress": "", "userType": nil, "homeTenantId": nil, "homeTenantName": nil,
		}}
	} else {
		initiated = map[string]any{"user": nil, "app": map[string]any{
			"appId": nil, "displayName": "Microsoft Graph", "servicePrincipalId": nil, "servicePrincipalName": nil,
		}}
	}
	targets := []any{}
	if e.TargetType != "" || e.TargetID != "" {
		targets = append(targets, map[string]any{
			"id": nilIfEmpty(e.TargetID), "displayName": nilIfEmpty(e.TargetName), "type": e.TargetType,
			"userPrincipalName": nil, "groupType": nil, "modifiedProperties": []any{},
		})
	}
	return map[string]any{
		"id": e.ID, "category": e.Category, "correlationId": newGUID(), "result": "success", "resultReason": "",
		"activityDisplayName": e.Activity, "activityDateTime": e.At.UTC().Format("2006-01-02T15:04:05.0000000Z"),
		"loggedByService": e.Service, "operationType": e.OperationType, "initiatedBy": initiated,
		"targetResources": targets, "additionalDetails": []any{},
	}
}

func (e *AuditEvent) filterValue(path string) (any, bool) {
	switch strings.ToLower(path) {
	case "activitydatetime":
		return e.At, true
	case "activitydisplayname":
		return e.Activity, true
	case "category":
		return e.Category, true
	case "loggedbyservice":
		return e.Service, true
	case "initiatedby/user/id":
		return e.UserID, true
	case "initiatedby/user/userprincipalname":
		return e.UserPrincipalName, true
	case "id":
		return e.ID, true
	}
	return nil, false
}

// listAudits answers GET /auditLogs/directoryAudits with $filter
// (activityDateTime ge/le, activityDisplayName eq/startswith,
// initiatedBy/user/id eq, and/or), $orderby activityDateTime, $top, and
// @odata.nextLink paging. Newest first unless ordered otherwise.
// Source: https://learn.microsoft.com/graph/api/directoryaudit-list
func (s *Sim) listAudits(w http.ResponseWriter, r *http.Request, _ []string) {
	q := r.URL.Query()
	var pred predicate
	if f := q.Get("$filter"); f != "" {
		// Graph rejects gt/lt on activityDateTime.
		lf := strings.ToLower(f)
		if strings.Contains(lf, "activitydatetime gt") || strings.Contains(lf, "activitydatetime lt") {
			s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Invalid filter clause: only ge and le are supported on activityDateTime.")
			return
		}
		var err error
		if pred, err = parseFilter(f); err != nil {
			s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+err.Error())
			return
		}
	}
	top, ok := topOf(r, s.pageSize, 999)
	if !ok {
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Invalid $top value.")
		return
	}
	asc := false
	switch ob := strings.ToLower(strings.TrimSpace(q.Get("$orderby"))); ob {
	case "", "activitydatetime desc":
	case "activitydatetime", "activitydatetime asc":
		asc = true
	default:
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid $orderby %q.", ob))
		return
	}
	offset := 0
	if st := q.Get("$skiptoken"); st != "" {
		t, err := decodeToken(st)
		if err != nil {
			s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Invalid skip token.")
			return
		}
		offset = t.Offset
	}
	s.mu.Lock()
	evs := make([]*AuditEvent, 0, len(s.audits))
	for _, e := range s.audits {
		if pred != nil {
			m, err := pred(e.filterValue)
			if err != nil {
				s.mu.Unlock()
				s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+err.Error())
				return
			}
			if !m {
				continue
			}
		}
		evs = append(evs, e)
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if asc {
			return evs[i].At.Before(evs[j].At)
		}
		return evs[i].At.After(evs[j].At)
	})
	items := make([]map[string]any, 0, len(evs))
	for _, e := range evs {
		items = append(items, e.json())
	}
	s.mu.Unlock()
	page, next := paginate(items, offset, top)
	resp := map[string]any{"@odata.context": baseURL(r) + "/v1.0/$metadata#auditLogs/directoryAudits", "value": page}
	if next >= 0 {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skiptoken", encodeToken(pageToken{Offset: next}))
		resp["@odata.nextLink"] = nextLink(r, "/auditLogs/directoryAudits", nq)
	}
	writeJSON(w, http.StatusOK, resp)
}
