package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

// loadMembers fills the members of gs (in insertion order) with one query,
// the ids bound as one JSON list.
func loadMembers(ctx context.Context, q sqlq.Tx, gs []connector.Group) error {
	if len(gs) == 0 {
		return nil
	}
	idx := make(map[string]int, len(gs))
	ids := make([]string, len(gs))
	for i, g := range gs {
		idx[g.ID], ids[i] = i, g.ID
	}
	rows, err := q.Query(ctx, `SELECT group_id, user_id FROM group_members
		WHERE group_id IN (SELECT value FROM json_each(?)) ORDER BY group_id, position`, jsonList(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var gid, uid string
		if err := rows.Scan(&gid, &uid); err != nil {
			return err
		}
		i := idx[gid]
		gs[i].Members = append(gs[i].Members, uid)
	}
	return rows.Err()
}

// putMembers replaces the members of a group after checking that each is a
// user.
func putMembers(ctx context.Context, q sqlq.Tx, groupID string, members []string, replace bool) error {
	var missing string
	err := q.QueryRow(ctx, `SELECT j.value FROM json_each(?) j
		WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = j.value) ORDER BY j.key LIMIT 1`, jsonList(members)).Scan(&missing)
	switch {
	case err == nil:
		return fmt.Errorf("group member %q: %w", missing, connector.ErrNotFound)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if replace {
		if _, err := q.Exec(ctx, `DELETE FROM group_members WHERE group_id = ?`, groupID); err != nil {
			return err
		}
	}
	for i, m := range members {
		if _, err := q.Exec(ctx, `INSERT INTO group_members (group_id, user_id, position) VALUES (?, ?, ?)`, groupID, m, i); err != nil {
			return err
		}
	}
	return nil
}

// CreateGroup inserts g with its members and commits ch with it.
func (s *Store) CreateGroup(ctx context.Context, g connector.Group, ch connector.Change) (connector.Group, error) {
	if err := sqlq.PrepareNewGroup(&g); err != nil {
		return connector.Group{}, fmt.Errorf("sqlite: create group: %w", err)
	}
	if err := sqlq.PrepareChange(&ch); err != nil {
		return connector.Group{}, fmt.Errorf("sqlite: create group: %w", err)
	}
	err := s.write(ctx, "create group", func(tx *sql.Tx) error {
		return s.sq.CreateGroup(ctx, s.wtx(tx), g, ch)
	})
	if err != nil {
		return connector.Group{}, err
	}
	return g, nil
}

// GetGroup returns the group with id, or ErrNotFound.
func (s *Store) GetGroup(ctx context.Context, id string) (connector.Group, error) {
	var g connector.Group
	err := s.read(ctx, "get group", func(tx *sql.Tx) error {
		var err error
		g, err = s.sq.GetGroup(ctx, sqlTx{tx}, id)
		return err
	})
	if err != nil {
		return connector.Group{}, err
	}
	return g, nil
}

// UpdateGroup applies fn under the write lock, like UpdateUser.
func (s *Store) UpdateGroup(ctx context.Context, id string, fn func(g *connector.Group) (connector.Change, error)) (connector.Group, error) {
	var out connector.Group
	err := s.write(ctx, "update group", func(tx *sql.Tx) error {
		var err error
		out, err = s.sq.UpdateGroup(ctx, s.wtx(tx), id, fn)
		return err
	})
	if err != nil {
		return connector.Group{}, err
	}
	return out, nil
}

// DeleteGroup removes the group and its memberships after fn agrees.
func (s *Store) DeleteGroup(ctx context.Context, id string, fn func(g connector.Group) (connector.Change, error)) error {
	return s.write(ctx, "delete group", func(tx *sql.Tx) error {
		return s.sq.DeleteGroup(ctx, s.wtx(tx), id, fn)
	})
}

// ListGroups evaluates the filter in SQL and pages by id.
func (s *Store) ListGroups(ctx context.Context, q connector.Query) (connector.Page[connector.Group], error) {
	var page connector.Page[connector.Group]
	args := sqlq.Args{Placeholder: sqlq.Question}
	where, err := sqlq.Compile(q.Filter, sqlq.GroupSchema, &args)
	if err != nil {
		return page, fmt.Errorf("sqlite: list groups: %w", err)
	}
	if q.AfterID != "" {
		where += " AND g.id > " + args.Add(q.AfterID)
	}
	offset, limit := sqlq.Page(q)
	err = s.read(ctx, "list groups", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM groups g WHERE `+where, args.Values...).Scan(&page.Total); err != nil {
			return err
		}
		if limit == 0 || offset >= page.Total {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+s.sq.Q.GroupCols+` FROM groups g WHERE `+where+
			` ORDER BY g.id LIMIT ? OFFSET ?`, append(args.Values, limit, offset)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			g, err := s.sq.ScanGroup(rows)
			if err != nil {
				rows.Close()
				return err
			}
			page.Items = append(page.Items, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return loadMembers(ctx, sqlTx{tx}, page.Items)
	})
	return page, err
}
