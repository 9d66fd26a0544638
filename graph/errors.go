package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/passbridge/passbridge/connector"
)

// Graph error codes this package reacts to.
// Source: https://learn.microsoft.com/graph/errors
const (
	codeObjectNotFound   = "Directory_ObjectNotFound" // replication lag right after an invitation
	codeResourceNotFound = "Request_ResourceNotFound"
	msgRefExists         = "One or more added object references already exist"
)

// Permissions each operation needs (application permissions, least
// privileged). A 403 names it in DirectoryError.Permission.
// Source: https://learn.microsoft.com/graph/permissions-reference
const (
	PermInvite      = "User.Invite.All"
	PermUsers       = "User.ReadWrite.All"
	PermAuthMethods = "UserAuthenticationMethod.Read.All"
	PermAuditLog    = "AuditLog.Read.All"
	PermMembers     = "GroupMember.ReadWrite.All"
	PermGroupCreate = "Group.Create"
	// PermGroupDelete is needed only to delete, on DELETE /Groups, the
	// groups passbridge created (Graph's least privileged for it).
	PermGroupDelete = "Group.ReadWrite.All"
)

// Operation names used in DirectoryError.Op.
const (
	opInvite         = "invite"
	opFindGuest      = "findGuestByEmail"
	opGetGuests      = "getGuests"
	opGuestChanges   = "guestChanges"
	opAuthMethods    = "authenticationMethods"
	opAuditEvents    = "auditEvents"
	opSetEnabled     = "setAccountEnabled"
	opRevokeSessions = "revokeSessions"
	opDeleteUser     = "deleteUser"
	opCreateGroup    = "createGroup"
	opAddMember      = "addGroupMember"
	opRemoveMember   = "removeGroupMember"
	opDeleteGroup    = "deleteGroup"
)

// accessWrites are the writes whose NotFound means "already done" to the
// caller (the guest or membership is gone): only Request_ResourceNotFound
// may say so.
var accessWrites = map[string]bool{opSetEnabled: true, opRevokeSessions: true, opDeleteUser: true, opRemoveMember: true}

var opPermission = map[string]string{
	opInvite: PermInvite, opFindGuest: PermUsers, opGetGuests: PermUsers, opGuestChanges: PermUsers,
	opAuthMethods: PermAuthMethods, opAuditEvents: PermAuditLog, opSetEnabled: PermUsers,
	opRevokeSessions: PermUsers, opDeleteUser: PermUsers, opCreateGroup: PermGroupCreate,
	opAddMember: PermMembers, opRemoveMember: PermMembers, opDeleteGroup: PermGroupDelete,
	opSignInActivity: PermAuditLog,
}

// errStatus is the safe cause kept in DirectoryError.Err for HTTP errors:
// the SDK's own error values are not kept, so that nothing from a request
// (body, token) can reach an error message.
type errStatus struct {
	status int
	code   string
}

func (e *errStatus) Error() string {
	if e.code != "" {
		return fmt.Sprintf("HTTP %d %s", e.status, e.code)
	}
	return fmt.Sprintf("HTTP %d", e.status)
}

// httpFailure is one failed HTTP answer, from the SDK or a $batch step.
type httpFailure struct {
	status  int
	code    string
	message string
	header  func(string) string
}

