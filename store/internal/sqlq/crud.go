package sqlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// The shared statements, written once with $n placeholders.
const (
	userCols  = `u.id, u.user_name, u.external_id, u.active, u.emails, u.doc, u.seed_requested, u.mailbox_type, u.onboarding, u.version, u.created, u.modified, u.created_by`
	groupCols = `g.id, g.display_name, g.external_id, g.entra_id, g.doc, g.version, g.created, g.modified, g.entra_origin`

	getUserSQL    = `SELECT ` + userCols + ` FROM users u WHERE u.id = $1`
	insertUserSQL = `INSERT INTO users (id, user_name, user_name_fold, external_id, active,
	state, emails, doc, onboarding, seed_requested, mailbox_type, version, created, modified,
	invite_fold, guest_id, created_by)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`
	// The compare-and-swap: the row is written only if its version is still
	// the one read ($17). created_by is set at the insert and never written
	// again.
	updateUserSQL = `UPDATE users SET user_name = $2, user_name_fold = $3, external_id = $4,
	active = $5, state = $6, emails = $7, doc = $8, onboarding = $9, seed_requested = $10,
	mailbox_type = $11, version = $12, created = $13, modified = $14, invite_fold = $15, guest_id = $16
	WHERE id = $1 AND version = $17`
	// A deleted user leaves the groups it was in: their member list changed.
	touchGroupsOfUserSQL = `UPDATE groups SET version = version + 1, modified = $1
	WHERE id IN (SELECT group_id FROM group_members WHERE user_id = $2)`
	deleteUserSQL = `DELETE FROM users WHERE id = $1`

	getGroupSQL    = `SELECT ` + groupCols + ` FROM groups g WHERE g.id = $1`
	insertGroupSQL = `INSERT INTO groups (id, display_name, display_name_fold, external_id,
	entra_id, doc, version, created, modified, entra_origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	updateGroupSQL = `UPDATE groups SET display_name = $2, display_name_fold = $3, external_id = $4,
	entra_id = $5, doc = $6, version = $7, modified = $8, entra_origin = $10 WHERE id = $1 AND version = $9`
	deleteGroupSQL = `DELETE FROM groups WHERE id = $1`

	// Tombstones (connector.TombstoneStore): an existing one is kept.
	insertTombstoneSQL = `INSERT INTO tombstones (guest_id, user_id, at) VALUES ($1, $2, $3) ON CONFLICT (guest_id) DO NOTHING`
	deleteTombstoneSQL = `DELETE FROM tombstones WHERE guest_id = $1`
	hasTombstoneSQL    = `SELECT COUNT(*) FROM tombstones WHERE guest_id = $1`
	countTombstonesSQL = `SELECT COUNT(*) FROM tombstones`
	listTombstonesSQL  = `SELECT guest_id, user_id, at FROM tombstones ORDER BY at, guest_id LIMIT $1`

	insertJobSQL   = `INSERT INTO jobs (kind, subject, payload, run_at, last_error, created) VALUES ($1, $2, $3, $4, $5, $6)`
	insertEventSQL = `INSERT INTO events (subject, type, actor, at, data) VALUES ($1, $2, $3, $4, $5)`
)

// Statements are the shared statements in one dialect, for the backends'
// own paths (a batched create, prepared-statement warm-up, lists).
type Statements struct {
	UserCols, GroupCols                                          string
	GetUser, InsertUser, UpdateUser, DeleteUser                  string
	GetGroup, InsertGroup, UpdateGroup, DeleteGroup              string
	TouchGroupsOfUser, InsertJob, InsertEvent                    string
	CompleteJob, RetryJob, FailJob                               string
	InsertTombstone, DeleteTombstone, HasTombstone               string
	CountTombstones, ListTombstones                              string
	getUserUpdate, getUserDelete, getGroupUpdate, getGroupDelete string
}

// SQL is the implementation of the stores' writes that both backends share:
// the compare-and-swap update, the guarded delete, group creation and the
// appending of jobs and events. A backend runs them inside its own
// transactions (its retry policy and error mapping stay its own).
type SQL struct {
	d Dialect
	h Hooks
	Q Statements
}

// New binds the shared statements to a dialect.
func New(d Dialect, h Hooks) *SQL {
	r := func(q string) string { return Rebind(q, d.Placeholder) }
	lock := func(q, clause string) string {
		if clause == "" {
			return r(q)
		}
		return r(q + " " + clause)
	}
	return &SQL{d: d, h: h, Q: Statements{
		UserCols: userCols, GroupCols: groupCols,
		GetUser: r(getUserSQL), InsertUser: r(insertUserSQL), UpdateUser: r(updateUserSQL), DeleteUser: r(deleteUserSQL),
		GetGroup: r(getGroupSQL), InsertGroup: r(insertGroupSQL), UpdateGroup: r(updateGroupSQL), DeleteGroup: r(deleteGroupSQL),
		TouchGroupsOfUser: r(touchGroupsOfUserSQL), InsertJob: r(insertJobSQL), InsertEvent: r(insertEventSQL),
		CompleteJob: r(completeJobSQL), RetryJob: r(retryJobSQL), FailJob: r(failJobSQL),
		InsertTombstone: r(insertTombstoneSQL), DeleteTombstone: r(deleteTombstoneSQL), HasTombstone: r(hasTombstoneSQL),
		CountTombstones: r(countTombstonesSQL), ListTombstones: r(listTombstonesSQL),
		getUserUpdate: lock(getUserSQL, d.UpdateLock), getUserDelete: lock(getUserSQL, d.DeleteLock),
		getGroupUpdate: lock(getGroupSQL, d.UpdateLock), getGroupDelete: lock(getGroupSQL, d.DeleteLock),
	}}
}

func (s *SQL) ts(t time.Time) any { return s.d.Time(t) }

// ScanUser reads one row of Q.UserCols.
func (s *SQL) ScanUser(sc Row) (connector.User, error) {
	var (
		u                connector.User
		emails, doc, onb []byte
	)
	if err := sc.Scan(&u.ID, &u.UserName, &u.ExternalID, &u.Active, &emails, &doc, &u.SeedRequested, &u.MailboxType,
		&onb, &u.Version, s.d.ScanTime(&u.Created), s.d.ScanTime(&u.Modified), &u.CreatedBy); err != nil {
		return u, err
	}
	if err := json.Unmarshal(emails, &u.Emails); err != nil {
		return u, fmt.Errorf("user %s: emails: %w", u.ID, err)
	}
	if len(u.Emails) == 0 {
		u.Emails = nil
	}
	if err := json.Unmarshal(onb, &u.Onboarding); err != nil {
		return u, fmt.Errorf("user %s: onboarding: %w", u.ID, err)
	}
	u.Doc = JSONValue(doc)
	u.Created, u.Modified = u.Created.UTC(), u.Modified.UTC()
	return u, nil
}

// ScanGroup reads one row of Q.GroupCols (without members).
func (s *SQL) ScanGroup(sc Row) (connector.Group, error) {
	var (
		g   connector.Group
		doc []byte
	)
	if err := sc.Scan(&g.ID, &g.DisplayName, &g.ExternalID, &g.EntraID, &doc, &g.Version,
		s.d.ScanTime(&g.Created), s.d.ScanTime(&g.Modified), &g.EntraOrigin); err != nil {
		return g, err
	}
	g.Doc = JSONValue(doc)
	g.Created, g.Modified = g.Created.UTC(), g.Modified.UTC()
	return g, nil
}

// getUser reads a user with query (Q.GetUser or one of its locked forms).
func (s *SQL) getUser(ctx context.Context, tx Tx, query, id string) (connector.User, error) {
	u, err := s.ScanUser(tx.QueryRow(ctx, query, id))
	if errors.Is(err, s.d.NoRows) {
		return u, fmt.Errorf("user %q: %w", id, connector.ErrNotFound)
	}
	return u, err
}

// GetUser reads the user with id, or ErrNotFound.
func (s *SQL) GetUser(ctx context.Context, tx Tx, id string) (connector.User, error) {
	return s.getUser(ctx, tx, s.Q.GetUser, id)
}

func (s *SQL) getGroup(ctx context.Context, tx Tx, query, id string) (connector.Group, error) {
	g, err := s.ScanGroup(tx.QueryRow(ctx, query, id))
	if errors.Is(err, s.d.NoRows) {
		return g, fmt.Errorf("group %q: %w", id, connector.ErrNotFound)
	}
	if err != nil {
		return g, err
	}
	gs := []connector.Group{g}
	err = s.h.LoadMembers(ctx, tx, gs)
	return gs[0], err
}

// GetGroup reads the group with id and its members, or ErrNotFound.
func (s *SQL) GetGroup(ctx context.Context, tx Tx, id string) (connector.Group, error) {
	return s.getGroup(ctx, tx, s.Q.GetGroup, id)
}

// UserRow is the bind values of Q.InsertUser for u: UserRow's and the
// creating client (User.CreatedBy).
func (s *SQL) UserRow(u connector.User) ([]any, error) {
	row, err := UserRow(u, s.ts)
	if err != nil {
		return nil, err
	}
	return append(row, u.CreatedBy), nil
}

// JobArgs is the bind values of Q.InsertJob for j.
func (s *SQL) JobArgs(j connector.Job) []any {
	return []any{string(j.Kind), j.Subject, JSONArg(j.Payload), s.ts(j.RunAt), j.LastError, s.ts(j.Created)}
}

// EventArgs is the bind values of Q.InsertEvent for e.
func (s *SQL) EventArgs(e connector.Event) []any {
	return []any{e.Subject, e.Type, e.Actor, s.ts(e.At), JSONArg(e.Data)}
}

// InsertJobs appends jobs (already prepared) to the outbox.
func (s *SQL) InsertJobs(ctx context.Context, tx Tx, jobs []connector.Job) error {
	for _, j := range jobs {
		if _, err := tx.Exec(ctx, s.Q.InsertJob, s.JobArgs(j)...); err != nil {
			return fmt.Errorf("enqueue %s job: %w", j.Kind, err)
		}
	}
	return nil
}

// TombstoneArgs is the bind values of Q.InsertTombstone for t.
func (s *SQL) TombstoneArgs(t connector.Tombstone) []any {
	at := t.At
	if at.IsZero() {
		at = Now()
	}
	return []any{t.GuestID, t.UserID, s.ts(Time(at))}
}

// ScanTombstone reads one row of Q.ListTombstones.
func (s *SQL) ScanTombstone(sc Row) (connector.Tombstone, error) {
	var t connector.Tombstone
	err := sc.Scan(&t.GuestID, &t.UserID, s.d.ScanTime(&t.At))
	t.At = t.At.UTC()
	return t, err
}

// ApplyChange appends the jobs, events and tombstones of a (prepared) change.
func (s *SQL) ApplyChange(ctx context.Context, tx Tx, ch connector.Change) error {
	if err := s.InsertJobs(ctx, tx, ch.Jobs); err != nil {
		return err
	}
	for _, t := range ch.Tombstones {
		if t.GuestID == "" {
			continue
		}
		if _, err := tx.Exec(ctx, s.Q.InsertTombstone, s.TombstoneArgs(t)...); err != nil {
			return fmt.Errorf("record tombstone: %w", err)
		}
	}
	for _, e := range ch.Events {
		if _, err := tx.Exec(ctx, s.Q.InsertEvent, s.EventArgs(e)...); err != nil {
			return fmt.Errorf("append event: %w", err)
		}
	}
	return nil
}

// PrepareJobs stamps and validates jobs enqueued outside of a change, on a
// copy (the caller's slice is left alone).
func PrepareJobs(jobs []connector.Job) ([]connector.Job, error) {
	now := Now()
	out := make([]connector.Job, len(jobs))
	for i, j := range jobs {
		if err := PrepareJob(&j, now); err != nil {
			return nil, err
		}
		out[i] = j
	}
	return out, nil
}

// InsertUser writes a new (prepared) user with its row from UserRow, its
// e-mail index and its change.
func (s *SQL) InsertUser(ctx context.Context, tx Tx, u connector.User, ch connector.Change, row []any) error {
	if _, err := tx.Exec(ctx, s.Q.InsertUser, row...); err != nil {
		return err
	}
	if err := s.h.PutEmails(ctx, tx, u.ID, FoldEmails(u.Emails), false); err != nil {
		return err
	}
	return s.ApplyChange(ctx, tx, ch)
}

// CreateGroup writes a new (prepared) group, its members and its change.
func (s *SQL) CreateGroup(ctx context.Context, tx Tx, g connector.Group, ch connector.Change) error {
	if _, err := tx.Exec(ctx, s.Q.InsertGroup, g.ID, g.DisplayName, connector.FoldKey(g.DisplayName), g.ExternalID,
		g.EntraID, JSONArg(g.Doc), g.Version, s.ts(g.Created), s.ts(g.Modified), g.EntraOrigin); err != nil {
		return err
	}
	if err := s.h.PutMembers(ctx, tx, g.ID, g.Members, false); err != nil {
		return err
	}
	return s.ApplyChange(ctx, tx, ch)
}

// errChanged is the compare-and-swap losing: the row's version is not the
// one read. Under the dialect's lock it cannot happen; if it does, the
// update must fail rather than commit over another writer.
func errChanged(what, id string) error {
	return fmt.Errorf("%s %q changed during the update", what, id)
}

// casUpdate is the compare-and-swap update of one resource: read it under
// the dialect's lock, let fn change a copy, let the store stamp the copy,
// write it back only if the version is still the one read, and apply the
// change fn returned, all in tx. An error from fn comes back as Abort.
func casUpdate[T any](ctx context.Context, s *SQL, tx Tx, id string,
	read func() (T, error),
	prepare func(v *T, old T) error,
	write func(v T, old T) error,
	fn func(*T) (connector.Change, error),
) (T, error) {
	var zero T
	old, err := read()
	if err != nil {
		return zero, err
	}
	v := old
	ch, err := fn(&v)
	if err != nil {
		return zero, Abort{err}
	}
	if err := prepare(&v, old); err != nil {
		return zero, err
	}
	if err := PrepareChange(&ch); err != nil {
		return zero, err
	}
	if err := write(v, old); err != nil {
		return zero, err
	}
	if err := s.ApplyChange(ctx, tx, ch); err != nil {
		return zero, err
	}
	return v, nil
}

// UpdateUser is connector.UserStore.UpdateUser inside tx.
func (s *SQL) UpdateUser(ctx context.Context, tx Tx, id string, fn func(u *connector.User) (connector.Change, error)) (connector.User, error) {
	return casUpdate(ctx, s, tx, id,
		func() (connector.User, error) { return s.getUser(ctx, tx, s.Q.getUserUpdate, id) },
		PrepareUpdatedUser,
		func(u, old connector.User) error {
			row, err := UserRow(u, s.ts)
			if err != nil {
				return err
			}
			n, err := tx.Exec(ctx, s.Q.UpdateUser, append(row, old.Version)...)
			if err != nil {
				return err
			}
			if n != 1 {
				return errChanged("user", id)
			}
			return s.h.PutEmails(ctx, tx, u.ID, FoldEmails(u.Emails), true)
		}, fn)
}

// UpdateGroup is connector.GroupStore.UpdateGroup inside tx.
func (s *SQL) UpdateGroup(ctx context.Context, tx Tx, id string, fn func(g *connector.Group) (connector.Change, error)) (connector.Group, error) {
	return casUpdate(ctx, s, tx, id,
		func() (connector.Group, error) { return s.getGroup(ctx, tx, s.Q.getGroupUpdate, id) },
		PrepareUpdatedGroup,
		func(g, old connector.Group) error {
			n, err := tx.Exec(ctx, s.Q.UpdateGroup, id, g.DisplayName, connector.FoldKey(g.DisplayName), g.ExternalID,
				g.EntraID, JSONArg(g.Doc), g.Version, s.ts(g.Modified), old.Version, g.EntraOrigin)
			if err != nil {
				return err
			}
			if n != 1 {
				return errChanged("group", id)
			}
			return s.h.PutMembers(ctx, tx, g.ID, g.Members, true)
		}, fn)
}

// guardedDelete reads a resource under the dialect's delete lock, asks fn,
// runs the deleting statements and applies fn's change. An error from fn
// comes back as Abort.
func guardedDelete[T any](ctx context.Context, s *SQL, tx Tx, read func() (T, error),
	del func() error, fn func(T) (connector.Change, error)) error {
	old, err := read()
	if err != nil {
		return err
	}
	ch, err := fn(old)
	if err != nil {
		return Abort{err}
	}
	if err := PrepareChange(&ch); err != nil {
		return err
	}
	if err := del(); err != nil {
		return err
	}
	return s.ApplyChange(ctx, tx, ch)
}

// DeleteUser is connector.UserStore.DeleteUser inside tx: the groups the
// user was in get a new version; its e-mail index and memberships go by ON
// DELETE CASCADE; events and jobs stay.
func (s *SQL) DeleteUser(ctx context.Context, tx Tx, id string, fn func(u connector.User) (connector.Change, error)) error {
	return guardedDelete(ctx, s, tx,
		func() (connector.User, error) { return s.getUser(ctx, tx, s.Q.getUserDelete, id) },
		func() error {
			if _, err := tx.Exec(ctx, s.Q.TouchGroupsOfUser, s.ts(Now()), id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, s.Q.DeleteUser, id)
			return err
		}, fn)
}

// DeleteGroup is connector.GroupStore.DeleteGroup inside tx.
func (s *SQL) DeleteGroup(ctx context.Context, tx Tx, id string, fn func(g connector.Group) (connector.Change, error)) error {
	return guardedDelete(ctx, s, tx,
		func() (connector.Group, error) { return s.getGroup(ctx, tx, s.Q.getGroupDelete, id) },
		func() error {
			_, err := tx.Exec(ctx, s.Q.DeleteGroup, id)
			return err
		}, fn)
}
