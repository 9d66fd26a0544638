package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

func mustCreateGroup(t *testing.T, s connector.Store, g connector.Group) connector.Group {
	t.Helper()
	got, err := s.CreateGroup(context.Background(), g, connector.Change{})
	if err != nil {
		t.Fatalf("CreateGroup(%q): %v", g.DisplayName, err)
	}
	return got
}

func mustGetGroup(t *testing.T, s connector.Store, id string) connector.Group {
	t.Helper()
	got, err := s.GetGroup(context.Background(), id)
	if err != nil {
		t.Fatalf("GetGroup(%q): %v", id, err)
	}
	return got
}

func diffGroup(want, got connector.Group) string {
	var d []string
	add := func(field string, w, g any) { d = append(d, fmt.Sprintf("%s: want %v, got %v", field, w, g)) }
	if want.ID != got.ID {
		add("ID", want.ID, got.ID)
	}
	if want.DisplayName != got.DisplayName {
		add("DisplayName", want.DisplayName, got.DisplayName)
	}
	if want.ExternalID != got.ExternalID {
		add("ExternalID", want.ExternalID, got.ExternalID)
	}
	if want.EntraID != got.EntraID {
		add("EntraID", want.EntraID, got.EntraID)
	}
	if want.EntraOrigin != got.EntraOrigin {
		add("EntraOrigin", want.EntraOrigin, got.EntraOrigin)
	}
	if !slices.Equal(want.Members, got.Members) && (len(want.Members)+len(got.Members) > 0) {
		add("Members", want.Members, got.Members)
	}
	if !jsonEqual(want.Doc, got.Doc) {
		add("Doc", string(want.Doc), string(got.Doc))
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

func testGroupCRUD(t *testing.T, s connector.Store) {
	ctx := context.Background()
	g := connector.Group{
		DisplayName: "Platform Engineers",
		ExternalID:  "TB-G-1",
		EntraID:     "entra-1",
		EntraOrigin: connector.GroupMapped, // kept as written (migration 0006)
		Doc:         json.RawMessage(`{"displayName":"Platform Engineers"}`),
		Created:     t0,
		Modified:    t0,
	}
	created, err := s.CreateGroup(ctx, g, connector.Change{
		Events: []connector.Event{{Subject: "g", Type: "group.created", Actor: "test"}},
	})
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	want := g
	want.ID, want.Version = created.ID, 1
	if created.ID == "" {
		t.Fatal("CreateGroup left ID empty")
	}
	if d := diffGroup(want, created); d != "" {
		t.Errorf("CreateGroup returned: %s", d)
	}
	if d := diffGroup(want, mustGetGroup(t, s, created.ID)); d != "" {
		t.Errorf("GetGroup: %s", d)
	}
	if evs, _ := s.ListEvents(ctx, "g", 0, 10); len(evs) != 1 {
		t.Errorf("create change: %d events, want 1", len(evs))
	}

	if _, err := s.CreateGroup(ctx, connector.Group{DisplayName: "PLATFORM engineers"}, connector.Change{}); !errors.Is(err, connector.ErrAlreadyExists) {
		t.Errorf("CreateGroup with a taken displayName: %v, want ErrAlreadyExists", err)
	}
	other := mustCreateGroup(t, s, connector.Group{DisplayName: "Other"})
	_, err = s.UpdateGroup(ctx, other.ID, func(g *connector.Group) (connector.Change, error) {
		g.DisplayName = "platform ENGINEERS"
		return connector.Change{}, nil
	})
	if !errors.Is(err, connector.ErrAlreadyExists) {
		t.Errorf("UpdateGroup renaming onto a taken displayName: %v, want ErrAlreadyExists", err)
	}

	t1 := t0.Add(time.Hour)
	updated, err := s.UpdateGroup(ctx, created.ID, func(g *connector.Group) (connector.Change, error) {
		g.DisplayName = "Platform Engineering"
		g.EntraID = "entra-2"
		g.EntraOrigin = connector.GroupCreated
		g.Modified = t1
		return connector.Change{Jobs: []connector.Job{{Kind: connector.JobGroupSync, Subject: g.ID}}}, nil
	})
	if err != nil {
		t.Fatalf("UpdateGroup: %v", err)
	}
	want.DisplayName, want.EntraID, want.Version, want.Modified = "Platform Engineering", "entra-2", 2, t1
	want.EntraOrigin = connector.GroupCreated
	if d := diffGroup(want, updated); d != "" {
		t.Errorf("UpdateGroup returned: %s", d)
	}
	if d := diffGroup(want, mustGetGroup(t, s, created.ID)); d != "" {
		t.Errorf("GetGroup after update: %s", d)
	}
	if depth, _, _ := s.JobStats(ctx); depth != 1 {
		t.Errorf("update change: %d jobs, want 1", depth)
	}

	_, err = s.UpdateGroup(ctx, created.ID, func(g *connector.Group) (connector.Change, error) {
		g.DisplayName = "Nope"
		return connector.Change{Jobs: []connector.Job{{Kind: connector.JobGroupSync, Subject: g.ID}}}, errBoom
	})
	if err != errBoom { //nolint:errorlint // returned as is
		t.Errorf("UpdateGroup with a failing fn: %v, want fn's error", err)
	}
	if err := s.DeleteGroup(ctx, created.ID, func(connector.Group) (connector.Change, error) { return connector.Change{}, errBoom }); err != errBoom { //nolint:errorlint // as is
		t.Errorf("DeleteGroup with a failing fn: %v, want fn's error", err)
	}
	if d := diffGroup(want, mustGetGroup(t, s, created.ID)); d != "" {
		t.Errorf("group changed by aborted updates: %s", d)
	}
	if depth, _, _ := s.JobStats(ctx); depth != 1 {
		t.Errorf("aborted update left jobs: depth %d, want 1", depth)
	}

	err = s.DeleteGroup(ctx, created.ID, func(g connector.Group) (connector.Change, error) {
		return connector.Change{Events: []connector.Event{{Subject: g.ID, Type: "group.deleted", Actor: "test"}}}, nil
	})
	if err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if _, err := s.GetGroup(ctx, created.ID); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("GetGroup after delete: %v, want ErrNotFound", err)
	}
	if evs, _ := s.ListEvents(ctx, created.ID, 0, 10); len(evs) != 1 {
		t.Errorf("delete change: %d events, want 1", len(evs))
	}
	// The name is free again.
	mustCreateGroup(t, s, connector.Group{DisplayName: "platform engineering"})
}

func testGroupMembers(t *testing.T, s connector.Store) {
	ctx := context.Background()
	u1 := mustCreateUser(t, s, newUser("m1@agency.gov.sg"))
	u2 := mustCreateUser(t, s, newUser("m2@agency.gov.sg"))
	u3 := mustCreateUser(t, s, newUser("m3@agency.gov.sg"))

	g := mustCreateGroup(t, s, connector.Group{DisplayName: "G", Members: []string{u3.ID, u1.ID, u3.ID}})
	if want := []string{u3.ID, u1.ID}; !slices.Equal(g.Members, want) {
		t.Errorf("created members = %v, want %v (repeats dropped, order kept)", g.Members, want)
	}
	if got := mustGetGroup(t, s, g.ID); !slices.Equal(got.Members, []string{u3.ID, u1.ID}) {
		t.Errorf("stored members = %v, want insertion order %v", got.Members, []string{u3.ID, u1.ID})
	}

	_, err := s.CreateGroup(ctx, connector.Group{DisplayName: "Ghosts", Members: []string{u1.ID, "no-such-user"}}, connector.Change{
		Events: []connector.Event{{Subject: "ghosts", Type: "group.created"}},
	})
	if !errors.Is(err, connector.ErrNotFound) || !strings.Contains(err.Error(), "no-such-user") {
		t.Errorf("CreateGroup with an unknown member: %v, want ErrNotFound naming the id", err)
	}
	if page, _ := s.ListGroups(ctx, connector.Query{Count: 10}); page.Total != 1 {
		t.Errorf("a refused group was stored: %d groups", page.Total)
	}
	if evs, _ := s.ListEvents(ctx, "ghosts", 0, 10); len(evs) != 0 {
		t.Errorf("a refused group left %d events", len(evs))
	}

	_, err = s.UpdateGroup(ctx, g.ID, func(g *connector.Group) (connector.Change, error) {
		g.Members = append(g.Members, "ghost-2")
		return connector.Change{}, nil
	})
	if !errors.Is(err, connector.ErrNotFound) || !strings.Contains(err.Error(), "ghost-2") {
		t.Errorf("UpdateGroup with an unknown member: %v, want ErrNotFound naming the id", err)
	}
	if got := mustGetGroup(t, s, g.ID); got.Version != 1 || len(got.Members) != 2 {
		t.Errorf("refused member update changed the group: %+v", got)
	}

	got, err := s.UpdateGroup(ctx, g.ID, func(g *connector.Group) (connector.Change, error) {
		g.Members = []string{u2.ID, u3.ID}
		return connector.Change{}, nil
	})
	if err != nil {
		t.Fatalf("UpdateGroup: %v", err)
	}
	if stored := mustGetGroup(t, s, g.ID); !slices.Equal(stored.Members, []string{u2.ID, u3.ID}) || stored.Version != 2 || !slices.Equal(got.Members, stored.Members) {
		t.Errorf("after replacing members: %v version %d", stored.Members, stored.Version)
	}
	got, err = s.UpdateGroup(ctx, g.ID, func(g *connector.Group) (connector.Change, error) {
		g.Members = nil
		return connector.Change{}, nil
	})
	if err != nil || len(mustGetGroup(t, s, g.ID).Members) != 0 {
		t.Errorf("emptying the group: %v, %v", got.Members, err)
	}
	// Deleting a group leaves its users alone.
	if err := s.DeleteGroup(ctx, g.ID, func(connector.Group) (connector.Change, error) { return connector.Change{}, nil }); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	mustGetUser(t, s, u2.ID)
}

func testGroupFilters(t *testing.T, s connector.Store) {
	ctx := context.Background()
	u1 := mustCreateUser(t, s, newUser("gf1@agency.gov.sg"))
	u2 := mustCreateUser(t, s, newUser("gf2@agency.gov.sg"))
	names := map[string]string{}
	for _, g := range []connector.Group{
		{DisplayName: "Engineering", ExternalID: "G-1", Members: []string{u1.ID, u2.ID}},
		{DisplayName: "eng_ops 100%", ExternalID: "g-1", Members: []string{u2.ID}},
		{DisplayName: "Finance", ExternalID: "", Members: nil},
	} {
		got := mustCreateGroup(t, s, g)
		names[got.ID] = g.DisplayName
	}
	const (
		dn  = connector.AttrDisplayName
		ext = connector.AttrExternalID
		mem = connector.AttrMembersValue
	)
	tests := map[string]struct {
		filter *connector.Filter
		want   []string
	}{
		"displayName/eq folds case":      {f(dn, connector.OpEq, "ENGINEERING"), []string{"Engineering"}},
		"displayName/sw":                 {f(dn, connector.OpSw, "eng"), []string{"Engineering", "eng_ops 100%"}},
		"displayName/sw underscore":      {f(dn, connector.OpSw, "ENG_"), []string{"eng_ops 100%"}},
		"displayName/co percent":         {f(dn, connector.OpCo, "0%"), []string{"eng_ops 100%"}},
		"displayName/ew":                 {f(dn, connector.OpEw, "NCE"), []string{"Finance"}},
		"displayName/gt":                 {f(dn, connector.OpGt, "EnGineering"), []string{"Finance"}}, // "eng_" < "engi"
		"displayName/lt":                 {f(dn, connector.OpLt, "ENGI"), []string{"eng_ops 100%"}},
		"externalId/eq case-sensitive":   {f(ext, connector.OpEq, "g-1"), []string{"eng_ops 100%"}},
		"externalId/pr":                  {f(ext, connector.OpPr, nil), []string{"Engineering", "eng_ops 100%"}},
		"members.value/eq":               {f(mem, connector.OpEq, u1.ID), []string{"Engineering"}},
		"members.value/eq shared member": {f(mem, connector.OpEq, u2.ID), []string{"Engineering", "eng_ops 100%"}},
		"members.value/not pr":           {not(f(mem, connector.OpPr, nil)), []string{"Finance"}},
		"members and name":               {connector.And(f(mem, connector.OpEq, u2.ID), not(f(dn, connector.OpEq, "engineering"))), []string{"eng_ops 100%"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			page, err := s.ListGroups(ctx, connector.Query{Filter: tc.filter, Count: 10})
			if err != nil {
				t.Fatalf("ListGroups(%s): %v", tc.filter, err)
			}
			var got []string
			for _, g := range page.Items {
				got = append(got, names[g.ID])
			}
			sort.Strings(got)
			want := slices.Clone(tc.want)
			sort.Strings(want)
			if !slices.Equal(got, want) || page.Total != len(want) {
				t.Errorf("ListGroups(%s) = %v (total %d), want %v", tc.filter, got, page.Total, want)
			}
		})
	}
	// Listed groups carry their members.
	page, err := s.ListGroups(ctx, connector.Query{Filter: f(dn, connector.OpEq, "engineering"), Count: 10})
	if err != nil || len(page.Items) != 1 || !slices.Equal(page.Items[0].Members, []string{u1.ID, u2.ID}) {
		t.Errorf("listed group members: %+v, %v", page.Items, err)
	}
}

func testGroupPaging(t *testing.T, s connector.Store) {
	ctx := context.Background()
	for _, id := range []string{"g3", "g1", "G2", "g0"} {
		mustCreateGroup(t, s, connector.Group{ID: id, DisplayName: "group " + id})
	}
	page, err := s.ListGroups(ctx, connector.Query{StartIndex: 2, Count: 2})
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	var got []string
	for _, g := range page.Items {
		got = append(got, g.ID)
	}
	if !slices.Equal(got, []string{"g0", "g1"}) || page.Total != 4 {
		t.Errorf("page 2 = %v total %d, want [g0 g1] total 4", got, page.Total)
	}
	page, err = s.ListGroups(ctx, connector.Query{AfterID: "g1", Count: 10})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "g3" {
		t.Errorf("after g1: %+v, %v", page.Items, err)
	}
	page, err = s.ListGroups(ctx, connector.Query{Count: 0})
	if err != nil || page.Total != 4 || len(page.Items) != 0 {
		t.Errorf("count 0: total %d items %d, %v", page.Total, len(page.Items), err)
	}
}

func jobIDs(jobs []connector.Job) []int64 {
	var out []int64
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func claim(t *testing.T, s connector.Store, owner string, now time.Time, lease time.Duration, n int) []connector.Job {
	t.Helper()
	jobs, err := s.ClaimJobs(context.Background(), owner, now, lease, n)
	if err != nil {
		t.Fatalf("ClaimJobs(%s, %v): %v", owner, now, err)
	}
	return jobs
}

func testJobClaim(t *testing.T, s connector.Store) {
	ctx := context.Background()
	const lease = 5 * time.Minute
	if err := s.EnqueueJobs(ctx, []connector.Job{
		{Kind: connector.JobInvite, Subject: "later", RunAt: t0.Add(time.Hour)},
		{Kind: connector.JobInvite, Subject: "due", RunAt: t0, Payload: json.RawMessage(`{"n":1}`)},
		{Kind: connector.JobInvite, Subject: "asap"}, // zero RunAt: due at once
	}); err != nil {
		t.Fatalf("EnqueueJobs: %v", err)
	}

	jobs := claim(t, s, "w1", t0, lease, 10)
	if len(jobs) != 2 || jobs[0].Subject != "asap" || jobs[1].Subject != "due" {
		t.Fatalf("claim at t0 = %+v, want asap then due (RunAt order)", jobs)
	}
	for _, j := range jobs {
		if j.Attempts != 1 || j.LeaseOwner != "w1" || !j.LeaseUntil.Equal(t0.Add(lease)) {
			t.Errorf("claimed job %+v: want attempts 1, owner w1, lease until %v", j, t0.Add(lease))
		}
	}
	if !jsonEqual(jobs[1].Payload, []byte(`{"n":1}`)) || jobs[1].Kind != connector.JobInvite {
		t.Errorf("payload/kind lost: %+v", jobs[1])
	}
	if got := claim(t, s, "w2", t0.Add(lease-time.Microsecond), lease, 10); len(got) != 0 {
		t.Errorf("claim while leases hold = %v, want none", jobIDs(got))
	}

	// At t0+1h the leases have expired and "later" is due: w2 gets all three.
	jobs2 := claim(t, s, "w2", t0.Add(time.Hour), lease, 10)
	if len(jobs2) != 3 {
		t.Fatalf("claim at t0+1h = %+v, want 3 jobs", jobs2)
	}
	attempts := map[string]int{}
	for _, j := range jobs2 {
		attempts[j.Subject] = j.Attempts
	}
	if attempts["asap"] != 2 || attempts["due"] != 2 || attempts["later"] != 1 {
		t.Errorf("attempts after re-claim = %v, want asap 2, due 2, later 1", attempts)
	}
	byS := map[string]connector.Job{}
	for _, j := range jobs2 {
		byS[j.Subject] = j
	}

	// w1 lost its leases: it can no longer complete, retry or fail them.
	if err := s.CompleteJob(ctx, byS["due"].ID, "w1"); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("CompleteJob by the previous owner: %v, want ErrNotFound", err)
	}
	if err := s.CompleteJob(ctx, byS["due"].ID, "w2"); err != nil {
		t.Errorf("CompleteJob by the owner: %v", err)
	}
	if err := s.CompleteJob(ctx, byS["due"].ID, "w2"); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("CompleteJob twice: %v, want ErrNotFound", err)
	}

	// Retry: released, due again at runAt, with the error kept.
	if err := s.RetryJob(ctx, byS["asap"].ID, "w2", t0.Add(2*time.Hour), "graph: transient (HTTP 503)"); err != nil {
		t.Fatalf("RetryJob: %v", err)
	}
	// Just before: only "later" comes back (w2's lease on it expired at t0+1h05).
	if got := claim(t, s, "w3", t0.Add(2*time.Hour-time.Second), lease, 10); len(got) != 1 || got[0].Subject != "later" {
		t.Errorf("claim just before the retry's runAt = %+v, want only the expired job", got)
	}
	got := claim(t, s, "w3", t0.Add(2*time.Hour), lease, 10)
	if len(got) != 1 || got[0].Subject != "asap" {
		t.Fatalf("claim at t0+2h = %+v, want the retried job", got)
	}
	if j := got[0]; j.LastError != "graph: transient (HTTP 503)" || j.Attempts != 3 || !j.RunAt.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("retried job = %+v", j)
	}

	// Fail: out of the queue for good.
	if err := s.FailJob(ctx, byS["asap"].ID, "w3", "graph: permanent (HTTP 400)"); err != nil {
		t.Fatalf("FailJob: %v", err)
	}
	if err := s.RetryJob(ctx, byS["asap"].ID, "w3", t0, "x"); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("RetryJob of a failed job: %v, want ErrNotFound", err)
	}
	if got := claim(t, s, "w4", t0.Add(1000*time.Hour), lease, 10); len(got) != 1 || got[0].Subject != "later" {
		t.Errorf("claim after fail = %+v, want only later", got)
	}
	if depth, _, err := s.JobStats(ctx); err != nil || depth != 1 {
		t.Errorf("JobStats after complete+fail = %d, %v; want 1", depth, err)
	}

	// n limits the batch.
	if err := s.EnqueueJobs(ctx, []connector.Job{{Kind: connector.JobEnable, Subject: "a", RunAt: t0}, {Kind: connector.JobEnable, Subject: "b", RunAt: t0}}); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, s, "w5", t0, lease, 1); len(got) != 1 || got[0].Subject != "a" {
		t.Errorf("claim n=1 = %+v, want job a", got)
	}
	if got := claim(t, s, "w5", t0, lease, 0); len(got) != 0 {
		t.Errorf("claim n=0 = %+v, want none", got)
	}
}

