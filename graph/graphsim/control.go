package graphsim

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// ErrNoUser is returned by control methods for an unknown user.
var ErrNoUser = errors.New("graphsim: no such user")

// AddGuest creates a pending guest directly (as if invited elsewhere,
// without a recorded invitation) and returns its id.
func (s *Sim) AddGuest(email, displayName string) (string, error) {
	if !validEmail(email) {
		return "", fmt.Errorf("graphsim: invalid email %q", email)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.lookupByMailLocked(email); u != nil {
		return u.ID, nil
	}
	now := s.Now()
	if displayName == "" {
		displayName = email
	}
	u := &user{
		ID: newGUID(), DisplayName: displayName, Mail: email, OtherMails: []string{email},
		UPN: guestUPN(email, s.domain), UserType: "Guest", CreationType: "Invitation",
		ExternalUserState: statePendingAcceptance, StateChangedAt: now, AccountEnabled: true, Created: now.Add(-time.Hour),
		Methods: []method{{ID: passwordMethodID, Type: "passwordAuthenticationMethod", Created: now}},
	}
	u.Seq = s.nextSeqLocked()
	s.users[u.ID] = u
	s.userOrder = append(s.userOrder, u.ID)
	return u.ID, nil
}

// AddMember creates a member of the tenant (staff: userType Member, no
// creationType, enabled) with the given mail, as if the organisation had
// created it; it returns the id. Tests use it to show that passbridge never
// acts on accounts it did not invite.
func (s *Sim) AddMember(email, displayName string) (string, error) {
	if !validEmail(email) {
		return "", fmt.Errorf("graphsim: invalid email %q", email)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.lookupByMailLocked(email); u != nil {
		return "", fmt.Errorf("graphsim: %s is already held by %s", email, u.ID)
	}
	now := s.Now()
	if displayName == "" {
		displayName = email
	}
	u := &user{
		ID: newGUID(), DisplayName: displayName, Mail: email, OtherMails: []string{},
		UPN: email, UserType: "Member", ExternalUserState: "", AccountEnabled: true, Created: now.Add(-24 * time.Hour),
		Methods: []method{{ID: passwordMethodID, Type: "passwordAuthenticationMethod", Created: now}},
	}
	u.Seq = s.nextSeqLocked()
	s.users[u.ID] = u
	s.userOrder = append(s.userOrder, u.ID)
	return u.ID, nil
}

// Redeem plays the guest accepting the invitation: externalUserState
// becomes Accepted at the simulator's now, and a "Redeem external user
// invite" audit event is appended.
func (s *Sim) Redeem(idOrEmail string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookupLocked(idOrEmail, false)
	if u == nil {
		return fmt.Errorf("%w: %s", ErrNoUser, idOrEmail)
	}
	if u.ExternalUserState == stateAccepted {
		return nil
	}
	u.ExternalUserState, u.StateChangedAt = stateAccepted, s.Now()
	if !s.redeemOutsideDelta {
		u.Seq = s.nextSeqLocked()
	}
	s.appendAuditLocked(&AuditEvent{
		Activity: activityRedeemInvite, Category: "UserManagement", Service: "Invited Users", OperationType: "Update",
		UserID: u.ID, UserPrincipalName: u.UPN, TargetType: "User", TargetID: u.ID, TargetName: u.DisplayName,
	})
	return nil
}

// RegisterMFA adds an authentication method (short @odata.type name, e.g.
// "microsoftAuthenticatorAuthenticationMethod", "phoneAuthenticationMethod";
// "" means Microsoft Authenticator) and appends a "User registered security
// info" audit event.
func (s *Sim) RegisterMFA(idOrEmail, methodType string) error {
	methodType = strings.TrimPrefix(methodType, methodTypePrefix)
	if methodType == "" {
		methodType = defaultMFAMethod
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookupLocked(idOrEmail, false)
	if u == nil {
		return fmt.Errorf("%w: %s", ErrNoUser, idOrEmail)
	}
	u.Methods = append(u.Methods, method{ID: newGUID(), Type: methodType, Created: s.Now()})
	s.appendAuditLocked(&AuditEvent{
		Activity: activityRegisteredSecurityInfo, Category: "UserManagement", Service: "Authentication Methods",
		OperationType: "Add", UserID: u.ID, UserPrincipalName: u.UPN, TargetType: "User", TargetID: u.ID, TargetName: u.DisplayName,
	})
	return nil
}

// AcceptAgreement appends an "Accept Terms Of Use" audit event initiated by
// the user, with targetResources [{type Policy, id agreementID,
// displayName name}].
func (s *Sim) AcceptAgreement(idOrEmail, agreementID, name string) error {
	return s.agreementEvent(idOrEmail, agreementID, name, activityAcceptTermsOfUse)
}

// DeclineAgreement appends a "Decline Terms Of Use" audit event.
func (s *Sim) DeclineAgreement(idOrEmail, agreementID, name string) error {
	return s.agreementEvent(idOrEmail, agreementID, name, activityDeclineTermsOfUse)
}

func (s *Sim) agreementEvent(idOrEmail, agreementID, name, activity string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookupLocked(idOrEmail, false)
	if u == nil {
		return fmt.Errorf("%w: %s", ErrNoUser, idOrEmail)
	}
	s.appendAuditLocked(&AuditEvent{
		Activity: activity, Category: "Policy", Service: "Terms Of Use", OperationType: "Add",
		UserID: u.ID, UserPrincipalName: u.UPN, TargetType: "Policy", TargetID: agreementID, TargetName: name,
	})
	return nil
}

// --- HTTP control API ---

type userRef struct {
	User  string `json:"user"` // id or e-mail
	Email string `json:"email"`
	ID    string `json:"id"`
}

func (u userRef) key() string {
	for _, k := range []string{u.User, u.ID, u.Email} {
		if k != "" {
			return k
		}
	}
	return ""
}

// faultRequest is Fault with durations as strings ("2s") for HTTP users.
type faultRequest struct {
	Route          string  `json:"route"`
	Status         int     `json:"status"`
	RetryAfter     string  `json:"retryAfter"`
	RetryAfterDate bool    `json:"retryAfterDate"`
	Latency        string  `json:"latency"`
	Hang           bool    `json:"hang"`
	AfterHandling  bool    `json:"afterHandling"`
	Times          int     `json:"times"`
	Fraction       float64 `json:"fraction"`
}

// Stats is the counts the control API reports.
type Stats struct {
	Calls              map[string]int `json:"calls"`
	Unexpected         []string       `json:"unexpected"`
	InvitationsByEmail map[string]int `json:"invitationsByEmail"`
	MailsByEmail       map[string]int `json:"mailsByEmail"`
}

// Stats returns the counts so far.
func (s *Sim) Stats() Stats {
	st := Stats{Calls: s.AllCalls(), Unexpected: s.UnexpectedCalls(), InvitationsByEmail: map[string]int{}, MailsByEmail: map[string]int{}}
	if st.Unexpected == nil {
		st.Unexpected = []string{}
	}
	for _, inv := range s.Invitations() {
		e := strings.ToLower(inv.Email)
		st.InvitationsByEmail[e]++
		if inv.SendMessage {
			st.MailsByEmail[e]++
		}
	}
	return st
}

// serveControl serves the control API:
//
//	POST   /_sim/token        {"roles":[...],"resource":"..."} → {"access_token":...}
//	POST   /_sim/guests       {"email":...,"displayName":...} → {"id":...}
//	POST   /_sim/redeem       {"user": id or email}
//	POST   /_sim/mfa          {"user":..., "method":"microsoftAuthenticatorAuthenticationMethod"}
//	POST   /_sim/agreements   {"user":..., "agreementId":..., "agreementName":..., "decline":false}
//	POST   /_sim/faults       Fault (durations as "2s")
//	POST   /_sim/signin          {"id"|"email", "at"}  (last successful sign-in; at left out: now)
//	POST   /_sim/signInActivity  {"available": false} (a tenant without Entra ID P1)
//	DELETE /_sim/faults
//	GET    /_sim/stats
//	GET    /_sim/users/{id or email}
//	GET    /_sim/identity/token  (managed identity, App Service 2019-08-01)
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/_sim")
	fail := func(status int, err error) {
		writeJSON(w, status, map[string]string{"error": err.Error()})
	}
	decode := func(v any) bool {
		if err := readJSONBody(r, v); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("bad JSON body: %w", err))
			return false
		}
		return true
	}
	result := func(err error) {
		switch {
		case errors.Is(err, ErrNoUser):
			fail(http.StatusNotFound, err)
		case err != nil:
			fail(http.StatusBadRequest, err)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}
	switch {
	case r.Method == http.MethodPost && path == "/token":
		var b struct {
			Roles    []string `json:"roles"`
			Resource string   `json:"resource"`
		}
		if !decode(&b) {
			return
		}
		if b.Resource == "" {
			b.Resource = "https://graph.microsoft.com"
		}
		var tok string
		var exp time.Time
		if b.Roles == nil {
			tok, exp = s.Token(b.Resource)
		} else {
			tok, exp = s.TokenWithRoles(b.Resource, b.Roles...)
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_on": exp.Unix(), "token_type": "Bearer"})
	case r.Method == http.MethodPost && path == "/guests":
		var b struct {
			Email       string `json:"email"`
			DisplayName string `json:"displayName"`
		}
		if !decode(&b) {
			return
		}
		id, err := s.AddGuest(b.Email, b.DisplayName)
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	case r.Method == http.MethodPost && path == "/redeem":
		var b userRef
		if decode(&b) {
			result(s.Redeem(b.key()))
		}
	case r.Method == http.MethodPost && path == "/mfa":
		var b struct {
			userRef
			Method string `json:"method"`
		}
		if decode(&b) {
			result(s.RegisterMFA(b.key(), b.Method))
		}
	case r.Method == http.MethodPost && path == "/agreements":
		var b struct {
			userRef
			AgreementID   string `json:"agreementId"`
			AgreementName string `json:"agreementName"`
			Decline       bool   `json:"decline"`
		}
		if !decode(&b) {
			return
		}
		if b.Decline {
			result(s.DeclineAgreement(b.key(), b.AgreementID, b.AgreementName))
		} else {
			result(s.AcceptAgreement(b.key(), b.AgreementID, b.AgreementName))
		}
	case r.Method == http.MethodPost && path == "/signin":
		var b struct {
			userRef
			At time.Time `json:"at"` // RFC 3339; left out: now
		}
		if decode(&b) {
			result(s.SetLastSignIn(b.key(), b.At))
		}
	case r.Method == http.MethodPost && path == "/signInActivity":
		var b struct {
			Available bool `json:"available"`
		}
		if decode(&b) {
			s.SetSignInActivityAvailable(b.Available)
			w.WriteHeader(http.StatusNoContent)
		}
	case r.Method == http.MethodPost && path == "/faults":
		var b faultRequest
		if !decode(&b) {
			return
		}
		f := Fault{Route: b.Route, Status: b.Status, RetryAfterDate: b.RetryAfterDate, Hang: b.Hang,
			AfterHandling: b.AfterHandling, Times: b.Times, Fraction: b.Fraction}
		for _, d := range []struct {
			s   string
			dst *time.Duration
		}{{b.RetryAfter, &f.RetryAfter}, {b.Latency, &f.Latency}} {
			if d.s == "" {
				continue
			}
			v, err := time.ParseDuration(d.s)
			if err != nil {
				fail(http.StatusBadRequest, fmt.Errorf("bad duration: %w", err))
				return
			}
			*d.dst = v
		}
		s.InjectFault(f)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodDelete && path == "/faults":
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && path == "/stats":
		st := s.Stats()
		sort.Strings(st.Unexpected)
		writeJSON(w, http.StatusOK, st)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/users/"):
		u, ok := s.User(strings.TrimPrefix(path, "/users/"))
		if !ok {
			fail(http.StatusNotFound, ErrNoUser)
			return
		}
		writeJSON(w, http.StatusOK, u)
	default:
		fail(http.StatusNotFound, fmt.Errorf("no control route %s %s", r.Method, r.URL.Path))
	}
}
