package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

var errEmptyBody = errors.New("empty body")

// userProps is every user property the simulator knows, in Graph's
// spelling; defaultUserProps are those GET /users returns without $select.
// Source: https://learn.microsoft.com/graph/api/user-get#optional-query-parameters
var (
	userProps = []string{
		"id", "accountEnabled", "businessPhones", "createdDateTime", "creationType", "displayName",
		"externalUserState", "externalUserStateChangeDateTime", "givenName", "jobTitle", "mail",
		"mobilePhone", "officeLocation", "otherMails", "preferredLanguage", "surname", "userPrincipalName", "userType",
		"signInActivity",
	}
	defaultUserProps = []string{
		"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
		"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
	}
)

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (u *user) full() map[string]any {
	other := u.OtherMails
	if other == nil {
		other = []string{}
	}
	return map[string]any{
		"id": u.ID, "accountEnabled": u.AccountEnabled, "businessPhones": []string{},
		"createdDateTime": timeOrNil(u.Created), "creationType": nilIfEmpty(u.CreationType),
		"displayName": u.DisplayName, "externalUserState": nilIfEmpty(u.ExternalUserState),
		"externalUserStateChangeDateTime": timeOrNil(u.StateChangedAt), "givenName": nil, "jobTitle": nil,
		"mail": nilIfEmpty(u.Mail), "mobilePhone": nil, "officeLocation": nil, "otherMails": other,
		"preferredLanguage": nil, "surname": nil, "userPrincipalName": u.UPN, "userType": u.UserType,
		"signInActivity": map[string]any{
			"lastSuccessfulSignInDateTime": timeOrNil(u.LastSignIn), "lastSignInDateTime": timeOrNil(u.LastSignIn),
			"lastNonInteractiveSignInDateTime": nil, "lastSignInRequestId": nil, "lastNonInteractiveSignInRequestId": nil,
			"lastSuccessfulSignInRequestId": nil,
		},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// filterValue exposes user properties to $filter.
func (u *user) filterValue(path string) (any, bool) {
	switch strings.ToLower(path) {
	case "id":
		return u.ID, true
	case "mail":
		return u.Mail, true
	case "userprincipalname":
		return u.UPN, true
	case "displayname":
		return u.DisplayName, true
	case "usertype":
		return u.UserType, true
	case "creationtype":
		return u.CreationType, true
	case "externaluserstate":
		return u.ExternalUserState, true
	case "externaluserstatechangedatetime":
		return u.StateChangedAt, true
	case "createddatetime":
		return u.Created, true
	case "accountenabled":
		return u.AccountEnabled, true
	case "othermails":
		return u.OtherMails, true
	}
	return nil, false
}

// render projects a user for an answer, with $select or the defaults.
func render(u *user, sel []string) (map[string]any, error) {
	if len(sel) == 0 {
		sel = defaultUserProps
	}
	return project(u.full(), userProps, sel)
}

func contextURL(r *http.Request, entity string, sel []string) string {
	if len(sel) > 0 {
		entity = strings.Replace(entity, "users", "users("+strings.Join(sel, ",")+")", 1)
	}
	return baseURL(r) + "/v1.0/$metadata#" + entity
}

// --- invitations ---

type invitationBody struct {
	InvitedUserEmailAddress string `json:"invitedUserEmailAddress"`
	InvitedUserDisplayName  string `json:"invitedUserDisplayName"`
	InviteRedirectURL       string `json:"inviteRedirectUrl"`
	SendInvitationMessage   *bool  `json:"sendInvitationMessage"`
	InvitedUserType         string `json:"invitedUserType"`
	ResetRedemption         bool   `json:"resetRedemption"`
	InvitedUserMessageInfo  *struct {
		CCRecipients []struct {
			EmailAddress struct {
				Name    string `json:"name"`
				Address string `json:"address"`
			} `json:"emailAddress"`
		} `json:"ccRecipients"`
		CustomizedMessageBody string `json:"customizedMessageBody"`
		MessageLanguage       string `json:"messageLanguage"`
	} `json:"invitedUserMessageInfo"`
}

func validEmail(addr string) bool {
	if addr == "" || strings.ContainsAny(addr, " <>\"") {
		return false
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr {
		return false
	}
	at := strings.LastIndex(addr, "@")
	return at > 0 && strings.Contains(addr[at+1:], ".") && !strings.HasSuffix(addr, ".")
}

// postInvitation creates (or finds) the guest and records the invitation.
// Source: https://learn.microsoft.com/graph/api/invitation-post
func (s *Sim) postInvitation(w http.ResponseWriter, r *http.Request, _ []string) {
	var b invitationBody
	if err := readJSONBody(r, &b); err != nil {
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload.")
		return
	}
	email := strings.TrimSpace(b.InvitedUserEmailAddress)
	switch {
	case email == "":
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Required property 'invitedUserEmailAddress' is missing.")
		return
	case !validEmail(email):
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "The specified email address is invalid.")
		return
	case b.InviteRedirectURL == "":
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Required property 'inviteRedirectUrl' is missing.")
		return
	}
	if u, err := url.Parse(b.InviteRedirectURL); err != nil || !u.IsAbs() || u.Host == "" {
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "The specified inviteRedirectUrl is invalid.")
		return
	}
	var cc []string
	lang, msg := "", ""
	if mi := b.InvitedUserMessageInfo; mi != nil {
		for _, c := range mi.CCRecipients {
			cc = append(cc, c.EmailAddress.Address)
		}
		lang, msg = mi.MessageLanguage, mi.CustomizedMessageBody
	}
	if len(cc) > 1 {
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Only one ccRecipient is supported.")
		return
	}
	send := b.SendInvitationMessage != nil && *b.SendInvitationMessage

	s.mu.Lock()
	now := s.Now()
	if s.inviteLimit > 0 {
		cut := now.Add(-s.inviteWindow)
		kept := s.inviteTimes[:0]
		for _, t := range s.inviteTimes {
			if t.After(cut) {
				kept = append(kept, t)
			}
		}
		s.inviteTimes = kept
		if len(kept) >= s.inviteLimit {
			wait := kept[0].Add(s.inviteWindow).Sub(now)
			s.mu.Unlock()
			secs := int((wait + time.Second - 1) / time.Second)
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			s.writeError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Too many requests. Please retry later.")
			return
		}
		s.inviteTimes = append(s.inviteTimes, now)
	}
	u := s.lookupByMailLocked(email)
	if u == nil {
		u = &user{
			ID: newGUID(), DisplayName: b.InvitedUserDisplayName, Mail: email, OtherMails: []string{email},
			UPN: guestUPN(email, s.domain), UserType: "Guest", CreationType: "Invitation",
			ExternalUserState: statePendingAcceptance, StateChangedAt: now, AccountEnabled: true, Created: now,
			Methods: []method{{ID: passwordMethodID, Type: "passwordAuthenticationMethod", Created: now}},
		}
		if u.DisplayName == "" {
			u.DisplayName = email[:strings.LastIndex(email, "@")]
		}
		if b.InvitedUserType == "Member" {
			u.UserType = "Member"
		}
		u.Seq = s.nextSeqLocked()
		s.users[u.ID] = u
		s.userOrder = append(s.userOrder, u.ID)
	}
	inv := Invitation{
		ID: newGUID(), Email: email, DisplayName: b.InvitedUserDisplayName, RedirectURL: b.InviteRedirectURL,
		UserID: u.ID, SendMessage: send, Message: msg, CCRecipients: cc, Language: lang, At: now,
	}
	s.invitations = append(s.invitations, inv)
	s.appendAuditLocked(&AuditEvent{
		Activity: "Invite external user", Category: "UserManagement", Service: "Invited Users",
		TargetType: "User", TargetID: u.ID, TargetName: u.DisplayName, OperationType: "Add",
	})
	status := statePendingAcceptance
	if u.ExternalUserState == stateAccepted {
		status = "Completed"
	}
	userID, displayName := u.ID, b.InvitedUserDisplayName
	s.mu.Unlock()

	ticket := base64.RawURLEncoding.EncodeToString(randomBytes(24))
	redeem := "https://login.microsoftonline.com/redeem?rd=" + url.QueryEscape(
		"https://invitations.microsoft.com/redeem/?tenant="+s.tenantID+"&user="+inv.ID+"&ticket="+ticket+"&ver=2.0")
	ccOut := []any{}
	for _, c := range cc {
		ccOut = append(ccOut, map[string]any{"emailAddress": map[string]any{"name": nil, "address": c}})
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"@odata.context":          baseURL(r) + "/v1.0/$metadata#invitations/$entity",
		"id":                      inv.ID,
		"inviteRedeemUrl":         redeem,
		"invitedUserDisplayName":  nilIfEmpty(displayName),
		"invitedUserType":         "Guest",
		"invitedUserEmailAddress": email,
		"sendInvitationMessage":   send,
		"resetRedemption":         b.ResetRedemption,
		"inviteRedirectUrl":       b.InviteRedirectURL,
		"status":                  status,
		"invitedUserMessageInfo": map[string]any{
			"messageLanguage": nilIfEmpty(lang), "ccRecipients": ccOut, "customizedMessageBody": nilIfEmpty(msg),
		},
		"invitedUser": map[string]any{"id": userID},
	})
}

