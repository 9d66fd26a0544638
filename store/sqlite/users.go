package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

const (
	deleteEmailsSQL = `DELETE FROM user_emails WHERE user_id = ?`
	insertEmailSQL  = `INSERT INTO user_emails (user_id, value_fold) VALUES (?, ?)`
)

// putEmails writes the e-mail index one prepared statement per value:
// cheaper on SQLite than decoding one bound list.
func putEmails(ctx context.Context, q sqlq.Tx, userID string, folded []string, replace bool) error {
	if replace {
		if _, err := q.Exec(ctx, deleteEmailsSQL, userID); err != nil {
			return err
		}
	}
	for _, e := range folded {
		if _, err := q.Exec(ctx, insertEmailSQL, userID, e); err != nil {
			return err
		}
	}
	return nil
}

// CreateUser inserts u and commits ch with it.
func (s *Store) CreateUser(ctx context.Context, u connector.User, ch connector.Change) (connector.User, error) {
	if err := sqlq.PrepareNewUser(&u); err != nil {
		return connector.User{}, fmt.Errorf("sqlite: create user: %w", err)
	}
	if err := sqlq.PrepareChange(&ch); err != nil {
		return connector.User{}, fmt.Errorf("sqlite: create user: %w", err)
	}
	row, err := s.sq.UserRow(u)
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
	u, err := s.sq.GetUser(ctx, sqlTx{prepared{cache: s.rc}}, id)
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
		var err error
		out, err = s.sq.UpdateUser(ctx, s.wtx(tx), id, fn)
		return err
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
		return s.sq.DeleteUser(ctx, s.wtx(tx), id, fn)
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
		rows, err := q.QueryContext(ctx, `SELECT `+s.sq.Q.UserCols+` FROM users u`+from+` WHERE `+where+
			` ORDER BY u.id LIMIT ? OFFSET ?`, append(args.Values, limit, offset)...)
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
