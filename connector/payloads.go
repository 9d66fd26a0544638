package connector

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// What each job kind carries beyond its subject, and the constructors of
// jobs and events every writer uses.

type invitePayload struct {
	// ReplaceGuestID is the guest of an earlier onboarding of the same user,
	// deleted before the new invitation so that Graph does not hand it back.
	ReplaceGuestID string `json:"replaceGuestId,omitempty"`
}

type deleteGuestPayload struct {
	GuestID string `json:"guestId,omitempty"`
	// Email is read from jobs queued before deletions went by recorded id
	// only, and ignored: an address is never looked up to delete.
	Email  string `json:"email,omitempty"`
	Reason string `json:"reason,omitempty"`
}

type seedPayload struct {
	// Reprovision removes and re-adds the membership so that SEED sees a new
	// provisioning request.
	Reprovision bool `json:"reprovision,omitempty"`
}

// groupSyncPayload carries members removed by the change: the job cannot
// learn them from the group's current state.
type groupSyncPayload struct {
	// Removed is no longer written: removals are groupRemoveMember jobs.
	// A groupSync job queued before that change still carries it, and
	// still runs it.
	Removed []string `json:"removed,omitempty"`
	// Client is the SCIM client (actor) whose change queued the job: a
	// mapped group is used only for the clients groups.map lets use it.
	Client string `json:"client,omitempty"`
}

// groupRemoveMemberPayload is one membership to end. It carries what the
// job cannot learn once the SCIM group (or user) is gone.
type groupRemoveMemberPayload struct {
	// EntraID is the Entra group; "" reads it from the SCIM group when the
	// job runs (a group not mirrored yet when the member was removed).
	EntraID string `json:"entraId,omitempty"`
	UserID  string `json:"userId"`
	// GuestID is the member's guest when the job was queued; "" reads it
	// from the user when the job runs (an invitation then in flight).
	GuestID string `json:"guestId,omitempty"`
	// GroupDeleted: the SCIM group was deleted, so the removal stands even
	// though no group lists the user any more.
	GroupDeleted bool `json:"groupDeleted,omitempty"`
}

// groupDeletePayload is an Entra group passbridge created, to delete.
type groupDeletePayload struct {
	EntraID string `json:"entraId"`
}

// encode marshals a job payload or event data.
func encode(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

func newJob(kind JobKind, subject string, payload any, now time.Time) (Job, error) {
	j := Job{Kind: kind, Subject: subject, RunAt: now, Created: now}
	if payload != nil {
		p, err := encode(payload)
		if err != nil {
			return Job{}, fmt.Errorf("%s job: %w", kind, err)
		}
		j.Payload = p
	}
	return j, nil
}

// plainJob is a job without payload, which cannot fail to encode.
func plainJob(kind JobKind, subject string, now time.Time) Job {
	return Job{Kind: kind, Subject: subject, RunAt: now, Created: now}
}

func deleteGuestJob(subject, guestID, reason string, now time.Time) (Job, error) {
	return newJob(JobDeleteGuest, subject, deleteGuestPayload{GuestID: guestID, Reason: reason}, now)
}

func newEvent(subject, typ, actor string, at time.Time, data map[string]any) (Event, error) {
	ev := Event{Subject: subject, Type: typ, Actor: actor, At: at}
	if data != nil {
		d, err := encode(data)
		if err != nil {
			return Event{}, fmt.Errorf("%s event: %w", typ, err)
		}
		ev.Data = d
	}
	return ev, nil
}

// newID returns a time-ordered UUID (v7). The service names new users and
// groups itself, so that the jobs and events committed with them carry their
// subject; time order keeps keyset sweeps (AfterID) reading older users
// first, as the stores' own ids do.
func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return id.String(), nil
}
