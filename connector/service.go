package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Service is the domain API the SCIM layer calls. It applies the sign-up
// policy, keeps onboarding facts consistent with what clients write, and
// queues the directory work (outbox jobs) in the same transaction as the
// change that needs it.
type Service struct {
	store Store
	clock Clock
	log   *slog.Logger
	opts  Options
}

// NewService returns a Service over store. Zero options take defaults.
func NewService(store Store, opts Options) *Service {
	opts = opts.withDefaults()
	return &Service{store: store, clock: opts.Clock, log: opts.Logger, opts: opts}
}

// Options returns the effective options.
func (s *Service) Options() Options { return s.opts }

// Store returns the underlying store (for the worker and reconciler).
func (s *Service) Store() Store { return s.store }

// CreateUser stores a new user and queues its invitation. The user's ID,
// Version and timestamps are assigned by the store.
func (s *Service) CreateUser(ctx context.Context, actor string, u User) (User, error) {
	now := s.clock.Now()
	u.Created, u.Modified = now, now
	ch, err := s.onCreate(ctx, actor, &u)
	if err != nil {
		return User{}, err
	}
	created, err := s.store.CreateUser(ctx, u, ch)
	if errors.Is(err, ErrAlreadyExists) {
		return s.resignUp(ctx, actor, u, fmt.Errorf("create user: %w", err))
	}
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	s.log.InfoContext(ctx, "user created", "user", created.ID, "actor", actor, "state", created.Onboarding.State)
	return created, nil
}

// GetUser returns one user.
func (s *Service) GetUser(ctx context.Context, id string) (User, error) {
	return s.store.GetUser(ctx, id)
}

// ListUsers filters and pages users.
func (s *Service) ListUsers(ctx context.Context, q Query) (Page[User], error) {
	return s.store.ListUsers(ctx, q)
}

// UpdateUser applies edit (the client's replace or patch) to the stored user
// if its version is *ifVersion (when not nil), then reacts to what changed.
// edit must only change client-writable fields; it may run more than once.
func (s *Service) UpdateUser(ctx context.Context, actor, id string, ifVersion *int64, edit func(u *User) error) (User, error) {
	updated, err := s.store.UpdateUser(ctx, id, func(u *User) (Change, error) {
		if ifVersion != nil && u.Version != *ifVersion {
			return Change{}, ErrPrecondition
		}
		old := *u
		old.Emails = append([]string(nil), u.Emails...)
		in, err := s.probeIntent(old, edit)
		if err != nil {
			return Change{}, err
		}
		if err := edit(u); err != nil {
			return Change{}, err
		}
		u.Modified = s.clock.Now()
		return s.onUpdate(ctx, actor, old, u, in)
	})
	if err != nil {
		return User{}, fmt.Errorf("update user %s: %w", id, err)
	}
	return updated, nil
}

// DeleteUser deletes the user (if its version is *ifVersion, when not nil)
// and queues the deletion of its guest.
func (s *Service) DeleteUser(ctx context.Context, actor, id string, ifVersion *int64) error {
	err := s.store.DeleteUser(ctx, id, func(u User) (Change, error) {
		if ifVersion != nil && u.Version != *ifVersion {
			return Change{}, ErrPrecondition
		}
		return s.onDelete(ctx, actor, u), nil
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "user deleted", "user", id, "actor", actor)
	return nil
}

// CreateGroup stores a new group and queues its mirroring into the tenant.
func (s *Service) CreateGroup(ctx context.Context, actor string, g Group) (Group, error) {
	now := s.clock.Now()
	g.Created, g.Modified = now, now
	g.Members = dedupe(g.Members)
	ch := s.onGroupChange(actor, nil, &g)
	created, err := s.store.CreateGroup(ctx, g, ch)
	if err != nil {
		return Group{}, fmt.Errorf("create group: %w", err)
	}
	return created, nil
}

// GetGroup returns one group.
func (s *Service) GetGroup(ctx context.Context, id string) (Group, error) {
	return s.store.GetGroup(ctx, id)
}

// ListGroups filters and pages groups.
func (s *Service) ListGroups(ctx context.Context, q Query) (Page[Group], error) {
	return s.store.ListGroups(ctx, q)
}

// UpdateGroup applies edit to the stored group (see UpdateUser).
func (s *Service) UpdateGroup(ctx context.Context, actor, id string, ifVersion *int64, edit func(g *Group) error) (Group, error) {
	updated, err := s.store.UpdateGroup(ctx, id, func(g *Group) (Change, error) {
		if ifVersion != nil && g.Version != *ifVersion {
			return Change{}, ErrPrecondition
		}
		old := *g
		old.Members = append([]string(nil), g.Members...)
		if err := edit(g); err != nil {
			return Change{}, err
		}
		g.Members = dedupe(g.Members)
		g.Modified = s.clock.Now()
		return s.onGroupChange(actor, &old, g), nil
	})
	if err != nil {
		return Group{}, fmt.Errorf("update group %s: %w", id, err)
	}
	return updated, nil
}

// DeleteGroup deletes a group.
func (s *Service) DeleteGroup(ctx context.Context, actor, id string, ifVersion *int64) error {
	err := s.store.DeleteGroup(ctx, id, func(g Group) (Change, error) {
		if ifVersion != nil && g.Version != *ifVersion {
			return Change{}, ErrPrecondition
		}
		return s.onGroupDelete(actor, g), nil
	})
	if err != nil {
		return fmt.Errorf("delete group %s: %w", id, err)
	}
	return nil
}

// IsInputError reports whether err is a refusal the client can fix.
func IsInputError(err error) (*InputError, bool) {
	var ie *InputError
	ok := errors.As(err, &ie)
	return ie, ok
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

// eventData marshals v for an Event; it cannot fail for the plain maps used.
func eventData(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
