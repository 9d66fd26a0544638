package sqlq

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/passbridge/passbridge/connector"
)

// NewID returns a new resource id: a UUIDv7, so that ids sort roughly by
// creation time and keyset sweeps (ordered by id) see older users first.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// Time normalises t to what every backend can keep exactly: UTC, whole
// microseconds (PostgreSQL's resolution). A zero time stays zero.
func Time(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Now is the time a store stamps on Created/Modified/At left zero. It is
// the only use of the wall clock in the stores: job and lease logic takes
// the caller's time.
func Now() time.Time { return Time(time.Now()) }

// CheckJSON rejects a document that is present but not JSON, so that a
// backend storing text keeps the same contract as one that validates.
func CheckJSON(what string, raw json.RawMessage) error {
	if len(raw) > 0 && !json.Valid(raw) {
		return fmt.Errorf("%s is not valid JSON", what)
	}
	return nil
}

// JSONArg is the bind value of an optional JSON document: NULL when empty.
func JSONArg(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// JSONValue turns a scanned column back into a document (nil for NULL).
func JSONValue(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return json.RawMessage(append([]byte(nil), b...))
}

// PrepareNewUser fills what CreateUser leaves to the store and validates
// the rest.
func PrepareNewUser(u *connector.User) error {
	if u.ID == "" {
		u.ID = NewID()
	}
	if u.Version == 0 {
		u.Version = 1
	}
	if u.Created.IsZero() {
		u.Created = Now()
	}
	if u.Modified.IsZero() {
		u.Modified = u.Created
	}
	u.Created, u.Modified = Time(u.Created), Time(u.Modified)
	return CheckJSON("user doc", u.Doc)
}

// PrepareUpdatedUser applies the store's part of an update to u, the user
// fn returned, given the stored one: the id cannot change, Version is bumped
// by one, Created stays and Modified comes from fn, or is now when fn left
// it as it was.
func PrepareUpdatedUser(u *connector.User, old connector.User) error {
	u.ID = old.ID
	u.Version = old.Version + 1
	u.Created = old.Created
	u.CreatedBy = old.CreatedBy // set at the create, never changed
	if u.Modified.IsZero() || u.Modified.Equal(old.Modified) {
		u.Modified = Now()
	}
	u.Modified = Time(u.Modified)
	return CheckJSON("user doc", u.Doc)
}

// PrepareNewGroup is PrepareNewUser for groups; it also drops repeated
// members (a membership is a set, kept in first-seen order).
func PrepareNewGroup(g *connector.Group) error {
	if g.ID == "" {
		g.ID = NewID()
	}
	if g.Version == 0 {
		g.Version = 1
	}
	if g.Created.IsZero() {
		g.Created = Now()
	}
	if g.Modified.IsZero() {
		g.Modified = g.Created
	}
	g.Created, g.Modified = Time(g.Created), Time(g.Modified)
	g.Members = Unique(g.Members, func(s string) string { return s })
	return CheckJSON("group doc", g.Doc)
}

// PrepareUpdatedGroup is PrepareUpdatedUser for groups.
func PrepareUpdatedGroup(g *connector.Group, old connector.Group) error {
	g.ID = old.ID
	g.Version = old.Version + 1
	g.Created = old.Created
	if g.Modified.IsZero() || g.Modified.Equal(old.Modified) {
		g.Modified = Now()
	}
	g.Modified = Time(g.Modified)
	g.Members = Unique(g.Members, func(s string) string { return s })
	return CheckJSON("group doc", g.Doc)
}

// PrepareChange stamps and validates the jobs and events of a change.
func PrepareChange(ch *connector.Change) error {
	now := Time(time.Now())
	jobs := make([]connector.Job, len(ch.Jobs))
	for i, j := range ch.Jobs {
		if err := PrepareJob(&j, now); err != nil {
			return err
		}
		jobs[i] = j
	}
	events := make([]connector.Event, len(ch.Events))
	for i, e := range ch.Events {
		if e.At.IsZero() {
			e.At = now
		}
		e.At = Time(e.At)
		if err := CheckJSON("event data", e.Data); err != nil {
			return err
		}
		events[i] = e
	}
	ch.Jobs, ch.Events = jobs, events
	return nil
}

// PrepareJob stamps and validates one job. A zero RunAt stays zero: the job
// is claimable at once, whatever clock the caller runs on.
func PrepareJob(j *connector.Job, now time.Time) error {
	if j.Kind == "" {
		return fmt.Errorf("job needs a kind")
	}
	if j.Created.IsZero() {
		j.Created = now
	}
	j.Created, j.RunAt = Time(j.Created), Time(j.RunAt)
	return CheckJSON("job payload", j.Payload)
}

// SortJobs puts claimed jobs in RunAt order, then id (RETURNING has no
// order).
func SortJobs(jobs []connector.Job) {
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].RunAt.Equal(jobs[b].RunAt) {
			return jobs[a].RunAt.Before(jobs[b].RunAt)
		}
		return jobs[a].ID < jobs[b].ID
	})
}

// FoldEmails returns the distinct folded e-mail values to index.
func FoldEmails(emails []string) []string {
	out := make([]string, 0, len(emails))
	seen := make(map[string]bool, len(emails))
	for _, e := range emails {
		k := connector.FoldKey(e)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Unique keeps the first of the values with the same key, in order.
func Unique(vs []string, key func(string) string) []string {
	if vs == nil {
		return nil
	}
	out := make([]string, 0, len(vs))
	seen := make(map[string]bool, len(vs))
	for _, v := range vs {
		k := key(v)
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

// Page turns a query's StartIndex/Count into OFFSET/LIMIT.
func Page(q connector.Query) (offset, limit int) {
	offset = q.StartIndex - 1
	if offset < 0 {
		offset = 0
	}
	limit = q.Count
	if limit < 0 {
		limit = 0
	}
	return offset, limit
}

// Missing returns the ids in want that are not in have.
func Missing(want []string, have map[string]bool) []string {
	var out []string
	for _, id := range want {
		if !have[id] {
			out = append(out, id)
		}
	}
	return out
}

// UserRow is the column values of u in the order both backends insert them
// (id, user_name, user_name_fold, external_id, active, state, emails, doc,
// onboarding, seed_requested, mailbox_type, version, created, modified,
// invite_fold, guest_id); ts converts the two timestamps to the backend's
// column type. invite_fold is NULL without an invite address, so that such
// users do not collide in its unique index.
func UserRow(u connector.User, ts func(time.Time) any) ([]any, error) {
	emails := u.Emails
	if emails == nil {
		emails = []string{}
	}
	eb, err := json.Marshal(emails)
	if err != nil {
		return nil, fmt.Errorf("user emails: %w", err)
	}
	ob, err := json.Marshal(u.Onboarding)
	if err != nil {
		return nil, fmt.Errorf("user onboarding: %w", err)
	}
	return []any{u.ID, u.UserName, connector.FoldKey(u.UserName), u.ExternalID, u.Active,
		string(u.Onboarding.State), string(eb), JSONArg(u.Doc), string(ob), u.SeedRequested,
		u.MailboxType, u.Version, ts(u.Created), ts(u.Modified), inviteFold(u), u.Onboarding.GuestID}, nil
}

func inviteFold(u connector.User) any {
	if u.Onboarding.InviteEmail == "" {
		return nil
	}
	return connector.FoldKey(u.Onboarding.InviteEmail)
}
