package connector_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
)

// fakeDir is an in-memory test double of connector.Directory: a tenant with
// guests, groups, authentication methods, an audit log and a delta feed, with
// fault injection and counters. It is not a simulator of Graph (graphsim is):
// it keeps just enough behaviour to test the engine.
type fakeDir struct {
	mu    sync.Mutex
	clock *testkit.Clock

	seq     int
	guests  map[string]*fakeGuest // by id
	byEmail map[string]string     // folded mail → id
	groups  map[string]map[string]bool
	audit   []connector.AuditEvent
	delta   []deltaEntry
	dseq    int

	// Counters.
	invitations map[string]int // invitation e-mails per address
	writes      int            // calls that change the tenant
	calls       map[string]int // Directory method calls by op
	requests    map[string]int // HTTP requests by op ($batch of 20 = 1)

	// Faults: before runs before an op takes effect, after once it did (a
	// timeout after the commit). Either may return nil.
	before func(op string) error
	after  func(op string) error
	// noDeltaOnRedeem: redemptions do not show up in the delta feed.
	noDeltaOnRedeem bool
	// signIns are the guests' last successful sign-ins (signInActivity);
	// noSignInActivity answers as a tenant without Entra ID P1.
	signIns          map[string]time.Time
	noSignInActivity bool
}

type fakeGuest struct {
	connector.Guest
	methods []string
}

type deltaEntry struct {
	seq   int
	guest connector.Guest
}

func newFakeDir(clock *testkit.Clock) *fakeDir {
	return &fakeDir{
		clock: clock, guests: map[string]*fakeGuest{}, byEmail: map[string]string{},
		groups: map[string]map[string]bool{}, invitations: map[string]int{},
		calls: map[string]int{}, requests: map[string]int{},
	}
}

var _ connector.Directory = (*fakeDir)(nil)

func transientErr(op string, status int, retryAfter time.Duration) error {
	return &connector.DirectoryError{Class: connector.Transient, Op: op, Status: status, RetryAfter: retryAfter, Message: "injected"}
}

func notFound(op string) error {
	return &connector.DirectoryError{Class: connector.NotFound, Op: op, Status: 404, Code: "Request_ResourceNotFound"}
}

// enter counts a call and applies the before-fault; callers hold mu.
func (d *fakeDir) enter(op string, requests int) error {
	d.calls[op]++
	d.requests[op] += max(requests, 1)
	if d.before != nil {
		return d.before(op)
	}
	return nil
}

func (d *fakeDir) leave(op string) error {
	if d.after != nil {
		return d.after(op)
	}
	return nil
}

func batches(n int) int { return (n + 19) / 20 }

func (d *fakeDir) record(g connector.Guest) {
	d.dseq++
	d.delta = append(d.delta, deltaEntry{seq: d.dseq, guest: g})
}

func (d *fakeDir) Invite(_ context.Context, inv connector.Invitation) (connector.InviteResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("invite", 1); err != nil {
		return connector.InviteResult{}, err
	}
	d.writes++
	key := strings.ToLower(inv.Email)
	id, ok := d.byEmail[key]
	if !ok {
		d.seq++
		id = fmt.Sprintf("guest-%05d", d.seq)
		created := d.clock.Now()
		g := &fakeGuest{Guest: connector.Guest{ID: id, Mail: inv.Email, ExternalUserState: "PendingAcceptance", AccountEnabled: true,
			UserType: "Guest", CreationType: "Invitation", Created: &created},
			methods: []string{"passwordAuthenticationMethod"}}
		d.guests[id] = g
		d.byEmail[key] = id
		d.record(g.Guest)
	}
	// Graph returns an existing guest for a repeated invitation, but mails it
	// again: that is what exactly-once must avoid.
	d.invitations[key]++
	if err := d.leave("invite"); err != nil {
		return connector.InviteResult{}, err
	}
	return connector.InviteResult{GuestID: id, RedeemURL: "https://redeem.invalid/secret", Status: "PendingAcceptance"}, nil
}

func (d *fakeDir) FindGuestByEmail(_ context.Context, email string) (connector.Guest, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("findGuest", 1); err != nil {
		return connector.Guest{}, err
	}
	id, ok := d.byEmail[strings.ToLower(email)]
	if !ok {
		return connector.Guest{}, notFound("findGuest")
	}
	return d.guests[id].Guest, nil
}