func (s *Sim) lookupByMailLocked(email string) *user {
	for _, id := range s.userOrder {
		u := s.users[id]
		if !u.Deleted && strings.EqualFold(u.Mail, email) {
			return u
		}
	}
	return nil
}

// --- users ---

// getLiveUser finds a readable user or answers 404.
func (s *Sim) getLiveUser(w http.ResponseWriter, r *http.Request, key string) *user {
	key, _ = url.PathUnescape(key)
	s.mu.Lock()
	u := s.lookupLocked(key, false)
	lagging := u != nil && s.replicationLag > 0 && u.CreationType == "Invitation" && s.Now().Sub(u.Created) < s.replicationLag
	s.mu.Unlock()
	switch {
	case u == nil:
		s.writeError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
			fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key))
		return nil
	case lagging:
		s.writeError(w, r, http.StatusNotFound, "Directory_ObjectNotFound",
			fmt.Sprintf("Unable to read the company information from the directory. Object '%s' not found.", key))
		return nil
	}
	return u
}

func (s *Sim) getUser(w http.ResponseWriter, r *http.Request, p []string) {
	u := s.getLiveUser(w, r, p[0])
	if u == nil {
		return
	}
	sel := parseSelect(r.URL.Query().Get("$select"))
	if s.signInDenied(w, r, sel) {
		return
	}
	s.mu.Lock()
	out, err := render(u, sel)
	s.mu.Unlock()
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	out["@odata.context"] = contextURL(r, "users/$entity", sel)
	writeJSON(w, http.StatusOK, out)
}

