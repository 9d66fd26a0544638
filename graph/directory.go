package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/passbridge/passbridge/connector"
)

// guestSelect is what passbridge reads of a user; externalUserState and
// friends come back only when $select-ed.
// Source: https://learn.microsoft.com/graph/api/resources/user#properties
// userType, creationType and createdDateTime tell whether passbridge's own
// invitation created the account (connector/provenance.go).
var guestSelect = []string{"id", "mail", "userType", "externalUserState", "externalUserStateChangeDateTime", "accountEnabled",
	"creationType", "createdDateTime"}

// Terms of Use audit activities (capital "Of").
// Source: https://learn.microsoft.com/entra/identity/monitoring-health/reference-audit-activities
const (
	ActivityAcceptTermsOfUse  = "Accept Terms Of Use"
	ActivityDeclineTermsOfUse = "Decline Terms Of Use"
)

// Invite creates the B2B invitation. It is never retried here (not even by
// the SDK): after a timeout the invitation may exist, and a second POST
// could mail the user twice; the caller looks the guest up first. The
// answer's redeem URL is a bearer link and is never logged.
// Source: https://learn.microsoft.com/graph/api/invitation-post
func (c *Client) Invite(ctx context.Context, inv connector.Invitation) (connector.InviteResult, error) {
	if len(inv.CCRecipients) > 1 {
		return connector.InviteResult{}, &connector.DirectoryError{Class: connector.Permanent, Op: opInvite,
			Message: fmt.Sprintf("Graph accepts one ccRecipient, got %d", len(inv.CCRecipients))}
	}
	body := models.NewInvitation()
	body.SetInvitedUserEmailAddress(&inv.Email)
	body.SetInviteRedirectUrl(&inv.RedirectURL)
	body.SetSendInvitationMessage(&inv.SendEmail)
	guest := "Guest"
	body.SetInvitedUserType(&guest)
	if inv.DisplayName != "" {
		body.SetInvitedUserDisplayName(&inv.DisplayName)
	}
	if inv.Message != "" || inv.Language != "" || len(inv.CCRecipients) > 0 {
		mi := models.NewInvitedUserMessageInfo()
		if inv.Message != "" {
			mi.SetCustomizedMessageBody(&inv.Message)
		}
		if inv.Language != "" {
			mi.SetMessageLanguage(&inv.Language)
		}
		var cc []models.Recipientable
		for _, addr := range inv.CCRecipients {
			ea := models.NewEmailAddress()
			ea.SetAddress(&addr)
			r := models.NewRecipient()
			r.SetEmailAddress(ea)
			cc = append(cc, r)
		}
		if len(cc) > 0 {
			mi.SetCcRecipients(cc)
		}
		body.SetInvitedUserMessageInfo(mi)
	}
	if inv.SendEmail && inv.Message != "" {
		// Documented: an app-sent invitation drops customizedMessageBody.
		c.log.LogAttrs(ctx, slog.LevelWarn, "graph invitation message will not be included in the mail Graph sends; send with sendEmail false and mail the link yourself")
	}
	var res models.Invitationable
	err := c.do(ctx, opInvite, c.invites, 1, noRetry, func(ctx context.Context) error {
		var err error
		res, err = c.graph.Invitations().Post(ctx, body, nil)
		return err
	})
	if err != nil {
		return connector.InviteResult{}, err
	}
	out := connector.InviteResult{RedeemURL: deref(res.GetInviteRedeemUrl()), Status: deref(res.GetStatus())}
	if u := res.GetInvitedUser(); u != nil {
		out.GuestID = deref(u.GetId())
	}
	if out.GuestID == "" {
		return connector.InviteResult{}, &connector.DirectoryError{Class: connector.Transient, Op: opInvite, Message: "invitation answer carried no invitedUser.id"}
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "graph invitation created", slog.String("guestID", out.GuestID), slog.String("status", out.Status))
	return out, nil
}

