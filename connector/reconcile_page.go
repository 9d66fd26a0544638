package connector

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// One page of users in a pass: ask what can still change, then write.

// reconcilePage asks the questions whose answers can still change for one
// page of users and writes the users whose facts changed.
func (r *Reconciler) reconcilePage(ctx context.Context, p *pass, users []User) {
	p.rep.UsersExamined += len(users)
	obs := make(map[string]*observation, len(users))
	byGuest := make(map[string]string, len(users))
	var sweepIDs []string
	for _, u := range users {
		o := u.Onboarding
		ob := &observation{}
		obs[u.ID] = ob
		if o.GuestID == "" || o.GuestGone {
			continue
		}
		byGuest[o.GuestID] = u.ID
		ob.acceptances = p.acceptances[o.GuestID]
		if o.RedeemedAt != nil {
			continue
		}
		if g, ok := p.changes[o.GuestID]; ok {
			ob.observeGuest(g, p.now)
		} else if p.sweep {
			sweepIDs = append(sweepIDs, o.GuestID)
		}
	}

	for chunk := range slices.Chunk(sweepIDs, r.opts.BatchSize) {
		p.rep.GraphCalls[CallGetGuests]++
		res, err := r.dir.GetGuests(ctx, chunk)
		if err != nil {
			p.fail(fmt.Errorf("read guests: %w", err))
			p.unswept = true
			continue
		}
		for id, gr := range res {
			ob := obs[byGuest[id]]
			switch {
			case ob == nil:
			case gr.Err != nil && ClassOf(gr.Err) == NotFound:
				ob.guestGone = true
			case gr.Err != nil:
				p.fail(fmt.Errorf("read guest %s: %w", id, gr.Err))
				p.unswept = true
			default:
				ob.observeGuest(gr.Guest, p.now)
			}
		}
	}

	// MFA is asked of redeemed guests, including those found redeemed just
	// now: one pass may see redemption, MFA and agreements at once.
	// A guest whose MFA is trusted from its home tenant registers nothing
	// here and stays redeemed unless mfa.trustHomeTenant is set (then
	// redemption counts as MFA: lifecycle_rules.go).
	var mfaIDs []string
	for _, u := range users {
		o, ob := u.Onboarding, obs[u.ID]
		if o.GuestID == "" || o.GuestGone || ob.guestGone || o.MFARegisteredAt != nil {
			continue
		}
		if o.RedeemedAt != nil || ob.redeemedAt != nil || len(o.Agreements) > 0 || len(ob.acceptances) > 0 {
			mfaIDs = append(mfaIDs, o.GuestID)
		}
	}
	for chunk := range slices.Chunk(mfaIDs, r.opts.BatchSize) {
		p.rep.GraphCalls[CallAuthenticationMethods]++
		res, err := r.dir.AuthenticationMethods(ctx, chunk)
		if err != nil {
			p.fail(fmt.Errorf("read authentication methods: %w", err))
			continue
		}
		for id, mr := range res {
			ob := obs[byGuest[id]]
			switch {
			case ob == nil:
			case mr.Err != nil && ClassOf(mr.Err) == NotFound:
				// A guest just created may not be readable yet: only the
				// user read (sweep, delta) decides that it is gone.
			case mr.Err != nil:
				p.fail(fmt.Errorf("read authentication methods of %s: %w", id, mr.Err))
			default:
				ob.methodsRead, ob.methods = true, mr.Methods
			}
		}
	}

	r.readSignIns(ctx, p, users, obs)

	for _, u := range users {
		r.write(ctx, p, u, *obs[u.ID])
	}
}

func (ob *observation) observeGuest(g Guest, now time.Time) {
	switch {
	case g.Removed:
		ob.guestGone = true
	case strings.EqualFold(g.ExternalUserState, "Accepted"):
		t := now
		if g.StateChangedAt != nil && !g.StateChangedAt.IsZero() {
			t = g.StateChangedAt.UTC()
		}
		ob.redeemedAt = &t
	}
}

// write records what was observed about u (and what the clock settles),
// skipping the write when nothing would change.
func (r *Reconciler) write(ctx context.Context, p *pass, u User, ob observation) {
	probe := u
	probe.Onboarding = cloneOnboarding(u.Onboarding)
	ob.apply(&probe.Onboarding, p.now)
	// A probe that cannot settle goes on to the write, which reports why.
	if _, err := settle(&probe, p.now, r.dom); err == nil && factsEqual(u.Onboarding, probe.Onboarding) {
		return
	}
	var ch Change
	changed, err := updateUser(ctx, r.store, u.ID, func(cur *User) (Change, error) {
		old := *cur
		cur.Onboarding = cloneOnboarding(cur.Onboarding)
		ob.apply(&cur.Onboarding, p.now)
		var err error
		if ch, err = finish(old, cur, actorReconciler, p.now, r.dom); err != nil {
			return Change{}, err
		}
		if factsEqual(old.Onboarding, cur.Onboarding) {
			return Change{}, errNoChange
		}
		return ch, nil
	})
	switch {
	case err != nil:
		p.fail(fmt.Errorf("update user %s: %w", u.ID, err))
		p.lost = true
		return
	case !changed:
		return
	}
	p.rep.UsersChanged++
	p.rep.FactsChanged += len(ch.Events)
	for _, e := range ch.Events {
		if e.Type == "onboarding.expired" {
			p.rep.Expired++
			r.log.InfoContext(ctx, "onboarding expired", "user", u.ID)
		}
	}
}

func cloneOnboarding(o Onboarding) Onboarding {
	o.MFAMethods = slices.Clone(o.MFAMethods)
	o.Agreements = slices.Clone(o.Agreements)
	o.Mail = maps.Clone(o.Mail) // a probe's settle may queue a mail
	return o
}