type pageToken struct {
	Offset int    `json:"o"`
	Since  int64  `json:"s,omitempty"`
	Upto   int64  `json:"u,omitempty"`
	Select string `json:"sel,omitempty"`
	Init   bool   `json:"i,omitempty"`
}

func encodeToken(t pageToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (pageToken, error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, err
	}
	err = json.Unmarshal(b, &t)
	return t, err
}

func topOf(r *http.Request, def, max int) (int, bool) {
	v := r.URL.Query().Get("$top")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, false
	}
	return n, true
}

// listUsers answers GET /users with $filter, $select, $top and paging.
// Source: https://learn.microsoft.com/graph/api/user-list
func (s *Sim) listUsers(w http.ResponseWriter, r *http.Request, _ []string) {
	q := r.URL.Query()
	sel := parseSelect(q.Get("$select"))
	if s.signInDenied(w, r, sel) {
		return
	}
	var pred predicate
	if f := q.Get("$filter"); f != "" {
		var err error
		if pred, err = parseFilter(f); err != nil {
			s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+err.Error())
			return
		}
	}
	top, ok := topOf(r, s.pageSize, 999)
	if !ok {
		s.writeError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid page size specified: '"+q.Get("$top")+"'. Must be between 1 and 999 inclusive.")
		return
	}
	offset := 0
	if st := q.Get("$skiptoken"); st != "" {
		t, err := decodeToken(st)
		if err != nil {
			s.writeError(w, r, http.StatusBadRequest, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
			return
		}
		offset = t.Offset
	}
	s.mu.Lock()
	var matched []map[string]any
	for _, id := range s.userOrder {
		u := s.users[id]
		if u.Deleted {
			continue
		}
		if pred != nil {
			m, err := pred(u.filterValue)
			if err != nil {
				s.mu.Unlock()
				s.writeError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported Query.")
				return
			}
			if !m {
				continue
			}
		}
		out, err := render(u, sel)
		if err != nil {
			s.mu.Unlock()
			s.writeError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
			return
		}
		matched = append(matched, out)
	}
	s.mu.Unlock()
	page, next := paginate(matched, offset, top)
	resp := map[string]any{"@odata.context": contextURL(r, "users", sel), "value": page}
	if next >= 0 {
		q.Set("$skiptoken", encodeToken(pageToken{Offset: next}))
		resp["@odata.nextLink"] = nextLink(r, "/users", q)
	}
	writeJSON(w, http.StatusOK, resp)
}

