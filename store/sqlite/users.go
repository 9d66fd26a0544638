package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

const userCols = `u.id, u.user_name, u.external_id, u.active, u.emails, u.doc, u.seed_requested, u.mailbox_type, u.onboarding, u.version, u.created, u.modified`

func scanUser(sc scanner) (connector.User, error) {
	var (
		u                 connector.User
		emails, ob        string
		doc               []byte
		created, modified int64
	)
	if err := sc.Scan(&u.ID, &u.UserName, &u.ExternalID, &u.Active, &emails, &doc, &u.SeedRequested, &u.MailboxType, &ob, &u.Version, &created, &modified); err != nil {
		return u, err
	}
	if err := json.Unmarshal([]byte(emails), &u.Emails); err != nil {
		return u, fmt.Errorf("user %s: emails: %w", u.ID, err)
	}
	if len(u.Emails) == 0 {
		u.Emails = nil
	}
	if err := json.Unmarshal([]byte(ob), &u.Onboarding); err != nil {
		return u, fmt.Errorf("user %s: onboarding: %w", u.ID, err)
	}
	u.Doc = sqlq.JSONValue(doc)
	u.Created, u.Modified = dec(created), dec(modified)
	return u, nil
}

const getUserSQL = `SELECT ` + userCols + ` FROM users u WHERE u.id = ?`

func getUser(ctx context.Context, q queryer, id string) (connector.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, getUserSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %q: %w", id, connector.ErrNotFound)
	}
	return u, err
}

// userRow is the column values of u, in the order of the INSERT below.
func userRow(u connector.User) ([]any, error) {
	return sqlq.UserRow(u, func(t time.Time) any { return enc(t) })
}

// putEmails replaces the user's e-mail index rows (a new user has none).
func putEmails(ctx context.Context, q queryer, u connector.User, isNew bool) error {
	if !isNew {
		if _, err := q.ExecContext(ctx, deleteEmailsSQL, u.ID); err != nil {
			return err
		}
	}
	for _, e := range sqlq.FoldEmails(u.Emails) {
		if _, err := q.ExecContext(ctx, insertEmailSQL, u.ID, e); err != nil {
			return err
		}
	}
	return nil
}

const (
	deleteEmailsSQL = `DELETE FROM user_emails WHERE user_id = ?`
	insertEmailSQL  = `INSERT INTO user_emails (user_id, value_fold) VALUES (?, ?)`
)

