package sqlq

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/passbridge/passbridge/connector"
)

// UserSchema maps the user filter attributes onto the users table (alias u)
// and user_emails; both backends use the same table and column names.
var UserSchema = Schema{
	connector.AttrID:              {Expr: "u.id"},
	connector.AttrUserName:        {Expr: "u.user_name_fold", Fold: true},
	connector.AttrExternalID:      {Expr: "u.external_id"},
	connector.AttrEmailsValue:     {Expr: "e.value_fold", Fold: true, In: "u.id IN (SELECT e.user_id FROM user_emails e WHERE %s)"},
	connector.AttrActive:          {Expr: "u.active", Bool: true},
	connector.AttrOnboardingState: {Expr: "u.state"},
	connector.AttrGuestID:         {Expr: "u.guest_id"},
	connector.AttrCreatedBy:       {Expr: "u.created_by"},
}

// GroupSchema maps the group filter attributes onto groups (alias g) and
// group_members.
var GroupSchema = Schema{
	connector.AttrID:           {Expr: "g.id"},
	connector.AttrDisplayName:  {Expr: "g.display_name_fold", Fold: true},
	connector.AttrExternalID:   {Expr: "g.external_id"},
	connector.AttrMembersValue: {Expr: "m.user_id", In: "g.id IN (SELECT m.group_id FROM group_members m WHERE %s)"},
}

// Migration is one embedded schema change, applied once.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations reads dir of fsys: files named NNNN_name.sql, applied in
// version order. Versions must be unique.
func Migrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and '_'", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, name, v)
		}
		seen[v] = name
		b, err := fs.ReadFile(fsys, dir+"/"+name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