func paginate(items []map[string]any, offset, top int) ([]map[string]any, int) {
	if offset > len(items) {
		offset = len(items)
	}
	end := offset + top
	if end >= len(items) {
		page := items[offset:]
		if page == nil {
			page = []map[string]any{}
		}
		return page, -1
	}
	return items[offset:end], end
}

// getUsersDelta answers GET /users/delta: a first round ($select, no
// token) lists every user page by page (@odata.nextLink with $skiptoken)
// and ends with @odata.deltaLink ($deltatoken); a round from a delta token
// lists users changed since, deleted ones with @removed.
// Source: https://learn.microsoft.com/graph/api/user-delta
func (s *Sim) getUsersDelta(w http.ResponseWriter, r *http.Request, _ []string) {
	q := r.URL.Query()
	var t pageToken
	switch {
	case q.Get("$skiptoken") != "":
		var err error
		if t, err = decodeToken(q.Get("$skiptoken")); err != nil {
			s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Badly formed token.")
			return
		}
	case q.Get("$deltatoken") != "":
		var err error
		if t, err = decodeToken(q.Get("$deltatoken")); err != nil {
			s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Badly formed token.")
			return
		}
		t.Since, t.Offset, t.Init = t.Upto, 0, false
		t.Upto = 0
	default:
		t = pageToken{Init: true, Select: q.Get("$select")}
	}
	sel := parseSelect(t.Select)
	top := s.pageSize
	s.mu.Lock()
	if t.Upto == 0 {
		t.Upto = s.seq
	}
	var items []map[string]any
	for _, id := range s.userOrder {
		u := s.users[id]
		if t.Init {
			if u.Deleted {
				continue
			}
		} else if u.Seq <= t.Since || u.Seq > t.Upto {
			continue
		}
		if u.Deleted {
			items = append(items, map[string]any{"id": u.ID, "@removed": map[string]any{"reason": "changed"}})
			continue
		}
		out, err := render(u, sel)
		if err != nil {
			s.mu.Unlock()
			s.writeError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
			return
		}
		items = append(items, out)
	}
	s.mu.Unlock()
	page, next := paginate(items, t.Offset, top)
	resp := map[string]any{"@odata.context": contextURL(r, "users", sel), "value": page}
	if next >= 0 {
		nt := t
		nt.Offset = next
		resp["@odata.nextLink"] = nextLink(r, "/users/delta", url.Values{"$skiptoken": {encodeToken(nt)}})
	} else {
		dt := pageToken{Upto: t.Upto, Select: t.Select}
		resp["@odata.deltaLink"] = nextLink(r, "/users/delta", url.Values{"$deltatoken": {encodeToken(dt)}})
	}
	writeJSON(w, http.StatusOK, resp)
}