const insertUserSQL = `INSERT INTO users (id, user_name, user_name_fold, external_id, active,
	state, emails, doc, onboarding, seed_requested, mailbox_type, version, created, modified)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// CreateUser inserts u and commits ch with it.
func (s *Store) CreateUser(ctx context.Context, u connector.User, ch connector.Change) (connector.User, error) {
	if err := sqlq.PrepareNewUser(&u); err != nil {
		return connector.User{}, fmt.Errorf("sqlite: create user: %w", err)
	}
	if err := sqlq.PrepareChange(&ch); err != nil {
		return connector.User{}, fmt.Errorf("sqlite: create user: %w", err)
	}
	row, err := userRow(u)
	if err != nil {
		return connector.User{}, fmt.Errorf("sqlite: create user: %w", err)
	}
	if err := s.createGrouped(ctx, u, ch, row); err != nil {
		return connector.User{}, err
	}
	return u, nil
}

// GetUser returns the user with id, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (connector.User, error) {
	u, err := getUser(ctx, prepared{cache: s.rc}, id)
	if err != nil {
		return connector.User{}, wrap("get user", err)
	}
	return u, nil
}

// UpdateUser applies fn under the write lock: fn sees the latest committed
// user and nothing else can commit in between, so no update is lost.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(u *connector.User) (connector.Change, error)) (connector.User, error) {
	var out connector.User
	err := s.write(ctx, "update user", func(tx *sql.Tx) error {
		q := prepared{cache: s.wc, tx: tx}
		old, err := getUser(ctx, q, id)
		if err != nil {
			return err
		}
		u := old
		ch, err := fn(&u)
		if err != nil {
			return abort{err}
		}
		if err := sqlq.PrepareUpdatedUser(&u, old); err != nil {
			return err
		}
		if err := sqlq.PrepareChange(&ch); err != nil {
			return err
		}
		row, err := userRow(u)
		if err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, `UPDATE users SET user_name = ?2, user_name_fold = ?3, external_id = ?4,
			active = ?5, state = ?6, emails = ?7, doc = ?8, onboarding = ?9, seed_requested = ?10,
			mailbox_type = ?11, version = ?12, created = ?13, modified = ?14
			WHERE id = ?1 AND version = ?15`, append(row, old.Version)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("user %q changed during the update (rows %d): %w", id, n, err)
		}
		if err := putEmails(ctx, q, u, false); err != nil {
			return err
		}
		if err := applyChange(ctx, q, ch); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return connector.User{}, err
	}
	return out, nil
}

// DeleteUser removes the user and its memberships (the groups it was in get
// a new version: their member list changed); events and jobs stay.
func (s *Store) DeleteUser(ctx context.Context, id string, fn func(u connector.User) (connector.Change, error)) error {
	return s.write(ctx, "delete user", func(tx *sql.Tx) error {
		old, err := getUser(ctx, tx, id)
		if err != nil {
			return err
		}
		ch, err := fn(old)
		if err != nil {
			return abort{err}
		}
		if err := sqlq.PrepareChange(&ch); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE groups SET version = version + 1, modified = ?
			WHERE id IN (SELECT group_id FROM group_members WHERE user_id = ?)`, enc(sqlq.Now()), id); err != nil {
			return err
		}
		// user_emails and group_members go by ON DELETE CASCADE.
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id); err != nil {
			return err
		}
		return applyChange(ctx, tx, ch)
	})
}

// ListUsers evaluates the filter in SQL and pages by id.
func (s *Store) ListUsers(ctx context.Context, q connector.Query) (connector.Page[connector.User], error) {
	var page connector.Page[connector.User]
	args := sqlq.Args{Placeholder: sqlq.Question}
	where, err := sqlq.Compile(q.Filter, sqlq.UserSchema, &args)
	if err != nil {
		return page, fmt.Errorf("sqlite: list users: %w", err)
	}
	from := ""
	if q.AfterID != "" {
		where += " AND u.id > " + args.Add(q.AfterID)
		// A keyset sweep reads the users in id order from AfterID and
		// stops at the page's end: O(page) per page whatever the filter
		// (through a filter's index, SQLite would fetch and sort every
		// remaining match on every page, O(users) per page).
		from = " INDEXED BY sqlite_autoindex_users_1"
	}
	offset, limit := sqlq.Page(q)
	err = s.read(ctx, "list users", func(tx *sql.Tx) error {
		q := prepared{cache: s.rc, tx: tx}
		count := func() error {
			return q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u WHERE `+where, args.Values...).Scan(&page.Total)
		}
		if limit == 0 {
			return count()
		}
		rows, err := q.QueryContext(ctx, `SELECT `+userCols+` FROM users u`+from+` WHERE `+where+
			` ORDER BY u.id LIMIT ? OFFSET ?`, append(args.Values, limit, offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, u)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// A page that is not full tells the total by itself (a userName
		// lookup always does): no second pass over the matches.
		if n := len(page.Items); n < limit && (n > 0 || offset == 0) {
			page.Total = offset + n
			return nil
		}
		return count()
	})
	return page, err
}

const insertEventSQL = `INSERT INTO events (subject, type, actor, at, data) VALUES (?, ?, ?, ?, ?)`

// applyChange appends the jobs and events of a change in tx.
func applyChange(ctx context.Context, tx queryer, ch connector.Change) error {
	for _, j := range ch.Jobs {
		if err := insertJob(ctx, tx, j); err != nil {
			return err
		}
	}
	for _, e := range ch.Events {
		if _, err := tx.ExecContext(ctx, insertEventSQL,
			e.Subject, e.Type, e.Actor, enc(e.At), sqlq.JSONArg(e.Data)); err != nil {
			return fmt.Errorf("append event: %w", err)
		}
	}
	return nil
}