func (d *fakeDir) GetGuests(_ context.Context, ids []string) (map[string]connector.GuestResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("getGuests", batches(len(ids))); err != nil {
		return nil, err
	}
	out := make(map[string]connector.GuestResult, len(ids))
	for _, id := range ids {
		if g, ok := d.guests[id]; ok {
			out[id] = connector.GuestResult{Guest: g.Guest}
		} else {
			out[id] = connector.GuestResult{Err: notFound("getGuests")}
		}
	}
	return out, nil
}

func (d *fakeDir) GuestChanges(_ context.Context, link string) ([]connector.Guest, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []connector.Guest
	if link == "" {
		for _, g := range d.guests {
			out = append(out, g.Guest)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	} else {
		var from int
		if _, err := fmt.Sscanf(link, "delta:%d", &from); err != nil {
			return nil, "", &connector.DirectoryError{Class: connector.Permanent, Op: "guestChanges", Status: 410, Code: "SyncStateNotFound"}
		}
		last := map[string]connector.Guest{}
		for _, e := range d.delta {
			if e.seq > from {
				last[e.guest.ID] = e.guest
			}
		}
		for _, g := range last {
			out = append(out, g)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	}
	if err := d.enter("guestChanges", (len(out)+199)/200); err != nil {
		return nil, "", err
	}
	return out, fmt.Sprintf("delta:%d", d.dseq), nil
}

func (d *fakeDir) AuthenticationMethods(_ context.Context, ids []string) (map[string]connector.MethodsResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("authenticationMethods", batches(len(ids))); err != nil {
		return nil, err
	}
	out := make(map[string]connector.MethodsResult, len(ids))
	for _, id := range ids {
		if g, ok := d.guests[id]; ok {
			out[id] = connector.MethodsResult{Methods: slices.Clone(g.methods)}
		} else {
			out[id] = connector.MethodsResult{Err: notFound("authenticationMethods")}
		}
	}
	return out, nil
}

func (d *fakeDir) AuditEvents(_ context.Context, since time.Time) ([]connector.AuditEvent, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []connector.AuditEvent
	for _, e := range d.audit {
		if !e.At.Before(since) {
			out = append(out, e)
		}
	}
	if err := d.enter("auditEvents", (len(out)+99)/100); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

func (d *fakeDir) SetAccountEnabled(_ context.Context, id string, enabled bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("setAccountEnabled", 1); err != nil {
		return err
	}
	g, ok := d.guests[id]
	if !ok {
		return notFound("setAccountEnabled")
	}
	d.writes++
	g.AccountEnabled = enabled
	return d.leave("setAccountEnabled")
}

func (d *fakeDir) RevokeSessions(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("revokeSessions", 1); err != nil {
		return err
	}
	if _, ok := d.guests[id]; !ok {
		return notFound("revokeSessions")
	}
	d.writes++
	return d.leave("revokeSessions")
}

func (d *fakeDir) DeleteUser(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("deleteUser", 1); err != nil {
		return err
	}
	if g, ok := d.guests[id]; ok {
		d.writes++
		delete(d.guests, id)
		delete(d.byEmail, strings.ToLower(g.Mail))
		gone := g.Guest
		gone.Removed = true
		d.record(gone)
	}
	return d.leave("deleteUser")
}

func (d *fakeDir) CreateGroup(_ context.Context, displayName, mailNickname string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("createGroup", 1); err != nil {
		return "", err
	}
	d.writes++
	d.seq++
	id := fmt.Sprintf("group-%05d", d.seq)
	d.groups[id] = map[string]bool{}
	return id, d.leave("createGroup")
}

func (d *fakeDir) DeleteGroup(_ context.Context, groupID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("deleteGroup", 1); err != nil {
		return err
	}
	if _, ok := d.groups[groupID]; ok {
		d.writes++
		delete(d.groups, groupID)
	}
	return d.leave("deleteGroup")
}

// groupExists reports whether the tenant has the group.
func (d *fakeDir) groupExists(groupID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.groups[groupID]
	return ok
}

func (d *fakeDir) AddGroupMember(_ context.Context, groupID, guestID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("addGroupMember", 1); err != nil {
		return err
	}
	if d.groups[groupID] == nil {
		d.groups[groupID] = map[string]bool{}
	}
	if !d.groups[groupID][guestID] {
		d.writes++
		d.groups[groupID][guestID] = true
	}
	return d.leave("addGroupMember")
}

func (d *fakeDir) RemoveGroupMember(_ context.Context, groupID, guestID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("removeGroupMember", 1); err != nil {
		return err
	}
	if d.groups[groupID][guestID] {
		d.writes++
		delete(d.groups[groupID], guestID)
	}
	return d.leave("removeGroupMember")
}

// Control API: what users do in the tenant.

// addAccount puts an account passbridge did not invite at email: a guest
// invited elsewhere (userType "Guest") or a member, created an hour ago.
func (d *fakeDir) addAccount(email, userType string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	id := fmt.Sprintf("other-%05d", d.seq)
	created := d.clock.Now().Add(-time.Hour)
	g := connector.Guest{ID: id, Mail: email, AccountEnabled: true, UserType: userType, Created: &created}
	if userType == "Guest" {
		g.CreationType, g.ExternalUserState = "Invitation", "Accepted"
	}
	d.guests[id] = &fakeGuest{Guest: g, methods: []string{"passwordAuthenticationMethod"}}
	d.byEmail[strings.ToLower(email)] = id
	d.record(g)
	return id
}

func (d *fakeDir) guestByEmail(email string) (connector.Guest, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, ok := d.byEmail[strings.ToLower(email)]
	if !ok {
		return connector.Guest{}, false
	}
	return d.guests[id].Guest, true
}

func (d *fakeDir) redeem(guestID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.guests[guestID]
	t := d.clock.Now()
	g.ExternalUserState, g.StateChangedAt = "Accepted", &t
	if !d.noDeltaOnRedeem {
		d.record(g.Guest)
	}
}

func (d *fakeDir) registerMFA(guestID string, methods ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.guests[guestID]
	g.methods = append(g.methods, methods...)
}

func (d *fakeDir) accept(guestID, targetID, targetName string, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	d.audit = append(d.audit, connector.AuditEvent{ID: fmt.Sprintf("audit-%d", d.seq), Activity: "Accept Terms Of Use",
		At: at, UserID: guestID, TargetID: targetID, TargetName: targetName})
}

func (d *fakeDir) snapshot() (writes int, requests map[string]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := map[string]int{}
	for k, v := range d.requests {
		r[k] = v
	}
	return d.writes, r
}

func (d *fakeDir) count(op string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[op]
}

func (d *fakeDir) invitationsTo(email string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.invitations[strings.ToLower(email)]
}

func (d *fakeDir) setFaults(before, after func(op string) error) {
	d.mu.Lock()
	d.before, d.after = before, after
	d.mu.Unlock()
}

func (d *fakeDir) member(groupID, guestID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.groups[groupID][guestID]
}

// randomFaults fails a share of calls with 429 (with Retry-After) and with
// 5xx, from a seeded generator.
func randomFaults(seed uint64, p429, p5xx float64) func(op string) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	return func(op string) error {
		x := rng.Float64()
		switch {
		case x < p429:
			return transientErr(op, 429, time.Duration(1+rng.IntN(10))*time.Second)
		case x < p429+p5xx:
			return transientErr(op, 503, 0)
		}
		return nil
	}
}

var _ connector.SignInReader = (*fakeDir)(nil)

func (d *fakeDir) SignInActivity(_ context.Context, ids []string) (map[string]connector.SignInResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter("signInActivity", batches(len(ids))); err != nil {
		return nil, err
	}
	if d.noSignInActivity {
		return nil, &connector.DirectoryError{Class: connector.Permanent, Op: "signInActivity", Status: 403,
			Code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant", Message: "Neither tenant is B2C or tenant doesn't have premium license"}
	}
	out := make(map[string]connector.SignInResult, len(ids))
	for _, id := range ids {
		if _, ok := d.guests[id]; !ok {
			out[id] = connector.SignInResult{Err: notFound("signInActivity")}
			continue
		}
		var r connector.SignInResult
		if t, ok := d.signIns[id]; ok {
			r.LastSuccessfulSignIn = &t
		}
		out[id] = r
	}
	return out, d.leave("signInActivity")
}

// signIn records a successful sign-in of the guest at the clock's time.
func (d *fakeDir) signIn(guestID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.signIns == nil {
		d.signIns = map[string]time.Time{}
	}
	d.signIns[guestID] = d.clock.Now()
}

func (d *fakeDir) enabled(guestID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.guests[guestID]
	return ok && g.AccountEnabled
}

func (d *fakeDir) exists(guestID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.guests[guestID]
	return ok
}
