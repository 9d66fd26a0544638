package graphsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"
)

// Application permissions (roles) the simulator knows. A token carries the
// granted ones; each endpoint accepts any of its documented set.
const (
	PermUserInviteAll               = "User.Invite.All"
	PermUserReadAll                 = "User.Read.All"
	PermUserReadWriteAll            = "User.ReadWrite.All"
	PermUserAuthMethodReadAll       = "UserAuthenticationMethod.Read.All"
	PermAuditLogReadAll             = "AuditLog.Read.All"
	PermGroupMemberReadWriteAll     = "GroupMember.ReadWrite.All"
	PermGroupCreate                 = "Group.Create"
	permDirectoryReadAll            = "Directory.Read.All"
	permDirectoryReadWriteAll       = "Directory.ReadWrite.All"
	PermGroupReadWriteAll           = "Group.ReadWrite.All"
	permGroupReadWriteAll           = PermGroupReadWriteAll
	permUserAuthMethodReadWriteAll  = "UserAuthenticationMethod.ReadWrite.All"
	permUserRevokeSessionsAll       = "User.RevokeSessions.All"
	permUserDeleteRestoreAll        = "User.DeleteRestore.All"
	permUserEnableDisableAccountAll = "User.EnableDisableAccount.All"
	defaultTenantDomain             = "passbridgesim.onmicrosoft.com"
	defaultIdentityHeader           = "graphsim-identity-header"
	defaultAppID                    = "00000000-0000-0000-0000-00000000a991"
	defaultInviteLimit              = 150
	defaultInviteWindow             = 5 * time.Second
	defaultPageSize                 = 100
	maxBatchRequests                = 20
	passwordMethodID                = "28c10230-6103-485e-b985-444c60001490"
	methodTypePrefix                = "#microsoft.graph."
	defaultMFAMethod                = "microsoftAuthenticatorAuthenticationMethod"
	activityAcceptTermsOfUse        = "Accept Terms Of Use"
	activityDeclineTermsOfUse       = "Decline Terms Of Use"
	activityRedeemInvite            = "Redeem external user invite"
	activityRegisteredSecurityInfo  = "User registered security info"
	stateAccepted                   = "Accepted"
	statePendingAcceptance          = "PendingAcceptance"
)

// DefaultPermissions are the application permissions passbridge needs; a
// new Sim grants them all unless WithoutPermission withholds one.
var defaultPermissions = []string{
	PermUserInviteAll, PermUserReadWriteAll, PermUserAuthMethodReadAll,
	PermAuditLogReadAll, PermGroupMemberReadWriteAll, PermGroupCreate,
}

// DefaultPermissions returns the permissions a new Sim grants.
func DefaultPermissions() []string { return append([]string(nil), defaultPermissions...) }

// Option configures a Sim.
type Option func(*Sim)

// WithClock sets the simulator's clock (timestamps, token expiry, the
// invitation rate limit, replication lag).
func WithClock(now func() time.Time) Option { return func(s *Sim) { s.now = now } }

// WithoutPermission withholds an application permission from the tokens the
// simulator issues.
func WithoutPermission(perms ...string) Option {
	return func(s *Sim) {
		for _, p := range perms {
			delete(s.granted, p)
		}
	}
}

// WithPermissions replaces the set of granted application permissions.
func WithPermissions(perms ...string) Option {
	return func(s *Sim) {
		s.granted = map[string]bool{}
		for _, p := range perms {
			s.granted[p] = true
		}
	}
}

// WithTenant sets the tenant id and its initial domain (used in guests'
// userPrincipalName).
func WithTenant(tenantID, domain string) Option {
	return func(s *Sim) { s.tenantID, s.domain = tenantID, domain }
}

// WithAppID sets the client (application) id that issued tokens name.
func WithAppID(appID string) Option { return func(s *Sim) { s.appID = appID } }

// WithIdentityHeader sets the secret the managed-identity endpoint expects
// in X-IDENTITY-HEADER (the value of IDENTITY_HEADER).
func WithIdentityHeader(h string) Option { return func(s *Sim) { s.identityHeader = h } }

// WithInvitationRateLimit sets the invitation limit (default 150 per 5 s per
// tenant); n <= 0 turns it off.
func WithInvitationRateLimit(n int, window time.Duration) Option {
	return func(s *Sim) { s.inviteLimit, s.inviteWindow = n, window }
}

// WithPageSize sets the default page size of list endpoints (users, delta,
// directoryAudits); $top overrides it where Graph allows.
func WithPageSize(n int) Option { return func(s *Sim) { s.pageSize = n } }