func testJobOwnerOnly(t *testing.T, s connector.Store) {
	ctx := context.Background()
	if err := s.EnqueueJobs(ctx, []connector.Job{{Kind: connector.JobInvite, Subject: "x", RunAt: t0}}); err != nil {
		t.Fatal(err)
	}
	// An unclaimed job belongs to nobody, including the empty owner.
	probe := claimlessID(t, s)
	for name, call := range map[string]func(owner string) error{
		"CompleteJob": func(o string) error { return s.CompleteJob(ctx, probe, o) },
		"RetryJob":    func(o string) error { return s.RetryJob(ctx, probe, o, t0, "e") },
		"FailJob":     func(o string) error { return s.FailJob(ctx, probe, o, "e") },
	} {
		for _, owner := range []string{"", "stranger"} {
			if err := call(owner); !errors.Is(err, connector.ErrNotFound) {
				t.Errorf("%s(unclaimed, owner %q): %v, want ErrNotFound", name, owner, err)
			}
		}
	}
	jobs := claim(t, s, "owner", t0, time.Minute, 10)
	if len(jobs) != 1 || jobs[0].ID != probe {
		t.Fatalf("the job was consumed by a refused call: %+v", jobs)
	}
	for name, call := range map[string]func(owner string) error{
		"CompleteJob": func(o string) error { return s.CompleteJob(ctx, probe, o) },
		"RetryJob":    func(o string) error { return s.RetryJob(ctx, probe, o, t0, "e") },
		"FailJob":     func(o string) error { return s.FailJob(ctx, probe, o, "e") },
	} {
		if err := call("stranger"); !errors.Is(err, connector.ErrNotFound) {
			t.Errorf("%s by a non-owner: %v, want ErrNotFound", name, err)
		}
	}
	if j := claim(t, s, "later", t0.Add(time.Minute), time.Minute, 10); len(j) != 1 || j[0].Attempts != 3 {
		t.Errorf("job after refused calls = %+v, want it still queued, attempts 3", j)
	}
}

