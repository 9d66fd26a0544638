package main

import (
	"strings"
	"testing"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
)

// Authority (issue 10), end to end over SCIM and the Graph simulator:
// passbridge acts only on accounts it invited.

const patchInactive = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":false}]}`

// untouched fails unless the account is there, enabled, not deleted, its
// sessions never revoked, and was never invited by passbridge.
func (s *stack) untouched(id, email string) {
	s.t.Helper()
	g, ok := s.sim.User(id)
	if !ok || g.Deleted || !g.AccountEnabled || !g.SessionsRevokedAt.IsZero() {
		s.t.Fatalf("account %s: present %v, %+v; want untouched", id, ok, g)
	}
	if n := s.sim.InvitationCount(email); n != 0 {
		s.t.Errorf("%d invitations to %s, want 0", n, email)
	}
}

// settle lets the worker run whatever the SCIM calls queued.
func settle() { time.Sleep(time.Second) }

func TestE2EAuthorityForeignGuest(t *testing.T) {
	s := newStack(t, nil, nil)
	const email = "partner.guest@tech.gov.sg"
	other, err := s.sim.AddGuest(email, "Invited elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	id := s.create(email)
	u := s.waitState(id, connector.StateConflict)
	if le, _ := ext(u)["lastError"].(string); !strings.Contains(le, other) || !strings.Contains(le, "userType Guest") {
		t.Errorf("lastError %q: want the account and its userType", le)
	}
	if st, m := s.do("PATCH", "/Users/"+id, patchInactive); st != 200 {
		t.Fatalf("deactivate: %d %v", st, m)
	}
	settle()
	if st, _ := s.do("DELETE", "/Users/"+id, ""); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	settle()
	s.untouched(other, email)
}

func TestE2EAuthorityMember(t *testing.T) {
	s := newStack(t, nil, func(_ *config.Config, o *connector.Options) { o.AdoptExistingGuests = true })
	const email = "staff.member@tech.gov.sg"
	member, err := s.sim.AddMember(email, "Staff")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(userBody(email, false), `"userName"`, `"active":false,"userName"`, 1)
	st, m := s.do("POST", "/Users", body)
	if st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	id := m["id"].(string)
	settle()
	if st, _ := s.do("DELETE", "/Users/"+id, ""); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	settle()
	s.untouched(member, email)
	// Active, even with adoptExistingGuests: a member is never adopted.
	id = s.create(email)
	s.waitState(id, connector.StateConflict)
	s.untouched(member, email)
}

func TestE2EAuthorityAdoptAndUniqueness(t *testing.T) {
	s := newStack(t, nil, func(_ *config.Config, o *connector.Options) { o.AdoptExistingGuests = true })
	const email = "adopt.me@tech.gov.sg"
	other, err := s.sim.AddGuest(email, "")
	if err != nil {
		t.Fatal(err)
	}
	id := s.create(email)
	u := s.waitState(id, connector.StateInvited)
	if ext(u)["guestId"] != other || s.sim.InvitationCount(email) != 0 {
		t.Fatalf("guest %v, %d invitations; want %s adopted without an invitation", ext(u)["guestId"], s.sim.InvitationCount(email), other)
	}
	// A second SCIM user with the address: 409 uniqueness naming emails.
	body := strings.Replace(userBody(email, false), `"userName":"adopt.me@tech.gov.sg"`, `"userName":"someone-else"`, 1)
	st, m := s.do("POST", "/Users", body)
	if st != 409 || m["scimType"] != "uniqueness" || !strings.HasPrefix(m["detail"].(string), "emails") {
		t.Fatalf("second user with the address: %d %v", st, m)
	}
	// An e-mail change onto the held address: 409 too.
	bid := s.create("bea@tech.gov.sg")
	st, m = s.do("PATCH", "/Users/"+bid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":"adopt.me@tech.gov.sg"}]}`)
	if st != 409 || m["scimType"] != "uniqueness" {
		t.Fatalf("e-mail change onto a held address: %d %v", st, m)
	}
}
