package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Service is the domain API the SCIM layer calls. It applies the sign-up
// policy, keeps onboarding facts consistent with what clients write, and
// queues the directory work (outbox jobs) in the same transaction as the
// change that needs it (changes.go decides what that is).
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

// Options returns the effective options (defaults filled), for the worker
// and the reconciler.
func (s *Service) Options() Options { return s.opts }

// Store returns the underlying store (for the worker and reconciler).
func (s *Service) Store() Store { return s.store }

// CreateUser stores a new user and queues its invitation. The user's ID,
// Version and timestamps are assigned by the store.
func (s *Service) CreateUser(ctx context.Context, actor string, u User) (User, error) {
	return s.createUser(ctx, actor, u, false)
}

// createUser is CreateUser; ownOnly (CreateOwnUser) lets a sign-up again
// take over only a user that u.CreatedBy created.
func (s *Service) createUser(ctx context.Context, actor string, u User, ownOnly bool) (User, error) {
	now := s.clock.Now()
	u.Created, u.Modified = now, now
	ch, err := onCreate(s.opts, now, actor, &u)
	if err != nil {
		return User{}, err
	}
	created, err := s.store.CreateUser(ctx, u, ch)
	if errors.Is(err, ErrAlreadyExists) || errors.Is(err, ErrAddressTaken) {
		// Which unique key a store reports first is arbitrary: a taken
		// userName may be a sign-up again, so resignUp looks at it first.
		return s.resignUp(ctx, actor, u, ownOnly, fmt.Errorf("create user: %w", err))
	}
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	s.log.InfoContext(ctx, "user created", "user", created.ID, "actor", actor, "state", created.Onboarding.State)
	return created, nil
}

// resignUp handles a sign-up whose userName is taken: a person whose earlier
// onboarding expired or failed signs up again, which starts a new onboarding
// on the existing resource. Anyone else gets the conflict.
func (s *Service) resignUp(ctx context.Context, actor string, u User, ownOnly bool, conflict error) (User, error) {
	page, err := s.store.ListUsers(ctx, Query{Filter: Eq(AttrUserName, u.UserName), Count: 1})
	if err != nil {
		// Whether this is a conflict or a new sign-up is unknown until the
		// store answers: the client should retry (503), not give up (409).
		return User{}, fmt.Errorf("sign up again: find the user named %q: %w: %w", u.UserName, ErrUnavailable, err)
	}
	if len(page.Items) == 0 {
		return User{}, conflict
	}
	existing := page.Items[0]
	if errors.Is(conflict, ErrAddressTaken) {
		// The userName is taken too: that is the conflict to report.
		conflict = fmt.Errorf("create user: userName %q: %w", u.UserName, ErrAlreadyExists)
	}
	if !reactivatable(existing, s.clock.Now()) || (ownOnly && existing.CreatedBy != u.CreatedBy) {
		// Another client's user stays that client's: a 409, and nothing
		// about it (not its id) in the answer.
		return User{}, conflict
	}
	updated, err := s.store.UpdateUser(ctx, existing.ID, func(cur *User) (Change, error) {
		now := s.clock.Now()
		if !reactivatable(*cur, now) || (ownOnly && cur.CreatedBy != u.CreatedBy) {
			return Change{}, conflict
		}
		old := *cur
		cur.UserName, cur.ExternalID, cur.Emails, cur.Doc = u.UserName, u.ExternalID, u.Emails, u.Doc
		cur.SeedRequested, cur.MailboxType = u.SeedRequested, u.MailboxType
		cur.Active = true
		cur.Modified = now
		ch, err := onUpdate(s.opts, now, actor, old, cur, intent{activate: true, requestSeed: u.SeedRequested})
		if err != nil {
			return Change{}, err
		}
		ch.Events = append([]Event{{Subject: cur.ID, Type: "user.signedUpAgain", Actor: actor, At: now}}, ch.Events...)
		return ch, nil
	})
	if err != nil {
		if errors.Is(err, ErrAlreadyExists) {
			return User{}, conflict
		}
		return User{}, fmt.Errorf("sign up again %s: %w", existing.ID, err)
	}
	s.log.InfoContext(ctx, "user signed up again", "user", updated.ID, "actor", actor)
	return updated, nil
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
		in, err := probeIntent(s.clock.Now(), old, edit)
		if err != nil {
			return Change{}, err
		}
		if err := edit(u); err != nil {
			return Change{}, err
		}
		now := s.clock.Now()
		u.Modified = now
		return onUpdate(s.opts, now, actor, old, u, in)
	})
	if err != nil {
		return User{}, fmt.Errorf("update user %s: %w", id, err)
	}
	return updated, nil
}

