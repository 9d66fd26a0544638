package connector

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The change feeds a pass reads before the users: the delta feed
// (redemptions, deletions) and the audit log (agreement acceptances).

// readDelta reads the redemptions (and deletions) since the stored delta
// link. A failed read makes this pass sweep instead.
func (r *Reconciler) readDelta(ctx context.Context, p *pass) (next string, changed bool) {
	p.changes = map[string]Guest{}
	p.enabled = map[string]bool{}
	if r.opts.DisableDelta {
		return "", false
	}
	link, err := r.store.GetCursor(ctx, CursorDeltaLink)
	if err != nil {
		p.fail(fmt.Errorf("read cursor %s: %w", CursorDeltaLink, err))
		return "", false
	}
	p.rep.GraphCalls[CallGuestChanges]++
	guests, next, err := r.dir.GuestChanges(ctx, link)
	if err != nil {
		p.sweep = true
		if link != "" && ClassOf(err) != Transient {
			// An expired or refused delta link: start a new round next time.
			r.log.InfoContext(ctx, "delta link reset", "err", err)
			return "", true
		}
		p.fail(fmt.Errorf("read user changes: %w", err))
		return "", false
	}
	for _, g := range guests {
		if g.Removed || strings.EqualFold(g.ExternalUserState, "Accepted") {
			p.changes[g.ID] = g
		}
		if g.AccountEnabled && !g.Removed {
			p.enabled[g.ID] = true // checked against users SCIM says are disabled
		}
	}
	return next, next != "" && next != link
}

// readAudit reads Terms of Use acceptances from the audit log since the
// stored high-water mark, less an overlap because events arrive late and out
// of order; events are de-duplicated by id and recording them is idempotent.
func (r *Reconciler) readAudit(ctx context.Context, p *pass) (mark time.Time, changed bool) {
	p.acceptances = map[string][]AgreementAcceptance{}
	if len(r.dom.Agreements) == 0 {
		return time.Time{}, false
	}
	hwm, err := r.cursorTime(ctx, CursorAuditMark)
	if err != nil {
		p.fail(err)
		return time.Time{}, false
	}
	since := p.now.Add(-r.opts.AuditLookback)
	if !hwm.IsZero() {
		since = hwm.Add(-r.opts.AuditOverlap)
	}
	p.rep.GraphCalls[CallAuditEvents]++
	events, err := r.dir.AuditEvents(ctx, since)
	if err != nil {
		p.fail(fmt.Errorf("read audit events: %w", err))
		return time.Time{}, false
	}
	seen := make(map[string]bool, len(events))
	mark = hwm
	for _, ev := range events {
		if ev.ID != "" {
			if seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
		}
		if ev.At.After(mark) {
			mark = ev.At
		}
		// Declines are not recorded: they leave the agreement unaccepted.
		if !strings.EqualFold(ev.Activity, activityAcceptToU) || ev.UserID == "" {
			continue
		}
		a, ok := matchAgreement(ev, r.dom.Agreements)
		if !ok {
			continue
		}
		p.acceptances[ev.UserID] = append(p.acceptances[ev.UserID], AgreementAcceptance{Name: a.Name, ID: a.ID, AcceptedAt: ev.At.UTC()})
	}
	return mark, !mark.Equal(hwm)
}
