package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/connector"
)

// TestUpdateLostRowError: when the compare-and-swap UPDATE changes no row
// (here a trigger makes SQLite skip it), the update fails with an error
// that says so, and not with a nil error formatted through %w
// ("%!w(<nil>)"), which it used to.
func TestUpdateLostRowError(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "lost.db"))
	u, err := s.CreateUser(ctx, connector.User{UserName: "lost@agency.gov.sg"}, connector.Change{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.CreateGroup(ctx, connector.Group{DisplayName: "lost"}, connector.Change{})
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"users", "groups"} {
		if _, err := s.w.ExecContext(ctx, `CREATE TRIGGER skip_`+table+` BEFORE UPDATE ON `+table+
			` BEGIN SELECT RAISE(IGNORE); END`); err != nil {
			t.Fatal(err)
		}
	}
	nop := func(*connector.User) (connector.Change, error) { return connector.Change{}, nil }
	_, uerr := s.UpdateUser(ctx, u.ID, nop)
	_, gerr := s.UpdateGroup(ctx, g.ID, func(*connector.Group) (connector.Change, error) { return connector.Change{}, nil })
	for what, err := range map[string]error{"UpdateUser": uerr, "UpdateGroup": gerr} {
		switch {
		case err == nil:
			t.Errorf("%s committed although its UPDATE changed no row", what)
		case strings.Contains(err.Error(), "%!"):
			t.Errorf("%s: malformed error %q", what, err)
		case !strings.Contains(err.Error(), "changed during the update"):
			t.Errorf("%s: error %q does not say the row changed", what, err)
		case errors.Is(err, connector.ErrNotFound), errors.Is(err, connector.ErrPrecondition):
			t.Errorf("%s: error %q claims a sentinel", what, err)
		}
	}
	if got, err := s.GetUser(ctx, u.ID); err != nil || got.Version != u.Version {
		t.Errorf("user after the failed update: version %d, %v; want %d", got.Version, err, u.Version)
	}
}