// odataQuote quotes s as an OData string literal (single quotes doubled).
// Source: https://learn.microsoft.com/graph/query-parameters#escaping-single-quotes
func odataQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// FindGuestByEmail looks the user up by mail, then by otherMails.
// Source: https://learn.microsoft.com/graph/aad-advanced-queries#user-properties
func (c *Client) FindGuestByEmail(ctx context.Context, email string) (connector.Guest, error) {
	for _, f := range []string{
		"mail eq " + odataQuote(email),
		"otherMails/any(m:m eq " + odataQuote(email) + ")",
	} {
		var list []models.Userable
		top := int32(2)
		// Only throttling is retried here: the lookup precedes every
		// invitation attempt, and a 5xx is cheaper to retry with the job's
		// backoff than by holding a worker while sleeping.
		err := c.do(ctx, opFindGuest, c.directory, 1, retryThrottle, func(ctx context.Context) error {
			r, err := c.graph.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
				QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &f, Select: guestSelect, Top: &top},
			})
			if err == nil {
				list = r.GetValue()
			}
			return err
		})
		if err != nil {
			return connector.Guest{}, err
		}
		if len(list) > 0 {
			return toGuest(list[0]), nil
		}
	}
	return connector.Guest{}, &connector.DirectoryError{Class: connector.NotFound, Op: opFindGuest, Status: http.StatusNotFound, Message: "no user with that e-mail"}
}

func toGuest(u models.Userable) connector.Guest {
	g := connector.Guest{
		ID: deref(u.GetId()), Mail: deref(u.GetMail()), ExternalUserState: deref(u.GetExternalUserState()),
		AccountEnabled: deref(u.GetAccountEnabled()),
		UserType:       deref(u.GetUserType()), CreationType: deref(u.GetCreationType()),
	}
	if t := u.GetCreatedDateTime(); t != nil {
		tt := t.UTC()
		g.Created = &tt
	}
	if t := u.GetExternalUserStateChangeDateTime(); t != nil {
		tt := t.UTC()
		g.StateChangedAt = &tt
	}
	if ad := u.GetAdditionalData(); ad != nil {
		if _, ok := ad["@removed"]; ok {
			g.Removed = true
		}
	}
	return g
}

// GuestChanges reads /users/delta from deltaLink ("" starts a round that
// lists every user), following @odata.nextLink to the @odata.deltaLink.
// Graph does not document whether a redemption alone produces a delta
// entry: callers keep a periodic sweep of invited users (GetGuests). A
// stored link that Graph refuses (4xx other than 403) starts a new round,
// which lists every user again.
// Source: https://learn.microsoft.com/graph/api/user-delta
func (c *Client) GuestChanges(ctx context.Context, deltaLink string) ([]connector.Guest, string, error) {
	var out []connector.Guest
	next := deltaLink
	for page := 0; ; page++ {
		var r users.DeltaGetResponseable
		err := c.do(ctx, opGuestChanges, c.directory, 1, retryAll, func(ctx context.Context) error {
			var err error
			if next == "" {
				r, err = c.graph.Users().Delta().GetAsDeltaGetResponse(ctx, &users.DeltaRequestBuilderGetRequestConfiguration{
					QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: guestSelect},
				})
			} else {
				r, err = c.graph.Users().Delta().WithUrl(next).GetAsDeltaGetResponse(ctx, nil)
			}
			return err
		})
		if err != nil {
			// A stored delta link Graph no longer accepts: start a new round.
			if page == 0 && deltaLink != "" && next == deltaLink && connector.ClassOf(err) == connector.Permanent && !isForbidden(err) {
				c.log.LogAttrs(ctx, slog.LevelWarn, "graph delta link refused; starting a new round", slog.String("err", err.Error()))
				next = ""
				deltaLink = ""
				page = -1
				continue
			}
			return nil, "", err
		}
		for _, u := range r.GetValue() {
			out = append(out, toGuest(u))
		}
		if nl := deref(r.GetOdataNextLink()); nl != "" {
			next = nl
			continue
		}
		dl := deref(r.GetOdataDeltaLink())
		if dl == "" {
			return nil, "", &connector.DirectoryError{Class: connector.Transient, Op: opGuestChanges, Message: "delta page carried neither nextLink nor deltaLink"}
		}
		return out, dl, nil
	}
}