// WithReplicationLag makes a newly invited user unreadable by id (404
// Directory_ObjectNotFound) for d after its creation, as Graph sometimes is.
func WithReplicationLag(d time.Duration) Option { return func(s *Sim) { s.replicationLag = d } }

// WithRedemptionOutsideDelta makes redemptions invisible to /users/delta
// (Graph does not document whether a redemption alone produces an entry).
func WithRedemptionOutsideDelta() Option { return func(s *Sim) { s.redeemOutsideDelta = true } }

// WithSeed seeds the random source used by fractional faults.
func WithSeed(seed uint64) Option {
	return func(s *Sim) { s.rng = mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// WithTokenTTL sets the lifetime of issued access tokens (default 1 h).
func WithTokenTTL(d time.Duration) Option { return func(s *Sim) { s.tokenTTL = d } }

// Sim is a simulated Microsoft Entra tenant behind Graph v1.0. It is safe
// for concurrent use.
type Sim struct {
	mu sync.Mutex

	now                func() time.Time
	tenantID, domain   string
	appID              string
	identityHeader     string
	granted            map[string]bool
	key                []byte
	tokenTTL           time.Duration
	inviteLimit        int
	inviteWindow       time.Duration
	pageSize           int
	replicationLag     time.Duration
	redeemOutsideDelta bool
	// noSignInActivity: the tenant has no Entra ID P1, so $select of
	// signInActivity is refused (SetSignInActivityAvailable).
	noSignInActivity bool
	rng              *mrand.Rand

	seq         int64 // change sequence for delta
	users       map[string]*user
	userOrder   []string
	groups      map[string]*group
	audits      []*AuditEvent
	invitations []Invitation
	inviteTimes []time.Time
	faults      []*activeFault
	calls       map[string]int
	unexpected  []string
	routes      []route
}

type user struct {
	ID                string
	DisplayName       string
	Mail              string
	OtherMails        []string
	UPN               string
	UserType          string
	CreationType      string
	ExternalUserState string
	StateChangedAt    time.Time
	AccountEnabled    bool
	Created           time.Time
	Deleted           bool
	DeletedAt         time.Time
	Seq               int64
	Methods           []method
	SessionsRevokedAt time.Time
	// LastSignIn is signInActivity.lastSuccessfulSignInDateTime (zero:
	// never); SetLastSignIn sets it.
	LastSignIn time.Time
}

type method struct {
	ID      string
	Type    string // short name, e.g. microsoftAuthenticatorAuthenticationMethod
	Created time.Time
}

type group struct {
	ID              string
	DisplayName     string
	MailNickname    string
	MailEnabled     bool
	SecurityEnabled bool
	Created         time.Time
	Members         []string
}

// Invitation is one invitation the simulator received.
type Invitation struct {
	ID           string
	Email        string
	DisplayName  string
	RedirectURL  string
	UserID       string
	SendMessage  bool
	Message      string
	CCRecipients []string
	Language     string
	At           time.Time
}

// New returns a simulator with an empty tenant.
func New(opts ...Option) *Sim {
	s := &Sim{
		now:            func() time.Time { return time.Now().UTC() },
		tenantID:       "5e3d3c5a-7d53-4b8e-9a55-0a1b2c3d4e5f",
		domain:         defaultTenantDomain,
		appID:          defaultAppID,
		identityHeader: defaultIdentityHeader,
		granted:        map[string]bool{},
		key:            randomBytes(32),
		tokenTTL:       time.Hour,
		inviteLimit:    defaultInviteLimit,
		inviteWindow:   defaultInviteWindow,
		pageSize:       defaultPageSize,
		rng:            mrand.New(mrand.NewPCG(1, 2)),
		users:          map[string]*user{},
		groups:         map[string]*group{},
		calls:          map[string]int{},
		routes:         routes(),
	}
	for _, p := range defaultPermissions {
		s.granted[p] = true
	}
	for _, o := range opts {
		o(s)
	}
	if s.pageSize <= 0 {
		s.pageSize = defaultPageSize
	}
	return s
}

// Now returns the simulator's current time (UTC).
func (s *Sim) Now() time.Time { return s.now().UTC() }

// TenantID returns the simulated tenant id.
func (s *Sim) TenantID() string { return s.tenantID }

// AppID returns the client id named in issued tokens.
func (s *Sim) AppID() string { return s.appID }

// IdentityHeader returns the value IDENTITY_HEADER must carry.
func (s *Sim) IdentityHeader() string { return s.identityHeader }

// Handler returns the simulator's HTTP handler: Graph under /v1.0, the
// managed-identity endpoint at /_sim/identity/token and the control API
// under /_sim/.
func (s *Sim) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

// Start runs the simulator on an httptest server on 127.0.0.1; close the
// server when done.
func Start(opts ...Option) (*Sim, *httptest.Server) {
	s := New(opts...)
	return s, httptest.NewServer(s.Handler())
}

// IdentityEndpoint returns the IDENTITY_ENDPOINT value for a simulator
// served at baseURL (e.g. the httptest server's URL).
func IdentityEndpoint(baseURL string) string {
	return strings.TrimSuffix(baseURL, "/") + "/_sim/identity/token"
}

// Serve listens on addr and serves the simulator until ctx is cancelled.
// ready, if not nil, is called with the bound address (useful with ":0").
func (s *Sim) Serve(ctx context.Context, addr string, ready func(net.Addr)) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("graphsim: listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("graphsim: shutdown: %w", err)
		}
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("graphsim: serve: %w", err)
	}
}

