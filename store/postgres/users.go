package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

const userCols = `u.id, u.user_name, u.external_id, u.active, u.emails, u.doc, u.seed_requested, u.mailbox_type, u.onboarding, u.version, u.created, u.modified`

type scanner interface{ Scan(dest ...any) error }

func scanUser(sc scanner) (connector.User, error) {
	var (
		u              connector.User
		emails, doc, o []byte
	)
	if err := sc.Scan(&u.ID, &u.UserName, &u.ExternalID, &u.Active, &emails, &doc, &u.SeedRequested, &u.MailboxType,
		&o, &u.Version, &u.Created, &u.Modified); err != nil {
		return u, err
	}
	if err := json.Unmarshal(emails, &u.Emails); err != nil {
		return u, fmt.Errorf("user %s: emails: %w", u.ID, err)
	}
	if len(u.Emails) == 0 {
		u.Emails = nil
	}
	if err := json.Unmarshal(o, &u.Onboarding); err != nil {
		return u, fmt.Errorf("user %s: onboarding: %w", u.ID, err)
	}
	u.Doc = sqlq.JSONValue(doc)
	u.Created, u.Modified = utc(u.Created), utc(u.Modified)
	return u, nil
}

// getUser reads a user; lock is "" or a row-locking clause.
func getUser(ctx context.Context, q pgx.Tx, id, lock string) (connector.User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = $1 `+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("user %q: %w", id, connector.ErrNotFound)
	}
	return u, err
}

// userRow is the column values of u in the order of the INSERT below.
func userRow(u connector.User) ([]any, error) {
	return sqlq.UserRow(u, func(t time.Time) any { return t })
}

func putEmails(ctx context.Context, tx pgx.Tx, u connector.User, replace bool) error {
	if replace {
		if _, err := tx.Exec(ctx, `DELETE FROM user_emails WHERE user_id = $1`, u.ID); err != nil {
			return err
		}
	}
	folded := sqlq.FoldEmails(u.Emails)
	if len(folded) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, insertEmailsSQL, u.ID, folded)
	return err
}

const insertEmailsSQL = `INSERT INTO user_emails (user_id, value_fold) SELECT $1::text, unnest($2::text[])`

// CreateUser inserts u and commits ch with it.
func (s *Store) CreateUser(ctx context.Context, u connector.User, ch connector.Change) (connector.User, error) {
	if err := sqlq.PrepareNewUser(&u); err != nil {
		return connector.User{}, fmt.Errorf("postgres: create user: %w", err)
	}
	if err := sqlq.PrepareChange(&ch); err != nil {
		return connector.User{}, fmt.Errorf("postgres: create user: %w", err)
	}
	row, err := userRow(u)
	if err != nil {
		return connector.User{}, fmt.Errorf("postgres: create user: %w", err)
	}
	// One round trip for every statement of the create (a pipeline in the
	// transaction) instead of one each: BEGIN, the batch, COMMIT.
	b := &pgx.Batch{}
	labels := []string{""}
	b.Queue(`INSERT INTO users (id, user_name, user_name_fold, external_id, active,
			state, emails, doc, onboarding, seed_requested, mailbox_type, version, created, modified)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, row...)
	if folded := sqlq.FoldEmails(u.Emails); len(folded) > 0 {
		b.Queue(insertEmailsSQL, u.ID, folded)
		labels = append(labels, "")
	}
	for _, j := range ch.Jobs {
		b.Queue(insertJobSQL, jobArgs(j)...)
		labels = append(labels, fmt.Sprintf("enqueue %s job", j.Kind))
	}
	for _, e := range ch.Events {
		b.Queue(insertEventSQL, eventArgs(e)...)
		labels = append(labels, "append event")
	}
	err = s.write(ctx, "create user", func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		for _, label := range labels {
			if _, err := br.Exec(); err != nil {
				br.Close()
				if label != "" {
					return fmt.Errorf("%s: %w", label, err)
				}
				return err
			}
		}
		return br.Close()
	})
	if err != nil {
		return connector.User{}, err
	}
	return u, nil
}

// GetUser returns the user with id, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (connector.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return connector.User{}, fmt.Errorf("postgres: get user %q: %w", id, connector.ErrNotFound)
	}
	if err != nil {
		return connector.User{}, wrap("get user", err)
	}
	return u, nil
}

