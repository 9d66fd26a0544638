package connector

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The directory is the Microsoft Entra tenant, seen through small
// capability interfaces so that each consumer takes only what it uses: the
// reconciler only reads (DirectoryReader), the outbox handlers invite and
// write. graph.Client implements them all (Directory).

// Inviter sends invitations.
type Inviter interface {
	// Invite sends (or, with SendEmail false, creates) a B2B invitation. Not
	// retried by the implementation: a retry after a timeout could mail a
	// second invitation; the caller looks the guest up first (FindGuestByEmail).
	Invite(ctx context.Context, inv Invitation) (InviteResult, error)
}

// GuestFinder looks a guest up by address (the invitation's retry, a
// deletion whose invitation was still in flight).
type GuestFinder interface {
	// FindGuestByEmail returns the user whose mail (or otherMails) is email,
	// or an error of class NotFound.
	FindGuestByEmail(ctx context.Context, email string) (Guest, error)
}

// DirectoryReader is what the reconciler reads: the facts Graph keeps.
type DirectoryReader interface {
	// GetGuests reads many users at once ($batch of 20); every id gets a
	// result: the guest or its own error (NotFound when deleted).
	GetGuests(ctx context.Context, ids []string) (map[string]GuestResult, error)
	// GuestChanges reads /users/delta from deltaLink ("" starts a new round
	// and returns every user) and returns the changed users and the next
	// delta link to store.
	GuestChanges(ctx context.Context, deltaLink string) (changes []Guest, next string, err error)
	// AuthenticationMethods reads the registered methods of many users
	// ($batch); the result per id lists the methods' @odata.type short names
	// (e.g. "microsoftAuthenticatorAuthenticationMethod").
	AuthenticationMethods(ctx context.Context, ids []string) (map[string]MethodsResult, error)
	// AuditEvents reads Terms of Use audit events (accept/decline) from the
	// directory audit log at or after since, oldest first.
	AuditEvents(ctx context.Context, since time.Time) ([]AuditEvent, error)
}

// GuestWriter enables and disables a guest.
type GuestWriter interface {
	SetAccountEnabled(ctx context.Context, guestID string, enabled bool) error
	RevokeSessions(ctx context.Context, guestID string) error
}

// GuestDeleter deletes a guest.
type GuestDeleter interface {
	// DeleteUser deletes the guest; a guest already gone is not an error.
	DeleteUser(ctx context.Context, guestID string) error
}

// GroupMemberWriter changes group memberships.
type GroupMemberWriter interface {
	// AddGroupMember and RemoveGroupMember are idempotent: an existing member
	// added, or a missing one removed, is not an error.
	AddGroupMember(ctx context.Context, groupID, guestID string) error
	RemoveGroupMember(ctx context.Context, groupID, guestID string) error
}

// GroupWriter creates groups and changes their memberships.
type GroupWriter interface {
	// CreateGroup creates a security group and returns its id.
	CreateGroup(ctx context.Context, displayName, mailNickname string) (string, error)
	// DeleteGroup deletes a group (passbridge deletes only groups it
	// created); a group already gone is not an error.
	DeleteGroup(ctx context.Context, groupID string) error
	GroupMemberWriter
}

// DirectoryWriter is every write passbridge makes in the tenant.
type DirectoryWriter interface {
	GuestWriter
	GuestDeleter
	GroupWriter
}

// Directory is everything passbridge needs from the tenant: what the outbox
// worker, which runs every kind of job, takes.
type Directory interface {
	Inviter
	GuestFinder
	DirectoryReader
	DirectoryWriter
}

// Invitation is what an invitation says.
type Invitation struct {
	Email        string
	DisplayName  string
	RedirectURL  string
	SendEmail    bool
	Message      string
	CCRecipients []string
	Language     string
}

// InviteResult is Graph's answer to an invitation.
type InviteResult struct {
	GuestID string
	// RedeemURL is a bearer link, returned only once: never log or store it.
	RedeemURL string
	Status    string
}

// String keeps the redeem URL out of logs and error messages.
func (r InviteResult) String() string {
	return fmt.Sprintf("InviteResult{GuestID:%s Status:%s RedeemURL:[redacted]}", r.GuestID, r.Status)
}

// Guest is the part of an Entra user passbridge reads.
type Guest struct {
	ID                string
	Mail              string
	ExternalUserState string     // "PendingAcceptance" or "Accepted"
	StateChangedAt    *time.Time // externalUserStateChangeDateTime
	AccountEnabled    bool
	Removed           bool // delta: the user was deleted
	// Provenance (see provenance.go): userType ("Guest", "Member"),
	// creationType ("Invitation" for a B2B invitation) and createdDateTime.
	UserType     string
	CreationType string
	Created      *time.Time
}

// GuestResult is one user's answer in a bulk read.
type GuestResult struct {
	Guest Guest
	Err   error
}

// MethodsResult is one user's authentication methods in a bulk read.
type MethodsResult struct {
	Methods []string
	Err     error
}

// AuditEvent is a Terms of Use audit log entry.
type AuditEvent struct {
	ID            string
	Activity      string // "Accept Terms Of Use" or "Decline Terms Of Use"
	At            time.Time
	UserID        string // initiatedBy.user.id
	UserPrincipal string
	TargetID      string // targetResources[type=Policy].id (may not be the agreement id)
	TargetName    string // targetResources[type=Policy].displayName
}

// ErrorClass tells the caller how to react to a directory error.
type ErrorClass int

const (
	// Transient: retry later (429, 5xx, timeouts, a just-invited user not yet
	// readable).
	Transient ErrorClass = iota + 1
	// Permanent: retrying does not help (invalid address, missing permission).
	Permanent
	// NotFound: the object does not exist.
	NotFound
)

func (c ErrorClass) String() string {
	switch c {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case NotFound:
		return "notFound"
	}
	return "unknown"
}

// DirectoryError is the error every Directory method returns for a failed
// call, so that callers can classify it without knowing Graph.
type DirectoryError struct {
	Class      ErrorClass
	Op         string // e.g. "invite", "getGuests"
	Status     int    // HTTP status, 0 for transport errors
	Code       string // Graph error code, e.g. "Request_BadRequest"
	Message    string // Graph's message; never contains secrets we sent
	RetryAfter time.Duration
	// Permission names the Graph permission that is missing (403), when known.
	Permission string
	Err        error
}

func (e *DirectoryError) Error() string {
	s := fmt.Sprintf("graph %s: %s", e.Op, e.Class)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d", e.Status)
		if e.Code != "" {
			s += " " + e.Code
		}
		s += ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Permission != "" {
		s += fmt.Sprintf("; grant %s (Application) and admin-consent", e.Permission)
	}
	if e.Err != nil && e.Message == "" {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *DirectoryError) Unwrap() error { return e.Err }

// ClassOf returns the class of a directory error; errors that are not
// DirectoryErrors (context deadline, network) are transient.
func ClassOf(err error) ErrorClass {
	var de *DirectoryError
	if errors.As(err, &de) {
		return de.Class
	}
	return Transient
}

// RetryAfterOf returns the server-requested delay, or 0.
func RetryAfterOf(err error) time.Duration {
	var de *DirectoryError
	if errors.As(err, &de) {
		return de.RetryAfter
	}
	return 0
}