// patchUser updates accountEnabled (and displayName).
// Source: https://learn.microsoft.com/graph/api/user-update
func (s *Sim) patchUser(w http.ResponseWriter, r *http.Request, p []string) {
	u := s.getLiveUser(w, r, p[0])
	if u == nil {
		return
	}
	var body map[string]json.RawMessage
	if err := readJSONBody(r, &body); err != nil {
		s.writeError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range body {
		switch k {
		case "accountEnabled":
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				s.writeError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'accountEnabled' of resource 'User'.")
				return
			}
			u.AccountEnabled = b
		case "displayName":
			var d string
			if err := json.Unmarshal(v, &d); err != nil {
				s.writeError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'displayName' of resource 'User'.")
				return
			}
			u.DisplayName = d
		default:
			if strings.HasPrefix(k, "@odata") {
				continue
			}
			s.writeError(w, r, http.StatusBadRequest, "Request_BadRequest", "Property '"+k+"' is not supported by the simulator.")
			return
		}
	}
	u.Seq = s.nextSeqLocked()
	w.WriteHeader(http.StatusNoContent)
}

// revokeSessions answers POST /users/{id}/revokeSignInSessions.
// Source: https://learn.microsoft.com/graph/api/user-revokesigninsessions
func (s *Sim) revokeSessions(w http.ResponseWriter, r *http.Request, p []string) {
	u := s.getLiveUser(w, r, p[0])
	if u == nil {
		return
	}
	s.mu.Lock()
	u.SessionsRevokedAt = s.Now()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": baseURL(r) + "/v1.0/$metadata#Edm.Boolean", "value": true})
}

// deleteUser soft-deletes a user.
// Source: https://learn.microsoft.com/graph/api/user-delete
func (s *Sim) deleteUser(w http.ResponseWriter, r *http.Request, p []string) {
	key, _ := url.PathUnescape(p[0])
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookupLocked(key, false)
	if u == nil {
		s.writeError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
			fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key))
		return
	}
	u.Deleted, u.DeletedAt = true, s.Now()
	u.Seq = s.nextSeqLocked()
	for _, g := range s.groups {
		g.Members = remove(g.Members, u.ID)
	}
	w.WriteHeader(http.StatusNoContent)
}

func remove(ids []string, id string) []string {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// listMethods answers GET /users/{id}/authentication/methods.
// Source: https://learn.microsoft.com/graph/api/authentication-list-methods
func (s *Sim) listMethods(w http.ResponseWriter, r *http.Request, p []string) {
	u := s.getLiveUser(w, r, p[0])
	if u == nil {
		return
	}
	s.mu.Lock()
	var out []map[string]any
	for _, m := range u.Methods {
		out = append(out, methodJSON(m))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": baseURL(r) + "/v1.0/$metadata#users('" + u.ID + "')/authentication/methods",
		"value":          out,
	})
}

func methodJSON(m method) map[string]any {
	out := map[string]any{"@odata.type": methodTypePrefix + m.Type, "id": m.ID, "createdDateTime": timeOrNil(m.Created)}
	switch m.Type {
	case "passwordAuthenticationMethod":
		out["password"] = nil
	case "microsoftAuthenticatorAuthenticationMethod":
		out["displayName"] = "Simulated iPhone"
		out["deviceTag"] = "SoftwareTokenActivated"
		out["phoneAppVersion"] = "6.8.7"
	case "phoneAuthenticationMethod":
		out["phoneNumber"] = "+65 91234567"
		out["phoneType"] = "mobile"
		out["smsSignInState"] = "notAllowedByPolicy"
	case "fido2AuthenticationMethod":
		out["displayName"] = "Simulated key"
		out["model"] = "Simulated FIDO2"
	}
	return out
}
