package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/internal/sqlq"
)

const groupCols = `g.id, g.display_name, g.external_id, g.entra_id, g.doc, g.version, g.created, g.modified`

func scanGroup(sc scanner) (connector.Group, error) {
	var (
		g                 connector.Group
		doc               []byte
		created, modified int64
	)
	if err := sc.Scan(&g.ID, &g.DisplayName, &g.ExternalID, &g.EntraID, &doc, &g.Version, &created, &modified); err != nil {
		return g, err
	}
	g.Doc = sqlq.JSONValue(doc)
	g.Created, g.Modified = dec(created), dec(modified)
	return g, nil
}

// loadMembers fills the members of gs (in insertion order) with one query.
func loadMembers(ctx context.Context, q queryer, gs []connector.Group) error {
	if len(gs) == 0 {
		return nil
	}
	idx := make(map[string]int, len(gs))
	ids := make([]string, len(gs))
	for i, g := range gs {
		idx[g.ID], ids[i] = i, g.ID
	}
	rows, err := q.QueryContext(ctx, `SELECT group_id, user_id FROM group_members
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

func getGroup(ctx context.Context, q queryer, id string) (connector.Group, error) {
	g, err := scanGroup(q.QueryRowContext(ctx, `SELECT `+groupCols+` FROM groups g WHERE g.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return g, fmt.Errorf("group %q: %w", id, connector.ErrNotFound)
	}
	if err != nil {
		return g, err
	}
	gs := []connector.Group{g}
	err = loadMembers(ctx, q, gs)
	return gs[0], err
}

// putMembers replaces the members of g after checking that each is a user.
func putMembers(ctx context.Context, tx *sql.Tx, g connector.Group) error {
	rows, err := tx.QueryContext(ctx, `SELECT j.value FROM json_each(?) j
		WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = j.value) ORDER BY j.key LIMIT 1`, jsonList(g.Members))
	if err != nil {
		return err
	}
	var missing []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		missing = append(missing, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("group member %q: %w", missing[0], connector.ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE group_id = ?`, g.ID); err != nil {
		return err
	}
	for i, m := range g.Members {
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_members (group_id, user_id, position) VALUES (?, ?, ?)`, g.ID, m, i); err != nil {
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
		if _, err := tx.ExecContext(ctx, `INSERT INTO groups (id, display_name, display_name_fold, external_id,
			entra_id, doc, version, created, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			g.ID, g.DisplayName, connector.FoldKey(g.DisplayName), g.ExternalID, g.EntraID, sqlq.JSONArg(g.Doc),
			g.Version, enc(g.Created), enc(g.Modified)); err != nil {
			return err
		}
		if err := putMembers(ctx, tx, g); err != nil {
			return err
		}
		return applyChange(ctx, tx, ch)
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
		g, err = getGroup(ctx, tx, id)
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
		old, err := getGroup(ctx, tx, id)
		if err != nil {
			return err
		}
		g := old
		ch, err := fn(&g)
		if err != nil {
			return abort{err}
		}
		if err := sqlq.PrepareUpdatedGroup(&g, old); err != nil {
			return err
		}
		if err := sqlq.PrepareChange(&ch); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE groups SET display_name = ?, display_name_fold = ?, external_id = ?,
			entra_id = ?, doc = ?, version = ?, modified = ? WHERE id = ? AND version = ?`,
			g.DisplayName, connector.FoldKey(g.DisplayName), g.ExternalID, g.EntraID, sqlq.JSONArg(g.Doc),
			g.Version, enc(g.Modified), id, old.Version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("group %q changed during the update (rows %d): %w", id, n, err)
		}
		if err := putMembers(ctx, tx, g); err != nil {
			return err
		}
		if err := applyChange(ctx, tx, ch); err != nil {
			return err
		}
		out = g
		return nil
	})
	if err != nil {
		return connector.Group{}, err
	}
	return out, nil
}

// DeleteGroup removes the group and its memberships after fn agrees.
func (s *Store) DeleteGroup(ctx context.Context, id string, fn func(g connector.Group) (connector.Change, error)) error {
	return s.write(ctx, "delete group", func(tx *sql.Tx) error {
		old, err := getGroup(ctx, tx, id)
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
		if _, err := tx.ExecContext(ctx, `DELETE FROM groups WHERE id = ?`, id); err != nil {
			return err
		}
		return applyChange(ctx, tx, ch)
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
		rows, err := tx.QueryContext(ctx, `SELECT `+groupCols+` FROM groups g WHERE `+where+
			` ORDER BY g.id LIMIT ? OFFSET ?`, append(args.Values, limit, offset)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			g, err := scanGroup(rows)
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
		return loadMembers(ctx, tx, page.Items)
	})
	return page, err
}
