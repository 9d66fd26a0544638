package connector

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Verifying deprovisioning: a guest SCIM says is disabled must be disabled
// in the tenant. An admin (or another tool) may enable it again; the
// reconciler only reads Graph, so it records what it saw and queues the
// disable job, which retries until Graph confirms.

// verifyDisabled checks the users in state disabled that have a guest: the
// delta feed's accountEnabled every pass, and on a sweep a $batch read of
// the rest. Without a sweep and with no enabled guest in the feed it reads
// nothing at all.
func (r *Reconciler) verifyDisabled(ctx context.Context, p *pass) {
	if !p.sweep && len(p.enabled) == 0 {
		return
	}
	filter := Eq(AttrOnboardingState, string(StateDisabled))
	for after, pages := "", 0; ; pages++ {
		if pages > 0 {
			ok, err := r.store.AcquireLease(ctx, LeaseReconciler, r.opts.Holder, r.clock.Now(), r.opts.LeaseTTL)
			if err != nil || !ok {
				p.fail(fmt.Errorf("renew reconciler lease (disabled users): ok %v: %w", ok, err))
				p.lost = true
				return
			}
		}
		page, err := r.store.ListUsers(ctx, Query{Filter: filter, StartIndex: 1, Count: r.opts.BatchSize, AfterID: after})
		if err != nil {
			p.fail(fmt.Errorf("list disabled users: %w", err))
			p.lost = true
			return
		}
		if len(page.Items) == 0 {
			return
		}
		r.verifyDisabledPage(ctx, p, page.Items)
		after = page.Items[len(page.Items)-1].ID
		if len(page.Items) < r.opts.BatchSize || ctx.Err() != nil {
			return
		}
	}
}

func (r *Reconciler) verifyDisabledPage(ctx context.Context, p *pass, users []User) {
	byGuest := map[string]User{}
	var read []string
	for _, u := range users {
		o := u.Onboarding
		if u.Active || !o.Disabled || o.GuestID == "" || o.GuestGone {
			continue
		}
		switch {
		case p.enabled[o.GuestID]:
			r.repairDrift(ctx, p, u, "delta")
		case p.sweep:
			byGuest[o.GuestID] = u
			read = append(read, o.GuestID)
		}
	}
	for chunk := range slices.Chunk(read, r.opts.BatchSize) {
		p.rep.GraphCalls[CallGetGuests]++
		res, err := r.dir.GetGuests(ctx, chunk)
		if err != nil {
			p.fail(fmt.Errorf("read disabled guests: %w", err))
			p.unswept = true
			continue
		}
		for _, id := range chunk {
			gr, ok := res[id]
			switch {
			case !ok:
			case gr.Err != nil && ClassOf(gr.Err) == NotFound:
				// Deleted in the tenant: nobody signs in with it. The
				// delta feed or a deletion records the fact.
			case gr.Err != nil:
				p.fail(fmt.Errorf("read disabled guest %s: %w", id, gr.Err))
				p.unswept = true
			case gr.Guest.AccountEnabled:
				r.repairDrift(ctx, p, byGuest[id], "sweep")
			}
		}
	}
}

// repairDrift records that u's guest is enabled in the tenant although SCIM
// says active:false: Disabled is withdrawn (SCIM shows the deprovisioning
// pending again, not "disabled"), a disable job is queued with the change,
// and the event onboarding.driftRepaired names what drifted.
func (r *Reconciler) repairDrift(ctx context.Context, p *pass, u User, seen string) {
	guest := u.Onboarding.GuestID
	_, err := r.store.UpdateUser(ctx, u.ID, func(cur *User) (Change, error) {
		co := &cur.Onboarding
		if cur.Active || !co.Disabled || co.GuestID != guest || co.GuestGone {
			return Change{}, errNoChange // changed since it was read
		}
		old := *cur
		cur.Onboarding = cloneOnboarding(cur.Onboarding)
		cur.Onboarding.Disabled = false
		ch, err := finish(old, cur, actorReconciler, p.now, r.dom)
		if err != nil {
			return Change{}, err
		}
		ev, err := newEvent(cur.ID, "onboarding.driftRepaired", actorReconciler, p.now, map[string]any{
			"guestId": guest, "drifted": "accountEnabled", "want": false, "found": true, "seenIn": seen,
		})
		if err != nil {
			return Change{}, err
		}
		ch.Events = append(ch.Events, ev)
		ch.Jobs = append(ch.Jobs, plainJob(JobDisable, cur.ID, p.now))
		return ch, nil
	})
	switch {
	case errors.Is(err, errNoChange), errors.Is(err, ErrNotFound):
		return
	case err != nil:
		p.fail(fmt.Errorf("repair drift of user %s: %w", u.ID, err))
		p.lost = true // read the delta feed again: it is what saw the drift
		return
	}
	p.rep.DriftRepaired++
	p.rep.UsersChanged++
	r.log.WarnContext(ctx, "guest enabled in the tenant while SCIM says active:false: disabling it again",
		"user", u.ID, "guest", guest, "seenIn", seen)
}