// DeleteUser deletes the user (if its version is *ifVersion, when not nil)
// and queues the deletion of its guest.
func (s *Service) DeleteUser(ctx context.Context, actor, id string, ifVersion *int64) error {
	return s.deleteUser(ctx, actor, id, ifVersion, nil)
}

// deleteUser is DeleteUser; check, when set, may refuse the user read
// under the store's lock (DeleteOwnUser).
func (s *Service) deleteUser(ctx context.Context, actor, id string, ifVersion *int64, check func(User) error) error {
	err := s.store.DeleteUser(ctx, id, func(u User) (Change, error) {
		if check != nil {
			if err := check(u); err != nil {
				return Change{}, err
			}
		}
		if ifVersion != nil && u.Version != *ifVersion {
			return Change{}, ErrPrecondition
		}
		return onDelete(s.clock.Now(), actor, u)
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
	g.EntraID, g.EntraOrigin = "", "" // the worker mirrors the group
	if err := checkGroupUse(s.opts, actor, nil, g); err != nil {
		return Group{}, err
	}
	ch, err := onGroupChange(now, actor, nil, &g)
	if err != nil {
		return Group{}, fmt.Errorf("create group: %w", err)
	}
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
		if err := checkGroupUse(s.opts, actor, &old, *g); err != nil {
			return Change{}, err
		}
		now := s.clock.Now()
		g.Modified = now
		return onGroupChange(now, actor, &old, g)
	})
	if err != nil {
		return Group{}, fmt.Errorf("update group %s: %w", id, err)
	}
	return updated, nil
}

// DeleteGroup deletes a group (if its version is *ifVersion, when not nil)
// and queues the deletion of the Entra group passbridge created, or the
// removal of passbridge's guests from a mapped one.
func (s *Service) DeleteGroup(ctx context.Context, actor, id string, ifVersion *int64) error {
	// The jobs carry the members' guest ids, read before the delete (the
	// store's callback must not read): if the members change in between,
	// read again.
	for attempt := 0; ; attempt++ {
		cur, err := s.store.GetGroup(ctx, id)
		if err != nil {
			return fmt.Errorf("delete group %s: %w", id, err)
		}
		guests := make(map[string]string, len(cur.Members))
		for _, m := range cur.Members {
			u, err := s.store.GetUser(ctx, m)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("delete group %s: member %s: %w", id, m, err)
			}
			if !u.Onboarding.GuestGone {
				guests[m] = u.Onboarding.GuestID
			}
		}
		err = s.store.DeleteGroup(ctx, id, func(g Group) (Change, error) {
			if ifVersion != nil && g.Version != *ifVersion {
				return Change{}, ErrPrecondition
			}
			if attempt < 3 && !sameStrings(g.Members, cur.Members) {
				return Change{}, errMembersMoved
			}
			return onGroupDelete(s.clock.Now(), actor, g, guests)
		})
		if errors.Is(err, errMembersMoved) {
			continue
		}
		if err != nil {
			return fmt.Errorf("delete group %s: %w", id, err)
		}
		s.log.InfoContext(ctx, "group deleted", "group", id, "actor", actor)
		return nil
	}
}

// errMembersMoved: a group's members changed between reading their guests
// and deleting it.
var errMembersMoved = errors.New("group members changed")

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
