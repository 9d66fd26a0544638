package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

// putEmails writes the e-mail index in one statement, the values bound as
// one array.
func putEmails(ctx context.Context, tx sqlq.Tx, userID string, folded []string, replace bool) error {
	if replace {
		if _, err := tx.Exec(ctx, `DELETE FROM user_emails WHERE user_id = $1`, userID); err != nil {
			return err
		}
	}
	if len(folded) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, insertEmailsSQL, userID, folded)
	return err
}

const insertEmailsSQL = `INSERT INTO user_emails (user_id, value_fold) SELECT $1::text, unnest($2::text[])`

// CreateUser inserts u and commits ch with it. It does not go through
// sqlq's InsertUser: that runs one statement after the other, while here
// every statement of the create goes in one round trip (a pipeline in the
// transaction): BEGIN, the batch, COMMIT.
func (s *Store) CreateUser(ctx context.Context, u connector.User, ch connector.Change) (connector.User, error) {
	if err := sqlq.PrepareNewUser(&u); err != nil {
		return connector.User{}, fmt.Errorf("postgres: create user: %w", err)
	}
	if err := sqlq.PrepareChange(&ch); err != nil {
		return connector.User{}, fmt.Errorf("postgres: create user: %w", err)
	}
	row, err := s.sq.UserRow(u)
	if err != nil {
		return connector.User{}, fmt.Errorf("postgres: create user: %w", err)
	}
	b := &pgx.Batch{}
	labels := []string{""}
	b.Queue(s.sq.Q.InsertUser, row...)
	if folded := sqlq.FoldEmails(u.Emails); len(folded) > 0 {
		b.Queue(insertEmailsSQL, u.ID, folded)
		labels = append(labels, "")
	}
	for _, j := range ch.Jobs {
		b.Queue(s.sq.Q.InsertJob, s.sq.JobArgs(j)...)
		labels = append(labels, fmt.Sprintf("enqueue %s job", j.Kind))
	}
	for _, e := range ch.Events {
		b.Queue(s.sq.Q.InsertEvent, s.sq.EventArgs(e)...)
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
	u, err := s.sq.GetUser(ctx, pgTx{s.pool}, id)
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
		var err error
		out, err = s.sq.UpdateUser(ctx, pgTx{tx}, id, fn)
		return err
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
		return s.sq.DeleteUser(ctx, pgTx{tx}, id, fn)
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
		items, err := s.scanUsers(s.pool.Query(ctx, `SELECT `+s.sq.Q.UserCols+` FROM users u WHERE `+where+
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
		rows, err := tx.Query(ctx, `SELECT `+s.sq.Q.UserCols+` FROM users u WHERE `+where+
			` ORDER BY u.id LIMIT `+lim+` OFFSET `+off, args.Values...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := s.sq.ScanUser(rows)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, u)
		}
		return rows.Err()
	})
	return page, err
}

// scanUsers reads every row of a user query.
func (s *Store) scanUsers(rows pgx.Rows, err error) ([]connector.User, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []connector.User
	for rows.Next() {
		u, err := s.sq.ScanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
