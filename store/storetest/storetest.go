package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// Run runs the suite. newStore returns a fresh, empty store for each test
// (the suite closes it when the test ends); it may register its own
// cleanup, e.g. dropping a schema, with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) connector.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s connector.Store)
	}{
		{"Ping", testPing},
		{"User/CreateGet", testUserCreateGet},
		{"User/Defaults", testUserDefaults},
		{"User/UserNameUnique", testUserNameUnique},
		{"User/NotFound", testNotFound},
		{"User/UpdateVersionAndTimes", testUserUpdateVersion},
		{"User/UpdateAborts", testUserUpdateAborts},
		{"User/ChangeCommitted", testChangeCommitted},
		{"User/DeleteKeepsEvents", testDeleteUser},
		{"User/Filters", testUserFilters},
		{"User/BadFilters", testBadFilters},
		{"User/Paging", testUserPaging},
		{"User/ConcurrentUpdates", testConcurrentUpdates},
		{"Group/CRUD", testGroupCRUD},
		{"Group/Members", testGroupMembers},
		{"Group/Filters", testGroupFilters},
		{"Group/Paging", testGroupPaging},
		{"Job/ClaimLifecycle", testJobClaim},
		{"Job/OwnerOnly", testJobOwnerOnly},
		{"Job/Stats", testJobStats},
		{"Job/KindStats", testJobKindStats},
		{"Job/ClaimContention", testClaimContention},
		{"Job/OneAtATimePerSubject", testJobSubjectOrder},
		{"Job/Renew", testJobRenew},
		{"Event/List", testEvents},
		{"State/Cursors", testCursors},
		{"State/Leases", testLeases},
		{"Webhook/Deliveries", testWebhookDeliveries},
		{"User/InviteAddressUnique", testInviteAddressUnique},
		{"User/InviteAddressConcurrent", testInviteAddressConcurrent},
		{"User/GuestIDFilter", testGuestIDFilter},
		{"Tombstone/Lifecycle", testTombstones},
		{"Console/Queries", testConsole},
		{"Lifecycle/DueUsers", testLifecycleDue},
		{"User/CreatedBy", testUserCreatedBy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// t0 is the suite's reference time: whole microseconds, UTC, far enough
// from the wall clock that a store using time.Now for job or lease logic
// gets caught.
var t0 = time.Date(2031, 3, 14, 9, 26, 53, 589793000, time.UTC)

var errBoom = errors.New("boom from update fn")

func ptr[T any](v T) *T { return &v }

func newUser(name string) connector.User {
	return connector.User{
		UserName: name,
		Active:   true,
		Emails:   []string{name},
		Doc:      json.RawMessage(`{"userName":` + quote(name) + `}`),
		Onboarding: connector.Onboarding{
			State: connector.StatePending,
		},
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func mustCreateUser(t *testing.T, s connector.Store, u connector.User) connector.User {
	t.Helper()
	got, err := s.CreateUser(context.Background(), u, connector.Change{})
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", u.UserName, err)
	}
	return got
}

func mustGetUser(t *testing.T, s connector.Store, id string) connector.User {
	t.Helper()
	got, err := s.GetUser(context.Background(), id)
	if err != nil {
		t.Fatalf("GetUser(%q): %v", id, err)
	}
	return got
}

// jsonEqual compares two JSON documents by value (a backend may keep them
// as text or in a binary form).
func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// diffUser lists the differences between two users ("" when equal).
func diffUser(want, got connector.User) string {
	var d []string
	add := func(field string, w, g any) { d = append(d, fmt.Sprintf("%s: want %v, got %v", field, w, g)) }
	if want.ID != got.ID {
		add("ID", want.ID, got.ID)
	}
	if want.UserName != got.UserName {
		add("UserName", want.UserName, got.UserName)
	}
	if want.ExternalID != got.ExternalID {
		add("ExternalID", want.ExternalID, got.ExternalID)
	}
	if want.Active != got.Active {
		add("Active", want.Active, got.Active)
	}
	if !slices.Equal(want.Emails, got.Emails) {
		add("Emails", want.Emails, got.Emails)
	}
	if !jsonEqual(want.Doc, got.Doc) {
		add("Doc", string(want.Doc), string(got.Doc))
	}
	if want.SeedRequested != got.SeedRequested {
		add("SeedRequested", want.SeedRequested, got.SeedRequested)
	}
	if want.MailboxType != got.MailboxType {
		add("MailboxType", want.MailboxType, got.MailboxType)
	}
	wo, _ := json.Marshal(want.Onboarding)
	gotOb, _ := json.Marshal(got.Onboarding)
	if !bytes.Equal(wo, gotOb) {
		add("Onboarding", string(wo), string(gotOb))
	}
	if want.Version != got.Version {
		add("Version", want.Version, got.Version)
	}
	if !want.Created.Equal(got.Created) {
		add("Created", want.Created, got.Created)
	}
	if !want.Modified.Equal(got.Modified) {
		add("Modified", want.Modified, got.Modified)
	}
	return strings.Join(d, "; ")
}

func testPing(t *testing.T, s connector.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testUserCreateGet(t *testing.T, s connector.Store) {
	ctx := context.Background()
	u := connector.User{
		UserName:      "Ada.Lovelace@Agency.Gov.SG",
		ExternalID:    "TB-0001",
		Active:        true,
		Emails:        []string{"Ada.Lovelace@Agency.Gov.SG", "ada@home.example"},
		Doc:           json.RawMessage(`{"name":{"givenName":"Ada","familyName":"Lovelace"},"title":"Analyst","tags":[1,2,3]}`),
		SeedRequested: true,
		MailboxType:   "Exchange",
		Onboarding: connector.Onboarding{
			State:       connector.StateInvited,
			InviteEmail: "ada.lovelace@agency.gov.sg",
			GuestID:     "guest-1",
			InvitedAt:   ptr(t0),
			ExpiresAt:   ptr(t0.Add(720 * time.Hour)),
			MFAMethods:  []string{"microsoftAuthenticatorAuthenticationMethod"},
			Agreements:  []connector.AgreementAcceptance{{Name: "Terms of Use", ID: "a-1", AcceptedAt: t0}},
			Seed:        connector.Seed{Requested: true, RequestedAt: ptr(t0), State: "requested"},
		},
		Created:  t0,
		Modified: t0.Add(time.Second),
	}
	got, err := s.CreateUser(ctx, u, connector.Change{})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if got.ID == "" {
		t.Fatal("CreateUser left ID empty")
	}
	want := u
	want.ID, want.Version = got.ID, 1
	if d := diffUser(want, got); d != "" {
		t.Errorf("CreateUser returned: %s", d)
	}
	if d := diffUser(want, mustGetUser(t, s, got.ID)); d != "" {
		t.Errorf("GetUser: %s", d)
	}

	// A caller-chosen id is kept, and is unique.
	v := newUser("second@agency.gov.sg")
	v.ID = "caller-chosen-id"
	if got := mustCreateUser(t, s, v); got.ID != "caller-chosen-id" {
		t.Errorf("ID = %q, want the caller's", got.ID)
	}
	w := newUser("third@agency.gov.sg")
	w.ID = "caller-chosen-id"
	if _, err := s.CreateUser(ctx, w, connector.Change{}); !errors.Is(err, connector.ErrAlreadyExists) {
		t.Errorf("CreateUser with a taken id: err = %v, want ErrAlreadyExists", err)
	}

	// Two users without an id get different ones.
	a := mustCreateUser(t, s, newUser("a@agency.gov.sg"))
	b := mustCreateUser(t, s, newUser("b@agency.gov.sg"))
	if a.ID == b.ID {
		t.Errorf("two users got the same id %q", a.ID)
	}
}

func testUserDefaults(t *testing.T, s connector.Store) {
	before := time.Now().Add(-time.Second)
	u := newUser("defaults@agency.gov.sg")
	u.Doc, u.Emails = nil, nil
	got := mustCreateUser(t, s, u)
	after := time.Now().Add(time.Second)
	if got.Version != 1 {
		t.Errorf("Version = %d, want 1", got.Version)
	}
	if got.Created.Before(before) || got.Created.After(after) {
		t.Errorf("Created = %v, want about now", got.Created)
	}
	if !got.Modified.Equal(got.Created) {
		t.Errorf("Modified = %v, want Created %v", got.Modified, got.Created)
	}
	stored := mustGetUser(t, s, got.ID)
	if d := diffUser(got, stored); d != "" {
		t.Errorf("GetUser: %s", d)
	}
	if stored.Doc != nil || len(stored.Emails) != 0 {
		t.Errorf("empty Doc/Emails came back as %q/%q", stored.Doc, stored.Emails)
	}

	// A Doc that is not JSON is refused, not stored.
	bad := newUser("bad-doc@agency.gov.sg")
	bad.Doc = json.RawMessage(`{"unterminated":`)
	if _, err := s.CreateUser(context.Background(), bad, connector.Change{}); err == nil {
		t.Error("CreateUser with an invalid JSON doc succeeded")
	}
}

func testUserNameUnique(t *testing.T, s connector.Store) {
	ctx := context.Background()
	alice := mustCreateUser(t, s, newUser("Alice@Example.com"))
	bob := mustCreateUser(t, s, newUser("bob@example.com"))

	if _, err := s.CreateUser(ctx, newUser("aLICE@example.COM"), connector.Change{}); !errors.Is(err, connector.ErrAlreadyExists) {
		t.Errorf("CreateUser with another case of a taken userName: err = %v, want ErrAlreadyExists", err)
	}
	_, err := s.UpdateUser(ctx, bob.ID, func(u *connector.User) (connector.Change, error) {
		u.UserName = "ALICE@EXAMPLE.COM"
		return connector.Change{}, nil
	})
	if !errors.Is(err, connector.ErrAlreadyExists) {
		t.Errorf("UpdateUser renaming onto a taken userName: err = %v, want ErrAlreadyExists", err)
	}
	if got := mustGetUser(t, s, bob.ID); got.UserName != "bob@example.com" || got.Version != 1 {
		t.Errorf("after the refused rename bob is %q version %d", got.UserName, got.Version)
	}
	// Changing only the case of one's own name is allowed.
	got, err := s.UpdateUser(ctx, alice.ID, func(u *connector.User) (connector.Change, error) {
		u.UserName = "alice@example.com"
		return connector.Change{}, nil
	})
	if err != nil || got.UserName != "alice@example.com" {
		t.Errorf("recasing own userName: %q, %v", got.UserName, err)
	}
	// Non-ASCII names fold too.
	mustCreateUser(t, s, newUser("ÉLODIE@example.com"))
	if _, err := s.CreateUser(ctx, newUser("élodie@example.com"), connector.Change{}); !errors.Is(err, connector.ErrAlreadyExists) {
		t.Errorf("non-ASCII case variant: err = %v, want ErrAlreadyExists", err)
	}
}

func testNotFound(t *testing.T, s connector.Store) {
	ctx := context.Background()
	called := false
	uf := func(*connector.User) (connector.Change, error) { called = true; return connector.Change{}, nil }
	gf := func(*connector.Group) (connector.Change, error) { called = true; return connector.Change{}, nil }
	cases := map[string]func() error{
		"GetUser":    func() error { _, err := s.GetUser(ctx, "missing"); return err },
		"UpdateUser": func() error { _, err := s.UpdateUser(ctx, "missing", uf); return err },
		"DeleteUser": func() error {
			return s.DeleteUser(ctx, "missing", func(connector.User) (connector.Change, error) { called = true; return connector.Change{}, nil })
		},
		"GetGroup":    func() error { _, err := s.GetGroup(ctx, "missing"); return err },
		"UpdateGroup": func() error { _, err := s.UpdateGroup(ctx, "missing", gf); return err },
		"DeleteGroup": func() error {
			return s.DeleteGroup(ctx, "missing", func(connector.Group) (connector.Change, error) { called = true; return connector.Change{}, nil })
		},
		"CompleteJob": func() error { return s.CompleteJob(ctx, 424242, "w") },
		"RetryJob":    func() error { return s.RetryJob(ctx, 424242, "w", t0, "x") },
		"FailJob":     func() error { return s.FailJob(ctx, 424242, "w", "x") },
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			called = false
			if err := call(); !errors.Is(err, connector.ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
			if called {
				t.Error("the update function was called for a missing resource")
			}
		})
	}
}

func testUserUpdateVersion(t *testing.T, s connector.Store) {
	ctx := context.Background()
	u := newUser("versioned@agency.gov.sg")
	u.Created, u.Modified = t0, t0
	created := mustCreateUser(t, s, u)

	t1 := t0.Add(time.Hour)
	got, err := s.UpdateUser(ctx, created.ID, func(u *connector.User) (connector.Change, error) {
		u.ExternalID = "ext-1"
		u.Active = false
		u.Emails = []string{"new@agency.gov.sg"}
		u.Onboarding.State = connector.StateDisabled
		u.Onboarding.Disabled = true
		u.Modified = t1
		u.Created = t1      // ignored: Created stays
		u.Version = 77      // ignored: the store bumps by one
		u.ID = "another-id" // ignored: the id does not change
		return connector.Change{}, nil
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	want := created
	want.ExternalID, want.Active, want.Emails = "ext-1", false, []string{"new@agency.gov.sg"}
	want.Onboarding.State, want.Onboarding.Disabled = connector.StateDisabled, true
	want.Version, want.Modified = 2, t1
	if d := diffUser(want, got); d != "" {
		t.Errorf("UpdateUser returned: %s", d)
	}
	if d := diffUser(want, mustGetUser(t, s, created.ID)); d != "" {
		t.Errorf("GetUser after update: %s", d)
	}

	// An update that leaves Modified alone still moves it (to now).
	got, err = s.UpdateUser(ctx, created.ID, func(u *connector.User) (connector.Change, error) {
		u.ExternalID = "ext-2"
		return connector.Change{}, nil
	})
	if err != nil {
		t.Fatalf("second UpdateUser: %v", err)
	}
	if got.Version != 3 || got.Modified.Equal(t1) || !got.Created.Equal(t0) {
		t.Errorf("second update: version %d modified %v created %v; want 3, not %v, %v", got.Version, got.Modified, got.Created, t1, t0)
	}
	// The old id does not answer for another.
	if _, err := s.GetUser(ctx, "another-id"); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("GetUser(another-id): %v, want ErrNotFound", err)
	}
	// The e-mail index followed the update.
	page, err := s.ListUsers(ctx, connector.Query{Filter: connector.Eq(connector.AttrEmailsValue, "versioned@agency.gov.sg"), Count: 10})
	if err != nil || page.Total != 0 {
		t.Errorf("filter on the replaced e-mail: total %d, err %v; want 0", page.Total, err)
	}
	page, err = s.ListUsers(ctx, connector.Query{Filter: connector.Eq(connector.AttrEmailsValue, "NEW@agency.gov.sg"), Count: 10})
	if err != nil || page.Total != 1 {
		t.Errorf("filter on the new e-mail: total %d, err %v; want 1", page.Total, err)
	}
}

func testUserUpdateAborts(t *testing.T, s connector.Store) {
	ctx := context.Background()
	created := mustCreateUser(t, s, newUser("abort@agency.gov.sg"))
	change := connector.Change{
		Jobs:   []connector.Job{{Kind: connector.JobInvite, Subject: created.ID}},
		Events: []connector.Event{{Subject: created.ID, Type: "user.updated", Actor: "test"}},
	}
	for _, fnErr := range []error{errBoom, fmt.Errorf("if-match: %w", connector.ErrPrecondition)} {
		_, err := s.UpdateUser(ctx, created.ID, func(u *connector.User) (connector.Change, error) {
			u.UserName = "changed@agency.gov.sg"
			u.Active = false
			return change, fnErr
		})
		if err != fnErr { //nolint:errorlint // the contract: returned as is
			t.Errorf("UpdateUser: err = %v, want fn's error as is (%v)", err, fnErr)
		}
	}
	if err := s.DeleteUser(ctx, created.ID, func(connector.User) (connector.Change, error) { return change, errBoom }); err != errBoom { //nolint:errorlint // as is
		t.Errorf("DeleteUser: err = %v, want fn's error as is", err)
	}
	if d := diffUser(created, mustGetUser(t, s, created.ID)); d != "" {
		t.Errorf("user changed by aborted updates: %s", d)
	}
	assertNoJobsOrEvents(t, s)

	// A failed commit (taken userName) does not leave its change behind either.
	mustCreateUser(t, s, newUser("taken@agency.gov.sg"))
	if _, err := s.CreateUser(ctx, newUser("TAKEN@agency.gov.sg"), change); !errors.Is(err, connector.ErrAlreadyExists) {
		t.Fatalf("CreateUser duplicate: %v", err)
	}
	if _, err := s.UpdateUser(ctx, created.ID, func(u *connector.User) (connector.Change, error) {
		u.UserName = "Taken@agency.gov.sg"
		return change, nil
	}); !errors.Is(err, connector.ErrAlreadyExists) {
		t.Fatalf("UpdateUser onto a taken name: %v", err)
	}
	assertNoJobsOrEvents(t, s)
}

func assertNoJobsOrEvents(t *testing.T, s connector.Store) {
	t.Helper()
	ctx := context.Background()
	if depth, _, err := s.JobStats(ctx); err != nil || depth != 0 {
		t.Errorf("JobStats: depth %d, err %v; want no jobs", depth, err)
	}
	if evs, err := s.ListEvents(ctx, "", 0, 100); err != nil || len(evs) != 0 {
		t.Errorf("ListEvents: %d events, err %v; want none", len(evs), err)
	}
}

func testChangeCommitted(t *testing.T, s connector.Store) {
	ctx := context.Background()
	u := newUser("change@agency.gov.sg")
	u.ID = "user-change"
	created, err := s.CreateUser(ctx, u, connector.Change{
		Jobs: []connector.Job{{Kind: connector.JobInvite, Subject: "user-change", Payload: json.RawMessage(`{"email":"change@agency.gov.sg"}`), RunAt: t0}},
		Events: []connector.Event{{Subject: "user-change", Type: "user.created", Actor: "scim:techbiz", At: t0,
			Data: json.RawMessage(`{"userName":"change@agency.gov.sg"}`)}},
	})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	_, err = s.UpdateUser(ctx, created.ID, func(u *connector.User) (connector.Change, error) {
		u.Active = false
		return connector.Change{
			Jobs:   []connector.Job{{Kind: connector.JobDisable, Subject: u.ID, RunAt: t0.Add(time.Minute)}},
			Events: []connector.Event{{Subject: u.ID, Type: "user.disabled", Actor: "scim:techbiz", At: t0.Add(time.Minute)}},
		}, nil
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	err = s.DeleteUser(ctx, created.ID, func(u connector.User) (connector.Change, error) {
		return connector.Change{
			Jobs:   []connector.Job{{Kind: connector.JobDeleteGuest, Subject: u.ID, RunAt: t0.Add(2 * time.Minute)}},
			Events: []connector.Event{{Subject: u.ID, Type: "user.deleted", Actor: "scim:techbiz", At: t0.Add(2 * time.Minute)}},
		}, nil
	})
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}

	// Jobs of one subject are claimed one at a time: take each, then
	// complete it to let the next one through.
	var jobs []connector.Job
	for i := 0; i < 4; i++ {
		got, err := s.ClaimJobs(ctx, "worker", t0.Add(time.Hour), time.Minute, 10)
		if err != nil {
			t.Fatalf("ClaimJobs: %v", err)
		}
		if len(got) == 0 {
			break
		}
		if len(got) > 1 {
			t.Fatalf("claimed %d jobs of one subject at once", len(got))
		}
		jobs = append(jobs, got[0])
		if err := s.CompleteJob(ctx, got[0].ID, "worker"); err != nil {
			t.Fatalf("CompleteJob: %v", err)
		}
	}
	var kinds []connector.JobKind
	for _, j := range jobs {
		kinds = append(kinds, j.Kind)
		if j.Subject != "user-change" {
			t.Errorf("job %d subject %q", j.ID, j.Subject)
		}
	}
	if want := []connector.JobKind{connector.JobInvite, connector.JobDisable, connector.JobDeleteGuest}; !slices.Equal(kinds, want) {
		t.Fatalf("jobs = %v, want %v in RunAt order", kinds, want)
	}
	if !jsonEqual(jobs[0].Payload, []byte(`{"email":"change@agency.gov.sg"}`)) || !jobs[0].RunAt.Equal(t0) || jobs[0].Created.IsZero() {
		t.Errorf("invite job = %+v", jobs[0])
	}

	evs, err := s.ListEvents(ctx, "user-change", 0, 0)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if want := []string{"user.created", "user.disabled", "user.deleted"}; !slices.Equal(types, want) {
		t.Fatalf("events = %v, want %v", types, want)
	}
	e := evs[0]
	if e.ID <= 0 || e.Actor != "scim:techbiz" || !e.At.Equal(t0) || !jsonEqual(e.Data, []byte(`{"userName":"change@agency.gov.sg"}`)) {
		t.Errorf("created event = %+v", e)
	}
}

func testDeleteUser(t *testing.T, s connector.Store) {
	ctx := context.Background()
	a := mustCreateUser(t, s, newUser("a@agency.gov.sg"))
	b := mustCreateUser(t, s, newUser("b@agency.gov.sg"))
	g, err := s.CreateGroup(ctx, connector.Group{DisplayName: "Team", Members: []string{a.ID, b.ID}}, connector.Change{})
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	var seen connector.User
	err = s.DeleteUser(ctx, a.ID, func(u connector.User) (connector.Change, error) {
		seen = u
		return connector.Change{Events: []connector.Event{{Subject: u.ID, Type: "user.deleted", Actor: "test"}}}, nil
	})
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if seen.ID != a.ID || seen.UserName != a.UserName {
		t.Errorf("fn saw %+v, want the stored user", seen)
	}
	if _, err := s.GetUser(ctx, a.ID); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("GetUser after delete: %v, want ErrNotFound", err)
	}
	got, err := s.GetGroup(ctx, g.ID)
	if err != nil {
		t.Fatalf("GetGroup: %v", err)
	}
	if !slices.Equal(got.Members, []string{b.ID}) {
		t.Errorf("members after deleting a = %v, want [%s]", got.Members, b.ID)
	}
	if got.Version <= g.Version {
		t.Errorf("group version %d after losing a member, want > %d", got.Version, g.Version)
	}
	page, err := s.ListGroups(ctx, connector.Query{Filter: connector.Eq(connector.AttrMembersValue, a.ID), Count: 10})
	if err != nil || page.Total != 0 {
		t.Errorf("groups with the deleted member: %d, %v", page.Total, err)
	}
	if evs, err := s.ListEvents(ctx, a.ID, 0, 10); err != nil || len(evs) != 1 {
		t.Errorf("events of the deleted user: %v, %v; want the delete event kept", evs, err)
	}
	// The userName is free again, and the e-mail index forgot the old user.
	if _, err := s.CreateUser(ctx, newUser("A@agency.gov.sg"), connector.Change{}); err != nil {
		t.Errorf("re-creating a deleted userName: %v", err)
	}
	page2, err := s.ListUsers(ctx, connector.Query{Filter: connector.Eq(connector.AttrEmailsValue, "a@agency.gov.sg"), Count: 10})
	if err != nil || page2.Total != 1 || len(page2.Items) != 1 || page2.Items[0].ID == a.ID {
		t.Errorf("e-mail filter after delete and re-create: %+v, %v", page2, err)
	}
	if err := s.DeleteUser(ctx, a.ID, func(connector.User) (connector.Change, error) { return connector.Change{}, nil }); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
}

// filterUsers is the data set of the filter tests, keyed by a short name.
func filterUsers() map[string]connector.User {
	mk := func(name, ext string, active bool, st connector.State, emails ...string) connector.User {
		u := newUser(name)
		u.ExternalID, u.Active, u.Onboarding.State, u.Emails = ext, active, st, emails
		return u
	}
	return map[string]connector.User{
		"alice": mk("Alice@Example.com", "ext-A", true, connector.StateInvited, "alice@example.com", "Alice.Work@Corp.example"),
		"bob":   mk("bob@example.com", "ext-a", false, connector.StatePending, "BOB@example.com"),
		"carol": mk("carol_100%@example.org", `it's "quoted"`, true, connector.StateOnboarded),
		"carlx": mk("carolX100Y@example.org", "", true, connector.StatePending, "c@x.org"),
		"dave":  mk("dave'o@example.net", "ext-b", false, connector.StateFailed, "dave@example.net", "d@Example.NET"),
	}
}

func f(attr string, op connector.FilterOp, v any) *connector.Filter {
	return &connector.Filter{Op: op, Attr: attr, Value: v}
}

func not(x *connector.Filter) *connector.Filter {
	return &connector.Filter{Op: connector.OpNot, Left: x}
}

func testUserFilters(t *testing.T, s connector.Store) {
	ctx := context.Background()
	ids := map[string]string{} // short name by id
	byName := map[string]string{}
	for name, u := range filterUsers() {
		got := mustCreateUser(t, s, u)
		ids[got.ID], byName[name] = name, got.ID
	}
	const (
		userName = connector.AttrUserName
		extID    = connector.AttrExternalID
		email    = connector.AttrEmailsValue
		active   = connector.AttrActive
		state    = connector.AttrOnboardingState
	)
	all := []string{"alice", "bob", "carlx", "carol", "dave"}
	tests := map[string]struct {
		filter *connector.Filter
		want   []string
	}{
		"nil":                              {nil, all},
		"userName/eq folds case":           {f(userName, connector.OpEq, "ALICE@example.COM"), []string{"alice"}},
		"userName/eq quote":                {f(userName, connector.OpEq, "DAVE'o@example.net"), []string{"dave"}},
		"userName/ne":                      {f(userName, connector.OpNe, "alice@example.com"), []string{"bob", "carlx", "carol", "dave"}},
		"userName/co":                      {f(userName, connector.OpCo, "CAROL"), []string{"carlx", "carol"}},
		"userName/co percent is literal":   {f(userName, connector.OpCo, "100%"), []string{"carol"}},
		"userName/co underscore literal":   {f(userName, connector.OpCo, "_"), []string{"carol"}},
		"userName/co quote":                {f(userName, connector.OpCo, "'"), []string{"dave"}},
		"userName/co backslash and bang":   {f(userName, connector.OpCo, `\!`), nil},
		"userName/sw underscore literal":   {f(userName, connector.OpSw, "carol_"), []string{"carol"}},
		"userName/sw":                      {f(userName, connector.OpSw, "B"), []string{"bob"}},
		"userName/ew":                      {f(userName, connector.OpEw, "@EXAMPLE.ORG"), []string{"carlx", "carol"}},
		"userName/gt":                      {f(userName, connector.OpGt, "C"), []string{"carlx", "carol", "dave"}},
		"userName/ge":                      {f(userName, connector.OpGe, "bob@example.com"), []string{"bob", "carlx", "carol", "dave"}},
		"userName/lt":                      {f(userName, connector.OpLt, "bob"), []string{"alice"}},
		"userName/le":                      {f(userName, connector.OpLe, "BOB@example.com"), []string{"alice", "bob"}},
		"userName/pr":                      {f(userName, connector.OpPr, nil), all},
		"externalId/eq is case-sensitive":  {f(extID, connector.OpEq, "ext-A"), []string{"alice"}},
		"externalId/eq other case":         {f(extID, connector.OpEq, "ext-a"), []string{"bob"}},
		"externalId/eq quotes":             {f(extID, connector.OpEq, `it's "quoted"`), []string{"carol"}},
		"externalId/co is case-sensitive":  {f(extID, connector.OpCo, "EXT"), nil},
		"externalId/sw":                    {f(extID, connector.OpSw, "ext-"), []string{"alice", "bob", "dave"}},
		"externalId/ew is case-sensitive":  {f(extID, connector.OpEw, "A"), []string{"alice"}},
		"externalId/gt compares bytes":     {f(extID, connector.OpGt, "ext-a"), []string{"carol", "dave"}},
		"externalId/lt compares bytes":     {f(extID, connector.OpLt, "ext-a"), []string{"alice", "carlx"}},
		"externalId/pr":                    {f(extID, connector.OpPr, nil), []string{"alice", "bob", "carol", "dave"}},
		"externalId/not pr":                {not(f(extID, connector.OpPr, nil)), []string{"carlx"}},
		"emails/eq any value, folded":      {f(email, connector.OpEq, "alice.work@corp.EXAMPLE"), []string{"alice"}},
		"emails/eq stored upper":           {f(email, connector.OpEq, "bob@EXAMPLE.com"), []string{"bob"}},
		"emails/co":                        {f(email, connector.OpCo, "EXAMPLE"), []string{"alice", "bob", "dave"}},
		"emails/sw":                        {f(email, connector.OpSw, "d"), []string{"dave"}},
		"emails/ew":                        {f(email, connector.OpEw, "@example.NET"), []string{"dave"}},
		"emails/ne any value differs":      {f(email, connector.OpNe, "dave@example.net"), []string{"alice", "bob", "carlx", "dave"}},
		"emails/gt":                        {f(email, connector.OpGt, "c@x.org"), []string{"dave"}},
		"emails/pr":                        {f(email, connector.OpPr, nil), []string{"alice", "bob", "carlx", "dave"}},
		"emails/not pr":                    {not(f(email, connector.OpPr, nil)), []string{"carol"}},
		"emails/percent literal":           {f(email, connector.OpCo, "%"), nil},
		"active/eq true":                   {f(active, connector.OpEq, true), []string{"alice", "carlx", "carol"}},
		"active/eq false":                  {f(active, connector.OpEq, false), []string{"bob", "dave"}},
		"active/ne true":                   {f(active, connector.OpNe, true), []string{"bob", "dave"}},
		"active/eq string False":           {f(active, connector.OpEq, "False"), []string{"bob", "dave"}},
		"active/pr":                        {f(active, connector.OpPr, nil), all},
		"onboardingState/eq":               {f(state, connector.OpEq, "pending"), []string{"bob", "carlx"}},
		"onboardingState/eq case matters":  {f(state, connector.OpEq, "Pending"), nil},
		"onboardingState/ne":               {f(state, connector.OpNe, "pending"), []string{"alice", "carol", "dave"}},
		"onboardingState/sw":               {f(state, connector.OpSw, "on"), []string{"carol"}},
		"id/eq":                            {f(connector.AttrID, connector.OpEq, byName["carol"]), []string{"carol"}},
		"id/ne":                            {f(connector.AttrID, connector.OpNe, byName["carol"]), []string{"alice", "bob", "carlx", "dave"}},
		"and":                              {connector.And(f(active, connector.OpEq, true), f(email, connector.OpCo, "example")), []string{"alice"}},
		"or":                               {connector.Or(f(userName, connector.OpSw, "bob"), f(extID, connector.OpEq, "ext-b")), []string{"bob", "dave"}},
		"not":                              {not(f(active, connector.OpEq, true)), []string{"bob", "dave"}},
		"not or":                           {not(connector.Or(f(userName, connector.OpSw, "a"), f(userName, connector.OpSw, "b"))), []string{"carlx", "carol", "dave"}},
		"nested and/or/not":                {connector.Or(connector.And(f(userName, connector.OpSw, "carol"), not(f(email, connector.OpPr, nil))), f(state, connector.OpEq, "failed")), []string{"carol", "dave"}},
		"and binds before or (tree shape)": {connector.And(connector.Or(f(state, connector.OpEq, "pending"), f(state, connector.OpEq, "invited")), f(active, connector.OpEq, true)), []string{"alice", "carlx"}},
		"injection attempt is a value":     {f(userName, connector.OpEq, "x' OR '1'='1"), nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			page, err := s.ListUsers(ctx, connector.Query{Filter: tc.filter, Count: 100})
			if err != nil {
				t.Fatalf("ListUsers(%s): %v", tc.filter, err)
			}
			var got []string
			for _, u := range page.Items {
				got = append(got, ids[u.ID])
			}
			sort.Strings(got)
			if !slices.Equal(got, tc.want) || page.Total != len(tc.want) {
				t.Errorf("ListUsers(%s) = %v (total %d), want %v", tc.filter, got, page.Total, tc.want)
			}
		})
	}
}

func testBadFilters(t *testing.T, s connector.Store) {
	ctx := context.Background()
	mustCreateUser(t, s, newUser("x@agency.gov.sg"))
	bad := map[string]*connector.Filter{
		"unknown attribute":      f("nickName", connector.OpEq, "x"),
		"group attribute":        f(connector.AttrDisplayName, connector.OpEq, "x"),
		"gt on a boolean":        f(connector.AttrActive, connector.OpGt, true),
		"number for a string":    f(connector.AttrUserName, connector.OpEq, 5),
		"not a boolean":          f(connector.AttrActive, connector.OpEq, "yes"),
		"unknown operator":       f(connector.AttrUserName, "regex", "x"),
		"and with one side":      {Op: connector.OpAnd, Left: f(connector.AttrUserName, connector.OpPr, nil)},
		"bad inside not":         not(f("nickName", connector.OpPr, nil)),
		"sql in attribute name":  f("userName = userName OR 1", connector.OpEq, "x"),
		"string op on a boolean": f(connector.AttrActive, connector.OpCo, "t"),
	}
	for name, fl := range bad {
		t.Run(name, func(t *testing.T) {
			if page, err := s.ListUsers(ctx, connector.Query{Filter: fl, Count: 10}); err == nil {
				t.Errorf("ListUsers(%s) = %d users, want an error", fl, page.Total)
			}
		})
	}
	if _, err := s.ListGroups(ctx, connector.Query{Filter: f(connector.AttrUserName, connector.OpEq, "x")}); err == nil {
		t.Error("ListGroups with a user attribute: want an error")
	}
}

func testUserPaging(t *testing.T, s connector.Store) {
	ctx := context.Background()
	// Caller ids in scrambled order; the list is ordered by id, bytewise.
	// Even positions are active: u-07, u-01, u-03, u-05.
	idList := []string{"u-07", "a0", "u-01", "B2", "u-03", "A1", "u-05"}
	for i, id := range idList {
		u := newUser(fmt.Sprintf("page%d@agency.gov.sg", i))
		u.ID, u.Active = id, i%2 == 0
		mustCreateUser(t, s, u)
	}
	sorted := []string{"A1", "B2", "a0", "u-01", "u-03", "u-05", "u-07"}
	idsOf := func(p connector.Page[connector.User]) []string {
		var out []string
		for _, u := range p.Items {
			out = append(out, u.ID)
		}
		return out
	}
	tests := map[string]struct {
		q         connector.Query
		want      []string
		wantTotal int
	}{
		"first page":            {connector.Query{StartIndex: 1, Count: 3}, sorted[:3], 7},
		"second page":           {connector.Query{StartIndex: 4, Count: 3}, sorted[3:6], 7},
		"last partial page":     {connector.Query{StartIndex: 7, Count: 3}, sorted[6:], 7},
		"past the end":          {connector.Query{StartIndex: 8, Count: 3}, nil, 7},
		"start 0 means 1":       {connector.Query{StartIndex: 0, Count: 2}, sorted[:2], 7},
		"negative start":        {connector.Query{StartIndex: -5, Count: 2}, sorted[:2], 7},
		"count 0: total only":   {connector.Query{StartIndex: 1, Count: 0}, nil, 7},
		"count larger than all": {connector.Query{Count: 100}, sorted, 7},
		"filtered":              {connector.Query{Filter: f(connector.AttrActive, connector.OpEq, true), StartIndex: 2, Count: 2}, []string{"u-03", "u-05"}, 4},
		"after id":              {connector.Query{AfterID: "a0", Count: 2}, []string{"u-01", "u-03"}, 4},
		"after id and filter":   {connector.Query{AfterID: "a0", Filter: f(connector.AttrActive, connector.OpEq, false), Count: 10}, nil, 0},
		"after id, filter, all": {connector.Query{AfterID: "B2", Filter: f(connector.AttrActive, connector.OpEq, false), Count: 10}, []string{"a0"}, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			page, err := s.ListUsers(ctx, tc.q)
			if err != nil {
				t.Fatalf("ListUsers: %v", err)
			}
			if got := idsOf(page); !slices.Equal(got, tc.want) || page.Total != tc.wantTotal {
				t.Errorf("ListUsers(%+v) = %v total %d, want %v total %d", tc.q, got, page.Total, tc.want, tc.wantTotal)
			}
		})
	}

	// A keyset sweep sees every user once, in order.
	var swept []string
	after := ""
	for range 10 {
		page, err := s.ListUsers(ctx, connector.Query{AfterID: after, Count: 3})
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
		if len(page.Items) == 0 {
			break
		}
		swept = append(swept, idsOf(page)...)
		after = page.Items[len(page.Items)-1].ID
	}
	if !slices.Equal(swept, sorted) {
		t.Errorf("keyset sweep = %v, want %v", swept, sorted)
	}
}

func testConcurrentUpdates(t *testing.T, s connector.Store) {
	ctx := context.Background()
	u := newUser("counter@agency.gov.sg")
	u.Doc = json.RawMessage(`{"counter":0}`)
	created := mustCreateUser(t, s, u)

	const n = 100
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			_, err := s.UpdateUser(ctx, created.ID, func(u *connector.User) (connector.Change, error) {
				var doc struct {
					Counter int `json:"counter"`
				}
				if err := json.Unmarshal(u.Doc, &doc); err != nil {
					return connector.Change{}, err
				}
				doc.Counter++
				b, err := json.Marshal(doc)
				u.Doc = b
				return connector.Change{}, err
			})
			errs <- err
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("UpdateUser: %v", err)
		}
	}
	got := mustGetUser(t, s, created.ID)
	var doc struct {
		Counter int `json:"counter"`
	}
	if err := json.Unmarshal(got.Doc, &doc); err != nil {
		t.Fatalf("doc %s: %v", got.Doc, err)
	}
	if doc.Counter != n || got.Version != n+1 {
		t.Errorf("after %d concurrent increments: counter %d, version %d; want %d, %d (lost updates)", n, doc.Counter, got.Version, n, n+1)
	}
}