// AuditEvents reads Terms of Use accept/decline events at or after since,
// oldest first, de-duplicated by id. Each activity is queried on its own
// (eq filters, the documented form) and paged through. Events arrive late:
// callers read from a high-water mark with an overlap.
// Source: https://learn.microsoft.com/graph/api/directoryaudit-list
func (c *Client) AuditEvents(ctx context.Context, since time.Time) ([]connector.AuditEvent, error) {
	seen := map[string]bool{}
	var out []connector.AuditEvent
	for _, activity := range []string{ActivityAcceptTermsOfUse, ActivityDeclineTermsOfUse} {
		filter := "activityDisplayName eq " + odataQuote(activity)
		if !since.IsZero() {
			// activityDateTime supports ge/le only.
			filter = "activityDateTime ge " + since.UTC().Format(time.RFC3339) + " and " + filter
		}
		top := int32(500)
		next := ""
		for {
			var r models.DirectoryAuditCollectionResponseable
			err := c.do(ctx, opAuditEvents, c.directory, 1, retryAll, func(ctx context.Context) error {
				var err error
				if next == "" {
					r, err = c.graph.AuditLogs().DirectoryAudits().Get(ctx, &auditlogs.DirectoryAuditsRequestBuilderGetRequestConfiguration{
						QueryParameters: &auditlogs.DirectoryAuditsRequestBuilderGetQueryParameters{Filter: &filter, Top: &top},
					})
				} else {
					r, err = c.graph.AuditLogs().DirectoryAudits().WithUrl(next).Get(ctx, nil)
				}
				return err
			})
			if err != nil {
				return nil, err
			}
			for _, a := range r.GetValue() {
				ev := toAuditEvent(a)
				if ev.ID == "" || seen[ev.ID] {
					continue
				}
				seen[ev.ID] = true
				out = append(out, ev)
			}
			if next = deref(r.GetOdataNextLink()); next == "" {
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

func toAuditEvent(a models.DirectoryAuditable) connector.AuditEvent {
	ev := connector.AuditEvent{ID: deref(a.GetId()), Activity: deref(a.GetActivityDisplayName())}
	if t := a.GetActivityDateTime(); t != nil {
		ev.At = t.UTC()
	}
	if ib := a.GetInitiatedBy(); ib != nil && ib.GetUser() != nil {
		ev.UserID = deref(ib.GetUser().GetId())
		ev.UserPrincipal = deref(ib.GetUser().GetUserPrincipalName())
	}
	// Whether targetResources[].id is the agreement id is unverified:
	// callers match the id and fall back to the display name.
	for _, tr := range a.GetTargetResources() {
		if strings.EqualFold(deref(tr.GetTypeEscaped()), "Policy") {
			ev.TargetID = deref(tr.GetId())
			ev.TargetName = deref(tr.GetDisplayName())
			break
		}
	}
	return ev
}

// SetAccountEnabled patches accountEnabled.
// Source: https://learn.microsoft.com/graph/api/user-update
func (c *Client) SetAccountEnabled(ctx context.Context, guestID string, enabled bool) error {
	u := models.NewUser()
	u.SetAccountEnabled(&enabled)
	return c.do(ctx, opSetEnabled, c.directory, 1, retryAll, func(ctx context.Context) error {
		_, err := c.graph.Users().ByUserId(guestID).Patch(ctx, u, nil)
		return err
	})
}

// RevokeSessions invalidates the user's refresh tokens and session cookies.
// Source: https://learn.microsoft.com/graph/api/user-revokesigninsessions
func (c *Client) RevokeSessions(ctx context.Context, guestID string) error {
	return c.do(ctx, opRevokeSessions, c.directory, 1, retryAll, func(ctx context.Context) error {
		_, err := c.graph.Users().ByUserId(guestID).RevokeSignInSessions().PostAsRevokeSignInSessionsPostResponse(ctx, nil)
		return err
	})
}

// DeleteUser deletes (soft-deletes, for 30 days) the guest; a guest
// already gone is not an error.
// Source: https://learn.microsoft.com/graph/api/user-delete
func (c *Client) DeleteUser(ctx context.Context, guestID string) error {
	err := c.do(ctx, opDeleteUser, c.directory, 1, retryAll, func(ctx context.Context) error {
		return c.graph.Users().ByUserId(guestID).Delete(ctx, nil)
	})
	if isNotFound(err) {
		return nil
	}
	return err
}

func isForbidden(err error) bool {
	var de *connector.DirectoryError
	return errors.As(err, &de) && de.Status == http.StatusForbidden
}

// isNotFound reports whether err says the object does not exist: class
// NotFound, not merely HTTP 404 (Directory_ObjectNotFound right after an
// invitation is replication lag, Transient).
func isNotFound(err error) bool {
	var de *connector.DirectoryError
	return errors.As(err, &de) && de.Class == connector.NotFound
}

// CreateGroup creates a security group (not mail-enabled) and returns its
// id. Retried only after 429: a timed-out POST may have created the group.
// Source: https://learn.microsoft.com/graph/api/group-post-groups
func (c *Client) CreateGroup(ctx context.Context, displayName, mailNickname string) (string, error) {
	g := models.NewGroup()
	g.SetDisplayName(&displayName)
	g.SetMailNickname(&mailNickname)
	f, t := false, true
	g.SetMailEnabled(&f)
	g.SetSecurityEnabled(&t)
	g.SetGroupTypes([]string{})
	var id string
	err := c.do(ctx, opCreateGroup, c.directory, 1, retryThrottle, func(ctx context.Context) error {
		r, err := c.graph.Groups().Post(ctx, g, nil)
		if err == nil {
			id = deref(r.GetId())
		}
		return err
	})
	return id, err
}

// DeleteGroup deletes the group; a group already gone is not an error.
// passbridge deletes only the groups it created (connector.JobGroupDelete).
// Graph documents Group.ReadWrite.All as the least privileged application
// permission for it; a 403 names it.
// Source: https://learn.microsoft.com/graph/api/group-delete
func (c *Client) DeleteGroup(ctx context.Context, groupID string) error {
	err := c.do(ctx, opDeleteGroup, c.directory, 1, retryAll, func(ctx context.Context) error {
		return c.graph.Groups().ByGroupId(groupID).Delete(ctx, nil)
	})
	if isNotFound(err) {
		return nil
	}
	return err
}

// AddGroupMember adds the guest; an existing member is not an error.
// Source: https://learn.microsoft.com/graph/api/group-post-members
func (c *Client) AddGroupMember(ctx context.Context, groupID, guestID string) error {
	ref := models.NewReferenceCreate()
	odataID := c.endpoint + "/v1.0/directoryObjects/" + guestID
	ref.SetOdataId(&odataID)
	err := c.do(ctx, opAddMember, c.directory, 1, retryAll, func(ctx context.Context) error {
		return c.graph.Groups().ByGroupId(groupID).Members().Ref().Post(ctx, ref, nil)
	})
	var de *connector.DirectoryError
	if errors.As(err, &de) && de.Status == http.StatusBadRequest && strings.Contains(de.Message, msgRefExists) {
		return nil
	}
	return err
}

// RemoveGroupMember removes the guest; a missing member is not an error.
// Source: https://learn.microsoft.com/graph/api/group-delete-members
func (c *Client) RemoveGroupMember(ctx context.Context, groupID, guestID string) error {
	err := c.do(ctx, opRemoveMember, c.directory, 1, retryAll, func(ctx context.Context) error {
		return c.graph.Groups().ByGroupId(groupID).Members().ByDirectoryObjectId(guestID).Ref().Delete(ctx, nil)
	})
	if isNotFound(err) {
		return nil
	}
	return err
}