// claimlessID returns the id of the only queued job, left unclaimed: it
// claims the job and releases it at once (EnqueueJobs does not return ids).
func claimlessID(t *testing.T, s connector.Store) int64 {
	t.Helper()
	jobs := claim(t, s, "probe", t0, time.Minute, 1)
	if len(jobs) != 1 {
		t.Fatalf("probe claim = %+v", jobs)
	}
	if err := s.RetryJob(context.Background(), jobs[0].ID, "probe", jobs[0].RunAt, ""); err != nil {
		t.Fatalf("probe release: %v", err)
	}
	return jobs[0].ID
}

func testJobStats(t *testing.T, s connector.Store) {
	ctx := context.Background()
	depth, oldest, err := s.JobStats(ctx)
	if err != nil || depth != 0 || !oldest.IsZero() {
		t.Fatalf("empty JobStats = %d, %v, %v", depth, oldest, err)
	}
	if err := s.EnqueueJobs(ctx, []connector.Job{
		{Kind: connector.JobInvite, Subject: "a", RunAt: t0.Add(10 * time.Minute)},
		{Kind: connector.JobInvite, Subject: "b", RunAt: t0},
		{Kind: connector.JobInvite, Subject: "c", RunAt: t0.Add(time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	depth, oldest, err = s.JobStats(ctx)
	if err != nil || depth != 3 || !oldest.Equal(t0) {
		t.Errorf("JobStats = %d, %v, %v; want 3, %v", depth, oldest, err, t0)
	}
	// Claimed jobs are still queued; a failed one is not.
	jobs := claim(t, s, "w", t0, time.Minute, 1)
	if err := s.FailJob(ctx, jobs[0].ID, "w", "permanent"); err != nil {
		t.Fatal(err)
	}
	depth, oldest, err = s.JobStats(ctx)
	if err != nil || depth != 2 || !oldest.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("JobStats after a failure = %d, %v, %v; want 2, %v", depth, oldest, err, t0.Add(10*time.Minute))
	}
}

func testClaimContention(t *testing.T, s connector.Store) {
	ctx := context.Background()
	const total, workers = 200, 8
	jobs := make([]connector.Job, total)
	for i := range jobs {
		jobs[i] = connector.Job{Kind: connector.JobInvite, Subject: fmt.Sprintf("u%03d", i), RunAt: t0}
	}
	if err := s.EnqueueJobs(ctx, jobs); err != nil {
		t.Fatalf("EnqueueJobs: %v", err)
	}
	var (
		mu    sync.Mutex
		owner = map[int64]string{}
		dup   []string
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for w := range workers {
		name := fmt.Sprintf("worker-%d", w)
		wg.Go(func() {
			<-start
			for {
				got, err := s.ClaimJobs(ctx, name, t0.Add(time.Second), time.Hour, 7)
				if err != nil {
					t.Errorf("%s: ClaimJobs: %v", name, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, j := range got {
					if prev, ok := owner[j.ID]; ok {
						dup = append(dup, fmt.Sprintf("job %d: %s and %s", j.ID, prev, name))
					}
					owner[j.ID] = name
					if j.LeaseOwner != name || j.Attempts != 1 {
						dup = append(dup, fmt.Sprintf("job %d claimed by %s shows owner %q attempts %d", j.ID, name, j.LeaseOwner, j.Attempts))
					}
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(dup) > 0 {
		t.Errorf("jobs claimed twice under contention:\n%s", strings.Join(dup, "\n"))
	}
	if len(owner) != total {
		t.Errorf("%d distinct jobs claimed, want %d", len(owner), total)
	}
	if depth, _, err := s.JobStats(ctx); err != nil || depth != total {
		t.Errorf("JobStats = %d, %v; want %d (claimed, not completed)", depth, err, total)
	}
}

func testEvents(t *testing.T, s connector.Store) {
	ctx := context.Background()
	for i, subj := range []string{"a", "b", "a", "a", "b"} {
		u := newUser(fmt.Sprintf("ev%d@agency.gov.sg", i))
		_, err := s.CreateUser(ctx, u, connector.Change{Events: []connector.Event{{
			Subject: subj, Type: fmt.Sprintf("t%d", i), Actor: "test", At: t0.Add(time.Duration(i) * time.Second),
		}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ListEvents(ctx, "", 0, 0)
	if err != nil || len(all) != 5 {
		t.Fatalf("ListEvents(all) = %d, %v; want 5", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Errorf("event ids not increasing: %d after %d", all[i].ID, all[i-1].ID)
		}
	}
	a, err := s.ListEvents(ctx, "a", 0, 0)
	if err != nil || len(a) != 3 || a[0].Type != "t0" || a[2].Type != "t3" {
		t.Errorf("ListEvents(a) = %+v, %v", a, err)
	}
	after, err := s.ListEvents(ctx, "a", a[0].ID, 1)
	if err != nil || len(after) != 1 || after[0].Type != "t2" {
		t.Errorf("ListEvents(a, after first, 1) = %+v, %v; want t2", after, err)
	}
	if got, _ := s.ListEvents(ctx, "", all[4].ID, 10); len(got) != 0 {
		t.Errorf("after the last event: %+v", got)
	}
	if !all[3].At.Equal(t0.Add(3*time.Second)) || all[3].Actor != "test" || all[3].Subject != "a" {
		t.Errorf("event fields lost: %+v", all[3])
	}
}

func testCursors(t *testing.T, s connector.Store) {
	ctx := context.Background()
	if v, err := s.GetCursor(ctx, "graph.delta"); err != nil || v != "" {
		t.Errorf("unset cursor = %q, %v; want \"\"", v, err)
	}
	link := "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc'%_"
	for _, v := range []string{link, "second"} {
		if err := s.SetCursor(ctx, "graph.delta", v); err != nil {
			t.Fatalf("SetCursor: %v", err)
		}
		if got, err := s.GetCursor(ctx, "graph.delta"); err != nil || got != v {
			t.Errorf("GetCursor = %q, %v; want %q", got, err, v)
		}
	}
	if v, _ := s.GetCursor(ctx, "audit.highWater"); v != "" {
		t.Errorf("cursors leak into each other: %q", v)
	}
}

func testLeases(t *testing.T, s connector.Store) {
	ctx := context.Background()
	const ttl = time.Minute
	steps := []struct {
		holder string
		at     time.Duration // after t0
		want   bool
	}{
		{"h1", 0, true},                   // free
		{"h2", 30 * time.Second, false},   // h1 holds until 1m
		{"h1", 30 * time.Second, true},    // renew: until 1m30s
		{"h2", time.Minute, false},        // renewed, still held
		{"h2", 90*time.Second - 1, false}, // just before expiry: still held
		{"h2", 90 * time.Second, true},    // expired exactly at until: taken over
		{"h1", 91 * time.Second, false},   // h1 is out now
		{"h2", 100 * time.Second, true},   // holder renews
	}
	for i, st := range steps {
		got, err := s.AcquireLease(ctx, "reconciler", st.holder, t0.Add(st.at), ttl)
		if err != nil {
			t.Fatalf("step %d: AcquireLease(%s, +%v): %v", i, st.holder, st.at, err)
		}
		if got != st.want {
			t.Errorf("step %d: AcquireLease(%s, +%v) = %v, want %v", i, st.holder, st.at, got, st.want)
		}
	}
	// Another lease name is independent.
	if ok, err := s.AcquireLease(ctx, "other", "h1", t0, ttl); err != nil || !ok {
		t.Errorf("independent lease: %v, %v", ok, err)
	}
	// Release by a non-holder does nothing; by the holder frees the lease.
	if err := s.ReleaseLease(ctx, "reconciler", "h1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.AcquireLease(ctx, "reconciler", "h1", t0.Add(110*time.Second), ttl); ok {
		t.Error("a release by a non-holder freed the lease")
	}
	if err := s.ReleaseLease(ctx, "reconciler", "h2"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.AcquireLease(ctx, "reconciler", "h1", t0.Add(110*time.Second), ttl); !ok {
		t.Error("the lease was not free after its holder released it")
	}
}

// Jobs of one subject run one at a time and oldest first, whatever their
// RunAt: a deactivation queued after an invitation must not overtake it,
// nor run beside it on another worker.
func testJobSubjectOrder(t *testing.T, s connector.Store) {
	ctx := context.Background()
	if err := s.EnqueueJobs(ctx, []connector.Job{
		{Kind: connector.JobInvite, Subject: "u1", RunAt: t0.Add(time.Minute)},
		{Kind: connector.JobDisable, Subject: "u1", RunAt: t0},
		{Kind: connector.JobInvite, Subject: "u2", RunAt: t0},
	}); err != nil {
		t.Fatalf("EnqueueJobs: %v", err)
	}
	// At t0 only u2's job may run: u1's disable waits for u1's invite.
	jobs := claim(t, s, "w1", t0, time.Hour, 10)
	if len(jobs) != 1 || jobs[0].Subject != "u2" {
		t.Fatalf("claim at t0 = %+v, want only u2's invite", jobs)
	}
	jobs = claim(t, s, "w1", t0.Add(time.Minute), time.Hour, 10)
	if len(jobs) != 1 || jobs[0].Subject != "u1" || jobs[0].Kind != connector.JobInvite {
		t.Fatalf("claim at t0+1m = %+v, want u1's invite alone", jobs)
	}
	// While u1's invite is held, u1's disable is not handed to another worker.
	if got := claim(t, s, "w2", t0.Add(2*time.Minute), time.Hour, 10); len(got) != 0 {
		t.Fatalf("w2 claimed %+v while u1's invite is held", got)
	}
	if err := s.CompleteJob(ctx, jobs[0].ID, "w1"); err != nil {
		t.Fatalf("CompleteJob: %v", err)
	}
	got := claim(t, s, "w2", t0.Add(2*time.Minute), time.Hour, 10)
	if len(got) != 1 || got[0].Kind != connector.JobDisable {
		t.Fatalf("after the invite completed: %+v, want u1's disable", got)
	}
	// A failed job no longer blocks its subject.
	if err := s.EnqueueJobs(ctx, []connector.Job{{Kind: connector.JobEnable, Subject: "u1", RunAt: t0}}); err != nil {
		t.Fatal(err)
	}
	if err := s.FailJob(ctx, got[0].ID, "w2", "gave up"); err != nil {
		t.Fatalf("FailJob: %v", err)
	}
	if got := claim(t, s, "w3", t0.Add(3*time.Minute), time.Hour, 10); len(got) != 1 || got[0].Kind != connector.JobEnable {
		t.Fatalf("after the disable failed: %+v, want u1's enable", got)
	}
}

// testJobRenew: a holder's renewal moves its claim forward, so the job is
// not claimable until the renewed lease runs out; a renewal by anyone but
// the holder, or after a takeover, is ErrNotFound.
func testJobRenew(t *testing.T, s connector.Store) {
	ctx := context.Background()
	const lease = 15 * time.Second
	if err := s.EnqueueJobs(ctx, []connector.Job{{Kind: connector.JobInvite, Subject: "u1", RunAt: t0}}); err != nil {
		t.Fatal(err)
	}
	jobs, err := s.ClaimJobs(ctx, "w1", t0, lease, 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v, %v", jobs, err)
	}
	id := jobs[0].ID
	if err := s.RenewJob(ctx, id, "w2", t0, lease); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("renewal by a non-holder: %v, want ErrNotFound", err)
	}
	// Renewed at +10s: held until +25s, not +15s.
	if err := s.RenewJob(ctx, id, "w1", t0.Add(10*time.Second), lease); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if got, err := s.ClaimJobs(ctx, "w2", t0.Add(20*time.Second), lease, 1); err != nil || len(got) != 0 {
		t.Fatalf("claimed at +20s a job renewed until +25s: %v, %v", got, err)
	}
	got, err := s.ClaimJobs(ctx, "w2", t0.Add(25*time.Second), lease, 1)
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Attempts != 2 {
		t.Fatalf("takeover at +25s: %+v, %v", got, err)
	}
	if err := s.RenewJob(ctx, id, "w1", t0.Add(26*time.Second), lease); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("renewal by the former holder after a takeover: %v, want ErrNotFound", err)
	}
	if err := s.RenewJob(ctx, id, "w2", t0.Add(26*time.Second), lease); err != nil {
		t.Errorf("renewal by the new holder: %v", err)
	}
	if err := s.CompleteJob(ctx, id, "w2"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenewJob(ctx, id, "w2", t0.Add(27*time.Second), lease); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("renewal of a finished job: %v, want ErrNotFound", err)
	}
}

// RunRestart checks what a store does with a previous process's leases
// when it is opened again. open returns a new store on the same database at
// each call (the suite closes them). releasesAtStart says whether the
// backend knows when it is the only process on its database (SQLite, by
// its lock file) and then frees every lease at open; otherwise (PostgreSQL,
// shared by replicas) leases are kept and run out by themselves.
func RunRestart(t *testing.T, open func(t *testing.T) connector.Store, releasesAtStart bool) {
	ctx := context.Background()
	now := time.Now() // real time: PostgreSQL's production stores lease on the database's clock
	const hour = time.Hour
	hold := func(t *testing.T, s connector.Store, owner string) int64 {
		t.Helper()
		if err := s.EnqueueJobs(ctx, []connector.Job{{Kind: connector.JobInvite, Subject: owner, RunAt: now.Add(-time.Second)}}); err != nil {
			t.Fatal(err)
		}
		jobs, err := s.ClaimJobs(ctx, owner, now, hour, 10)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim: %v, %v", jobs, err)
		}
		if ok, err := s.AcquireLease(ctx, "reconciler", owner, now, hour); err != nil || !ok {
			t.Fatalf("acquire: %v, %v", ok, err)
		}
		return jobs[0].ID
	}
	closeStore := func(t *testing.T, s connector.Store) {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	// A store opened while another is open never takes the other's
	// leases, whatever the backend.
	a := open(t)
	hold(t, a, "proc-a")
	b := open(t)
	if got, err := b.ClaimJobs(ctx, "proc-b", now, hour, 10); err != nil || len(got) != 0 {
		t.Errorf("a store opened beside a live one claimed its job: %v, %v", got, err)
	}
	if ok, err := b.AcquireLease(ctx, "reconciler", "proc-b", now, hour); err != nil || ok {
		t.Errorf("a store opened beside a live one took its lease: %v, %v", ok, err)
	}
	closeStore(t, b)
	// The process holding the leases goes away without giving them back;
	// the next one opens the database alone.
	closeStore(t, a)
	c := open(t)
	defer closeStore(t, c)
	got, err := c.ClaimJobs(ctx, "proc-c", now, hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := c.AcquireLease(ctx, "reconciler", "proc-c", now, hour)
	if err != nil {
		t.Fatal(err)
	}
	if releasesAtStart {
		if len(got) != 1 || !ok {
			t.Errorf("after a restart alone: claimed %d jobs (want 1), took the reconciler lease %v (want true)", len(got), ok)
		}
	} else if len(got) != 0 || ok {
		t.Errorf("leases of a possibly live replica taken: claimed %d jobs, lease %v", len(got), ok)
	}
}