// --- counts and inspection ---

// Invitations returns the invitations received so far, oldest first.
func (s *Sim) Invitations() []Invitation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Invitation(nil), s.invitations...)
}

// InvitationCount returns how many invitations were created for email.
func (s *Sim) InvitationCount(email string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, inv := range s.invitations {
		if strings.EqualFold(inv.Email, email) {
			n++
		}
	}
	return n
}

// MailsSent returns how many invitation e-mails Graph "sent" to email.
func (s *Sim) MailsSent(email string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, inv := range s.invitations {
		if inv.SendMessage && strings.EqualFold(inv.Email, email) {
			n++
		}
	}
	return n
}

// Calls returns how many requests reached route, e.g. "POST /invitations"
// or "GET /users/{id}" ($batch sub-requests count under their own route).
func (s *Sim) Calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[route]
}

// AllCalls returns the call count per route.
func (s *Sim) AllCalls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		m[k] = v
	}
	return m
}

// UnexpectedCalls lists the requests ("METHOD /path") that matched no
// simulated route; each was answered 400.
func (s *Sim) UnexpectedCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.unexpected...)
}

// UserState is a snapshot of a simulated user.
type UserState struct {
	ID                string
	Mail              string
	UserPrincipalName string
	ExternalUserState string
	StateChangedAt    time.Time
	AccountEnabled    bool
	Deleted           bool
	Methods           []string
	SessionsRevokedAt time.Time
}

// User returns a snapshot of the user with that id or mail.
func (s *Sim) User(idOrEmail string) (UserState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookupLocked(idOrEmail, true)
	if u == nil {
		return UserState{}, false
	}
	st := UserState{
		ID: u.ID, Mail: u.Mail, UserPrincipalName: u.UPN, ExternalUserState: u.ExternalUserState,
		StateChangedAt: u.StateChangedAt, AccountEnabled: u.AccountEnabled, Deleted: u.Deleted,
		SessionsRevokedAt: u.SessionsRevokedAt,
	}
	for _, m := range u.Methods {
		st.Methods = append(st.Methods, m.Type)
	}
	return st, true
}

// GroupMembers returns the member ids of a group, sorted, and whether the
// group exists.
func (s *Sim) GroupMembers(groupID string) ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[groupID]
	if !ok {
		return nil, false
	}
	m := append([]string(nil), g.Members...)
	sort.Strings(m)
	return m, true
}

// GroupByName returns the id of the group with that displayName.
func (s *Sim) GroupByName(displayName string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		if g.DisplayName == displayName {
			return g.ID, true
		}
	}
	return "", false
}

// --- helpers ---

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("graphsim: crypto/rand: %v", err))
	}
	return b
}

func newGUID() string {
	b := randomBytes(16)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// lookupLocked finds a user by id, userPrincipalName or mail.
func (s *Sim) lookupLocked(key string, includeDeleted bool) *user {
	if u, ok := s.users[strings.ToLower(key)]; ok && (includeDeleted || !u.Deleted) {
		return u
	}
	for _, id := range s.userOrder {
		u := s.users[id]
		if !includeDeleted && u.Deleted {
			continue
		}
		if strings.EqualFold(u.UPN, key) || strings.EqualFold(u.Mail, key) {
			return u
		}
	}
	return nil
}

func (s *Sim) nextSeqLocked() int64 {
	s.seq++
	return s.seq
}

func guestUPN(email, domain string) string {
	return strings.ReplaceAll(email, "@", "_") + "#EXT#@" + domain
}
