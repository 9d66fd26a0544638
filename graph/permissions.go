package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/microsoftgraph/msgraph-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/passbridge/passbridge/connector"
)

// PermissionCheck is the result of checking one Graph permission.
type PermissionCheck struct {
	Permission string // e.g. "AuditLog.Read.All"; "credential" for the token itself
	OK         bool
	// Unverified: neither a harmless call nor the token's roles could tell
	// (OK is then false).
	Unverified bool
	// Optional: passbridge works without it, one feature is off (the
	// inactivity rules without sign-in activity); config check reports it
	// and does not fail for it.
	Optional bool
	Detail   string // what was checked and what came back
	Fix      string // what an admin does when !OK
}

// higherPrivileges lists application permissions that also grant each one.
// Source: https://learn.microsoft.com/graph/permissions-reference
var higherPrivileges = map[string][]string{
	PermInvite:      {"User.ReadWrite.All", "Directory.ReadWrite.All"},
	PermUsers:       {"Directory.ReadWrite.All"},
	PermAuthMethods: {"UserAuthenticationMethod.ReadWrite.All"},
	PermAuditLog:    {},
	PermMembers:     {"Group.ReadWrite.All", "Directory.ReadWrite.All"},
	PermGroupCreate: {"Group.ReadWrite.All", "Directory.ReadWrite.All"},
}

func fixFor(perm string) string {
	return fmt.Sprintf("grant %s (Application) and admin-consent", perm)
}

// tokenRoles decodes the roles claim of a JWT access token without
// verifying it (it is ours, just fetched); ok is false for a token that is
// not a readable JWT.
func tokenRoles(token string) (roles []string, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var c struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, false
	}
	return c.Roles, true
}

func hasRole(roles []string, perm string) bool {
	if slices.Contains(roles, perm) {
		return true
	}
	for _, p := range higherPrivileges[perm] {
		if slices.Contains(roles, p) {
			return true
		}
	}
	return false
}

// CheckPermissions verifies the credential and each Graph permission
// passbridge needs, for `passbridge config check`. Read permissions are
// checked with harmless calls (GET /users?$top=1, GET
// /auditLogs/directoryAudits?$top=1, GET a user's authentication methods);
// write permissions (User.Invite.All, Group.Create,
// GroupMember.ReadWrite.All, and the write half of User.ReadWrite.All) are
// read from the token's roles claim, since the calls that would prove them
// are not harmless (an invitation mails a person).
func (c *Client) CheckPermissions(ctx context.Context) []PermissionCheck {
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		de := c.classify("token", err)
		return []PermissionCheck{{
			Permission: "credential", Detail: "could not get a token for " + c.scope + ": " + de.Error(),
			Fix: "check azure.tenantID, azure.clientID, azure.credential and the secret, certificate or identity it uses",
		}}
	}
	roles, jwt := tokenRoles(tok.Token)
	out := []PermissionCheck{{Permission: "credential", OK: true, Detail: "got a token for " + c.scope}}

	// roleCheck reports a permission from the roles claim only.
	roleCheck := func(perm, what string) PermissionCheck {
		pc := PermissionCheck{Permission: perm, Fix: fixFor(perm)}
		switch {
		case !jwt:
			pc.Unverified = true
			pc.Detail = "not verifiable without " + what + " (the token is not a readable JWT)"
		case hasRole(roles, perm):
			pc.OK, pc.Fix = true, ""
			pc.Detail = "granted (token roles)"
		default:
			pc.Detail = "missing from the token's roles"
		}
		return pc
	}
	// callCheck reports a permission from a harmless call, cross-checked
	// with the roles claim when there is one.
	callCheck := func(perm, call string, err error) PermissionCheck {
		pc := PermissionCheck{Permission: perm, Fix: fixFor(perm)}
		var de *connector.DirectoryError
		switch {
		case err == nil || (errors.As(err, &de) && de.Status == http.StatusNotFound):
			pc.OK, pc.Fix = true, ""
			pc.Detail = call + ": allowed"
		case errors.As(err, &de) && de.Status == http.StatusForbidden:
			pc.Detail = call + ": 403 " + de.Code
		default:
			pc.Unverified = true
			pc.Detail = call + ": " + err.Error()
			pc.Fix = "retry later; " + fixFor(perm) + " if it is missing"
		}
		return pc
	}

	// User.ReadWrite.All: the read half by a call, the write half by roles.
	var someUser string
	top := int32(1)
	err = c.do(ctx, opFindGuest, c.directory, 1, noRetry, func(ctx context.Context) error {
		r, err := c.graph.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Top: &top, Select: []string{"id"}},
		})
		if err == nil && len(r.GetValue()) > 0 {
			someUser = deref(r.GetValue()[0].GetId())
		}
		return err
	})
	uc := callCheck(PermUsers, "GET /users?$top=1", err)
	if uc.OK && jwt && !hasRole(roles, PermUsers) {
		uc.OK, uc.Fix = false, fixFor(PermUsers)
		uc.Detail += "; but the token's roles lack it (reading works, disabling and deleting guests will not)"
	}
	out = append(out, uc)

	out = append(out, roleCheck(PermInvite, "sending an invitation"))

	realUser := someUser != ""
	if !realUser {
		someUser = "00000000-0000-0000-0000-000000000000"
	}
	err = c.do(ctx, opAuthMethods, c.directory, 1, noRetry, func(ctx context.Context) error {
		_, err := c.graph.Users().ByUserId(someUser).Authentication().Methods().Get(ctx, nil)
		return err
	})
	out = append(out, callCheck(PermAuthMethods, "GET /users/{id}/authentication/methods", err))

	err = c.do(ctx, opAuditEvents, c.directory, 1, noRetry, func(ctx context.Context) error {
		_, err := c.graph.AuditLogs().DirectoryAudits().Get(ctx, &auditlogs.DirectoryAuditsRequestBuilderGetRequestConfiguration{
			QueryParameters: &auditlogs.DirectoryAuditsRequestBuilderGetQueryParameters{Top: &top},
		})
		return err
	})
	out = append(out, callCheck(PermAuditLog, "GET /auditLogs/directoryAudits?$top=1", err))

	out = append(out, roleCheck(PermMembers, "changing a group's members"))
	out = append(out, roleCheck(PermGroupCreate, "creating a group"))

	// signInActivity (the inactivity rules) needs Entra ID P1 besides
	// AuditLog.Read.All; without it Graph answers 403 and the rules report
	// themselves unavailable and disable nobody.
	_, err = c.SignInActivity(ctx, []string{someUser})
	sc := callCheck("signInActivity", "GET /users/{id}?$select=signInActivity", err)
	if !realUser && sc.OK {
		// A 404 for a made-up id says nothing about the licence.
		sc = PermissionCheck{Permission: "signInActivity", Unverified: true,
			Detail: "no user in the tenant to ask about; the reconciler reports it on its first sign-in sweep"}
	}
	sc.Optional = true
	if !sc.OK {
		sc.Fix = "the lifecycle.inactivity rules stay off until the tenant has Entra ID P1 and " + PermAuditLog + " is granted"
	}
	out = append(out, sc)
	return out
}