// UpdateUser locks the row (FOR NO KEY UPDATE: group membership inserts,
// which only need the key, are not blocked), applies fn and writes back.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(u *connector.User) (connector.Change, error)) (connector.User, error) {
	var out connector.User
	err := s.write(ctx, "update user", func(tx pgx.Tx) error {
		old, err := getUser(ctx, tx, id, "FOR NO KEY UPDATE")
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
		tag, err := tx.Exec(ctx, `UPDATE users SET user_name = $2, user_name_fold = $3, external_id = $4,
			active = $5, state = $6, emails = $7, doc = $8, onboarding = $9, seed_requested = $10,
			mailbox_type = $11, version = $12, created = $13, modified = $14
			WHERE id = $1 AND version = $15`, append(row, old.Version)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("user %q changed during the update", id)
		}
		if err := putEmails(ctx, tx, u, true); err != nil {
			return err
		}
		if err := applyChange(ctx, tx, ch); err != nil {
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
// a new version); events and jobs stay.
func (s *Store) DeleteUser(ctx context.Context, id string, fn func(u connector.User) (connector.Change, error)) error {
	return s.write(ctx, "delete user", func(tx pgx.Tx) error {
		old, err := getUser(ctx, tx, id, "FOR UPDATE")
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
		if _, err := tx.Exec(ctx, `UPDATE groups SET version = version + 1, modified = $1
			WHERE id IN (SELECT group_id FROM group_members WHERE user_id = $2)`, sqlq.Now(), id); err != nil {
			return err
		}
		// user_emails and group_members go by ON DELETE CASCADE.
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id); err != nil {
			return err
		}
		return applyChange(ctx, tx, ch)
	})
}

// ListUsers evaluates the filter in SQL and pages by id.
func (s *Store) ListUsers(ctx context.Context, q connector.Query) (connector.Page[connector.User], error) {
	var page connector.Page[connector.User]
	args := sqlq.Args{Placeholder: sqlq.Dollar}
	where, err := sqlq.Compile(q.Filter, sqlq.UserSchema, &args)
	if err != nil {
		return page, fmt.Errorf("postgres: list users: %w", err)
	}
	if q.AfterID != "" {
		where += " AND u.id > " + args.Add(q.AfterID)
	}
	offset, limit := sqlq.Page(q)
	if limit > 0 && q.AfterID == "" {
		// One statement is one snapshot: when the page is not full it tells
		// the total by itself (a userName lookup always does), without a
		// transaction and a count. Keyset sweeps (AfterID) read full pages
		// and go straight to the transaction.
		lim, off := args.Add(limit), args.Add(offset)
		items, err := scanUsers(s.pool.Query(ctx, `SELECT `+userCols+` FROM users u WHERE `+where+
			` ORDER BY u.id LIMIT `+lim+` OFFSET `+off, args.Values...))
		if err != nil {
			return page, wrap("list users", err)
		}
		if n := len(items); n < limit && (n > 0 || offset == 0) {
			page.Items, page.Total = items, offset+n
			return page, nil
		}
		args.Values = args.Values[:len(args.Values)-2]
	}
	err = s.read(ctx, "list users", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users u WHERE `+where, args.Values...).Scan(&page.Total); err != nil {
			return err
		}
		if limit == 0 || offset >= page.Total {
			return nil
		}
		lim, off := args.Add(limit), args.Add(offset)
		rows, err := tx.Query(ctx, `SELECT `+userCols+` FROM users u WHERE `+where+
			` ORDER BY u.id LIMIT `+lim+` OFFSET `+off, args.Values...)
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
		return rows.Err()
	})
	return page, err
}

const insertEventSQL = `INSERT INTO events (subject, type, actor, at, data) VALUES ($1, $2, $3, $4, $5)`

func eventArgs(e connector.Event) []any {
	return []any{e.Subject, e.Type, e.Actor, e.At, sqlq.JSONArg(e.Data)}
}

// scanUsers reads every row of a user query.
func scanUsers(rows pgx.Rows, err error) ([]connector.User, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []connector.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// applyChange appends the jobs and events of a change in tx.
func applyChange(ctx context.Context, tx pgx.Tx, ch connector.Change) error {
	for _, j := range ch.Jobs {
		if err := insertJob(ctx, tx, j); err != nil {
			return err
		}
	}
	for _, e := range ch.Events {
		if _, err := tx.Exec(ctx, insertEventSQL, eventArgs(e)...); err != nil {
			return fmt.Errorf("append event: %w", err)
		}
	}
	return nil
}