// classify turns any error from a Graph call into a *connector.DirectoryError.
//
// 429, 5xx, timeouts and transport errors are Transient; a 404 with
// Directory_ObjectNotFound (seen for a short while after an invitation) is
// Transient too, and so is a 404 to a write that takes access away
// (accessWrites) unless its code is Request_ResourceNotFound; any other 404
// is NotFound. 401 and credential failures are
// Transient (tenant configuration, not the user's fault); 400, 403 and the
// rest of 4xx are Permanent, 403 naming the permission the operation needs.
func (c *Client) classify(op string, err error) *connector.DirectoryError {
	var de *connector.DirectoryError
	if errors.As(err, &de) {
		if de.Op == "" {
			de.Op = op // a limiter's error names no call
		}
		return de
	}
	var odata *odataerrors.ODataError
	if errors.As(err, &odata) {
		f := httpFailure{status: odata.GetStatusCode(), header: headerFunc(odata.GetResponseHeaders())}
		if me := odata.GetErrorEscaped(); me != nil {
			f.code = deref(me.GetCode())
			f.message = deref(me.GetMessage())
		}
		return c.fromHTTP(op, f)
	}
	var api abs.ApiErrorable
	if errors.As(err, &api) && api.GetStatusCode() != 0 {
		return c.fromHTTP(op, httpFailure{status: api.GetStatusCode(), header: headerFunc(api.GetResponseHeaders())})
	}
	// Credential failures are a tenant-wide configuration or availability
	// problem, not the user's: Transient, so that jobs wait for the operator
	// instead of marking users failed. `passbridge config check` names them.
	if credentialFailure(err) {
		return &connector.DirectoryError{Class: connector.Transient, Op: op, Message: "could not get an access token: check azure.credential, azure.tenantID and azure.clientID (passbridge config check)", Err: err}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &connector.DirectoryError{Class: connector.Transient, Op: op, Message: "request timed out", Err: err}
	case errors.Is(err, context.Canceled):
		return &connector.DirectoryError{Class: connector.Transient, Op: op, Message: "cancelled", Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &connector.DirectoryError{Class: connector.Transient, Op: op, Message: "network error", Err: err}
	}
	// Anything else (malformed answer, transport oddity): transient, with
	// the SDK's text, which never includes request bodies or tokens.
	return &connector.DirectoryError{Class: connector.Transient, Op: op, Err: err}
}

func (c *Client) fromHTTP(op string, f httpFailure) *connector.DirectoryError {
	de := &connector.DirectoryError{Op: op, Status: f.status, Code: f.code, Message: f.message, Err: &errStatus{status: f.status, code: f.code}}
	if f.header != nil {
		de.RetryAfter = parseRetryAfter(f.header("Retry-After"), c.now())
	}
	switch {
	case f.status == http.StatusTooManyRequests || f.status >= 500 || f.status == http.StatusRequestTimeout || f.status == http.StatusUnauthorized:
		de.Class = connector.Transient
	case f.status == http.StatusNotFound && f.code == codeObjectNotFound:
		de.Class = connector.Transient
	case f.status == http.StatusNotFound && accessWrites[op] && f.code != codeResourceNotFound:
		// A write that takes access away treats the object as already gone
		// only on Graph's documented answer: any other 404 (a proxy, a code
		// not seen before) is retried, or a disable would be dropped.
		de.Class = connector.Transient
	case f.status == http.StatusNotFound:
		de.Class = connector.NotFound
	case f.status == http.StatusForbidden:
		de.Class = connector.Permanent
		de.Permission = opPermission[op]
	default:
		de.Class = connector.Permanent
	}
	return de
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
// Source: https://learn.microsoft.com/graph/throttling#best-practices-to-handle-throttling
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func headerFunc(h *abs.ResponseHeaders) func(string) string {
	return func(k string) string {
		if h == nil {
			return ""
		}
		if v := h.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// credentialFailure reports whether err is the credential failing to get
// a token.
func credentialFailure(err error) bool {
	var authFailed *azidentity.AuthenticationFailedError
	return errors.As(err, &authFailed) || strings.Contains(err.Error(), "failed to acquire a token")
}

// retryPolicy says which transient errors a call may retry.
type retryPolicy int

const (
	noRetry       retryPolicy = iota // POST /invitations: never re-sent
	retryThrottle                    // non-idempotent POST: only after 429 (not processed)
	retryAll                         // idempotent: any transient error
)

// do runs fn under the directory (or invitation) limiter, with a
// per-request timeout, retrying transient failures per policy, honouring
// Retry-After (capped by MaxRetryWait), with exponential backoff otherwise.
func (c *Client) do(ctx context.Context, op string, lim limiter, cost int, policy retryPolicy, fn func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		if err := lim.wait(ctx, cost); err != nil {
			return c.classify(op, err)
		}
		rctx, cancel := context.WithTimeout(ctx, c.timeout)
		err := fn(rctx)
		cancel()
		if err == nil {
			return nil
		}
		de := c.classify(op, err)
		if ctx.Err() != nil {
			return &connector.DirectoryError{Class: connector.Transient, Op: op, Message: "cancelled", Err: ctx.Err()}
		}
		// A credential failure is not retried here: the credential already
		// retried the token endpoint, and the caller (job backoff, the next
		// reconcile pass) waits out a longer outage, so that it is reported
		// promptly instead of after several rounds of sign-in retries.
		if de.Class != connector.Transient || attempt >= c.maxRetries || !retryable(policy, de) || credentialFailure(err) {
			return de
		}
		d, ok := c.backoff(attempt, de.RetryAfter)
		if !ok {
			return de
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "graph retry", slog.String("op", op), slog.Int("status", de.Status), slog.Duration("wait", d))
		if err := c.sleep(ctx, d); err != nil {
			return &connector.DirectoryError{Class: connector.Transient, Op: op, Message: "cancelled", Err: err}
		}
	}
}

func retryable(p retryPolicy, de *connector.DirectoryError) bool {
	switch p {
	case retryAll:
		return true
	case retryThrottle:
		return de.Status == http.StatusTooManyRequests
	}
	return false
}

// backoff returns the wait before retry attempt+1: Retry-After when given,
// else 1s, 2s, 4s...; false when the wait exceeds MaxRetryWait.
func (c *Client) backoff(attempt int, retryAfter time.Duration) (time.Duration, bool) {
	d := retryAfter
	if d <= 0 {
		d = time.Second << min(attempt, 6)
	}
	if d > c.maxWait {
		return 0, false
	}
	return d, true
}
