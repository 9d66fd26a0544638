package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
)

// onCreate decides the facts, jobs and events of a new user.
// TODO(engine): SEED request facts, re-sign-up of an expired person.
func (s *Service) onCreate(ctx context.Context, actor string, u *User) (Change, error) {
	email, err := inviteAddress(*u)
	if err != nil {
		return Change{}, err
	}
	if err := s.checkPolicy(email, u.MailboxType); err != nil {
		return Change{}, err
	}
	now := s.clock.Now()
	u.Onboarding = Onboarding{InviteEmail: email}
	u.Onboarding.State = Derive(*u, now, s.opts.Agreements)
	return Change{
		Jobs:   []Job{{Kind: JobInvite, RunAt: now, Created: now}},
		Events: []Event{{Type: "user.created", Actor: actor, At: now, Data: eventData(map[string]any{"userName": u.UserName})}},
	}, nil
}

// onUpdate reacts to a client's change of a stored user.
// TODO(engine): re-invite after expiry, SEED requests, address changes.
func (s *Service) onUpdate(ctx context.Context, actor string, old User, u *User) (Change, error) {
	now := s.clock.Now()
	var ch Change
	if old.Active != u.Active {
		kind, typ := JobDisable, "user.deactivated"
		if u.Active {
			kind, typ = JobEnable, "user.activated"
		}
		ch.Jobs = append(ch.Jobs, Job{Kind: kind, Subject: u.ID, RunAt: now, Created: now})
		ch.Events = append(ch.Events, Event{Subject: u.ID, Type: typ, Actor: actor, At: now})
	}
	u.Onboarding.State = Derive(*u, now, s.opts.Agreements)
	return ch, nil
}

// onDelete queues the deletion of the user's guest.
func (s *Service) onDelete(ctx context.Context, actor string, u User) Change {
	now := s.clock.Now()
	payload, _ := json.Marshal(map[string]string{"guestId": u.Onboarding.GuestID, "email": u.Onboarding.InviteEmail})
	return Change{
		Jobs:   []Job{{Kind: JobDeleteGuest, Subject: u.ID, Payload: payload, RunAt: now, Created: now}},
		Events: []Event{{Subject: u.ID, Type: "user.deleted", Actor: actor, At: now}},
	}
}

// onGroupChange queues the mirroring of a created or changed group.
func (s *Service) onGroupChange(actor string, old, g *Group) Change {
	now := s.clock.Now()
	typ := "group.updated"
	if old == nil {
		typ = "group.created"
	}
	return Change{
		Jobs:   []Job{{Kind: JobGroupSync, Subject: g.ID, RunAt: now, Created: now}},
		Events: []Event{{Subject: g.ID, Type: typ, Actor: actor, At: now}},
	}
}

func (s *Service) onGroupDelete(actor string, g Group) Change {
	now := s.clock.Now()
	return Change{Events: []Event{{Subject: g.ID, Type: "group.deleted", Actor: actor, At: now}}}
}

// inviteAddress picks the address to invite: the primary e-mail, else the
// first, else a userName that is an address.
func inviteAddress(u User) (string, error) {
	candidates := append([]string(nil), u.Emails...)
	candidates = append(candidates, u.UserName)
	for _, c := range candidates {
		if a, err := mail.ParseAddress(c); err == nil && a.Address == strings.TrimSpace(c) {
			return normEmail(c), nil
		}
	}
	return "", &InputError{Field: "emails", Detail: "an organisational e-mail address is required to invite the user: send it in emails (type work, primary) or as userName"}
}

// checkPolicy applies the sign-up policy to an address and mailbox type.
// TODO(engine): full policy (wildcards, messages naming what to use instead).
func (s *Service) checkPolicy(email, mailboxType string) error {
	for _, t := range s.opts.Policy.BlockedMailboxTypes {
		if mailboxType != "" && strings.EqualFold(t, mailboxType) {
			return &InputError{Field: "mailboxType", Detail: fmt.Sprintf("%s mailboxes cannot sign up: use your organisational mailbox", mailboxType)}
		}
	}
	return nil
}
