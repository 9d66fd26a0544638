package connector

import (
	"context"
	"fmt"
)

// The …OwnUser methods serve a client whose token has ownUsersOnly
// (scim.tokens[].ownUsersOnly): owner is its name, and a user it did not
// create (User.CreatedBy, "" included) is ErrNotFound to it, exactly as a
// user that does not exist, so that it learns nothing about other clients'
// users. The check is made on the row the store reads for the operation
// (under its lock for updates and deletes), and lists are narrowed in the
// store's query, so totals and pages count only the owner's users.

// notOwned is the error of a user owner did not create: the same as the
// store's for a missing id.
func notOwned(id string) error {
	return fmt.Errorf("user %q: %w", id, ErrNotFound)
}

// OwnerFilter narrows a user filter to the users owner created.
func OwnerFilter(owner string, f *Filter) *Filter {
	return And(Eq(AttrCreatedBy, owner), f)
}

// CreateOwnUser is CreateUser for an ownUsersOnly client: u.CreatedBy must
// be its name, and a userName taken by another client's user is a conflict
// (ErrAlreadyExists), never that user taken over by a sign-up again.
func (s *Service) CreateOwnUser(ctx context.Context, actor string, u User) (User, error) {
	if u.CreatedBy == "" {
		return User{}, fmt.Errorf("create user: an ownUsersOnly client's user needs its creator")
	}
	return s.createUser(ctx, actor, u, true)
}

// GetOwnUser is GetUser for owner.
func (s *Service) GetOwnUser(ctx context.Context, owner, id string) (User, error) {
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return User{}, err
	}
	if u.CreatedBy != owner || owner == "" {
		return User{}, notOwned(id)
	}
	return u, nil
}

// ListOwnUsers is ListUsers for owner.
func (s *Service) ListOwnUsers(ctx context.Context, owner string, q Query) (Page[User], error) {
	q.Filter = OwnerFilter(owner, q.Filter)
	return s.store.ListUsers(ctx, q)
}

// UpdateOwnUser is UpdateUser for owner.
func (s *Service) UpdateOwnUser(ctx context.Context, actor, owner, id string, ifVersion *int64, edit func(u *User) error) (User, error) {
	return s.UpdateUser(ctx, actor, id, ifVersion, func(u *User) error {
		if u.CreatedBy != owner || owner == "" {
			return notOwned(id)
		}
		return edit(u)
	})
}

// DeleteOwnUser is DeleteUser for owner.
func (s *Service) DeleteOwnUser(ctx context.Context, actor, owner, id string, ifVersion *int64) error {
	return s.deleteUser(ctx, actor, id, ifVersion, func(u User) error {
		if u.CreatedBy != owner || owner == "" {
			return notOwned(id)
		}
		return nil
	})
}

// ownedChunk is how many ids one OwnedUsers query names (an or of
// equalities on the primary key; small enough for any SQL depth limit).
const ownedChunk = 50

// OwnedUsers returns which of ids are users owner created (an ownUsersOnly
// client's view of a group's members): one indexed query per ownedChunk
// ids. Ids of missing users, and every id for owner "", are left out.
func (s *Service) OwnedUsers(ctx context.Context, owner string, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if owner == "" {
		return out, nil
	}
	seen := make(map[string]bool, len(ids))
	var uniq []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	for len(uniq) > 0 {
		n := min(len(uniq), ownedChunk)
		eqs := make([]*Filter, n)
		for i, id := range uniq[:n] {
			eqs[i] = Eq(AttrID, id)
		}
		uniq = uniq[n:]
		page, err := s.store.ListUsers(ctx, Query{Filter: OwnerFilter(owner, Or(eqs...)), Count: n})
		if err != nil {
			return nil, fmt.Errorf("owned users: %w", err)
		}
		for _, u := range page.Items {
			out[u.ID] = true
		}
	}
	return out, nil
}
