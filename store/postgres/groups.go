package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

// loadMembers fills the members of gs (in insertion order) with one query.
func loadMembers(ctx context.Context, tx sqlq.Tx, gs []connector.Group) error {
	if len(gs) == 0 {
		return nil
	}
	idx := make(map[string]int, len(gs))
	ids := make([]string, len(gs))
	for i, g := range gs {
		idx[g.ID], ids[i] = i, g.ID
	}
	rows, err := tx.Query(ctx, `SELECT group_id, user_id FROM group_members
		WHERE group_id = ANY($1::text[]) ORDER BY group_id, position`, ids)
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

// putMembers replaces the members of g after checking that each is a user
// (naming the first that is not); the foreign key catches a user deleted
// in between.
func putMembers(ctx context.Context, tx sqlq.Tx, groupID string, members []string, replace bool) error {
	if members == nil {
		members = []string{}
	}
	var missing string
	err := tx.QueryRow(ctx, `SELECT t.m FROM unnest($1::text[]) WITH ORDINALITY AS t(m, i)
		WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = t.m) ORDER BY t.i LIMIT 1`, members).Scan(&missing)
	switch {
	case err == nil:
		return fmt.Errorf("group member %q: %w", missing, connector.ErrNotFound)
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	if replace {
		if _, err := tx.Exec(ctx, `DELETE FROM group_members WHERE group_id = $1`, groupID); err != nil {
			return err
		}
	}
	if len(members) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO group_members (group_id, user_id, position)
		SELECT $1::text, t.m, t.i FROM unnest($2::text[]) WITH ORDINALITY AS t(m, i)`, groupID, members)
	return err
}

// CreateGroup inserts g with its members and commits ch with it.
func (s *Store) CreateGroup(ctx context.Context, g connector.Group, ch connector.Change) (connector.Group, error) {
	if err := sqlq.PrepareNewGroup(&g); err != nil {
		return connector.Group{}, fmt.Errorf("postgres: create group: %w", err)
	}
	if err := sqlq.PrepareChange(&ch); err != nil {
		return connector.Group{}, fmt.Errorf("postgres: create group: %w", err)
	}
	err := s.write(ctx, "create group", func(tx pgx.Tx) error {
		return s.sq.CreateGroup(ctx, pgTx{tx}, g, ch)
	})
	if err != nil {
		return connector.Group{}, err
	}
	return g, nil
}

// GetGroup returns the group with id, or ErrNotFound.
func (s *Store) GetGroup(ctx context.Context, id string) (connector.Group, error) {
	var g connector.Group
	err := s.read(ctx, "get group", func(tx pgx.Tx) error {
		var err error
		g, err = s.sq.GetGroup(ctx, pgTx{tx}, id)
		return err
	})
	if err != nil {
		return connector.Group{}, err
	}
	return g, nil
}

// UpdateGroup locks the group row, applies fn and writes back.
func (s *Store) UpdateGroup(ctx context.Context, id string, fn func(g *connector.Group) (connector.Change, error)) (connector.Group, error) {
	var out connector.Group
	err := s.write(ctx, "update group", func(tx pgx.Tx) error {
		var err error
		out, err = s.sq.UpdateGroup(ctx, pgTx{tx}, id, fn)
		return err
	})
	if err != nil {
		return connector.Group{}, err
	}
	return out, nil
}

// DeleteGroup removes the group and its memberships after fn agrees.
func (s *Store) DeleteGroup(ctx context.Context, id string, fn func(g connector.Group) (connector.Change, error)) error {
	return s.write(ctx, "delete group", func(tx pgx.Tx) error {
		return s.sq.DeleteGroup(ctx, pgTx{tx}, id, fn)
	})
}

// ListGroups evaluates the filter in SQL and pages by id.
func (s *Store) ListGroups(ctx context.Context, q connector.Query) (connector.Page[connector.Group], error) {
	var page connector.Page[connector.Group]
	args := sqlq.Args{Placeholder: sqlq.Dollar}
	where, err := sqlq.Compile(q.Filter, sqlq.GroupSchema, &args)
	if err != nil {
		return page, fmt.Errorf("postgres: list groups: %w", err)
	}
	if q.AfterID != "" {
		where += " AND g.id > " + args.Add(q.AfterID)
	}
	offset, limit := sqlq.Page(q)
	err = s.read(ctx, "list groups", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM groups g WHERE `+where, args.Values...).Scan(&page.Total); err != nil {
			return err
		}
		if limit == 0 || offset >= page.Total {
			return nil
		}
		lim, off := args.Add(limit), args.Add(offset)
		rows, err := tx.Query(ctx, `SELECT `+s.sq.Q.GroupCols+` FROM groups g WHERE `+where+
			` ORDER BY g.id LIMIT `+lim+` OFFSET `+off, args.Values...)
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
		return loadMembers(ctx, pgTx{tx}, page.Items)
	})
	return page, err
}
