package scim

import (
	"encoding/json"
	"net/http"
	"strings"

	escim "github.com/elimity-com/scim"

	"github.com/passbridge/passbridge/connector"
)

type userHandler struct {
	svc     *connector.Service
	patcher patcher
}

var _ escim.ResourceHandler = userHandler{}

// userFields is what a SCIM body says about a user's client-writable data.
type userFields struct {
	userName, externalID string
	active               bool
	emails               []string
	seedRequested        bool
	mailboxType          string
	// The lifecycle attributes: accountType and lifecycleHold (readWrite),
	// resendInvitation (writeOnly: a request, never stored).
	accountType, lifecycleHold string
	resendInvitation           bool
	doc                        json.RawMessage
}

// fromDoc reads a validated SCIM user body (canonical attribute names, the
// extensions under their URNs), refusing multi-valued attributes with two
// primary values or a repeated value (multivalued.go) and input over the
// limits (limits.go).
func fromDoc(d doc) (userFields, error) {
	if err := checkMultiValued(d); err != nil {
		return userFields{}, err
	}
	if err := checkLimits(d, userStringLimits, ""); err != nil {
		return userFields{}, err
	}
	f, err := readDoc(d)
	if err != nil {
		return f, err
	}
	return f, checkDocSize(f.doc, "User")
}

// strictUser tells whether a stored user meets the checks of fromDoc.
func strictUser(d doc) bool {
	if checkMultiValued(d) != nil || checkLimits(d, userStringLimits, "") != nil {
		return false
	}
	f, err := readDoc(d)
	return err == nil && checkDocSize(f.doc, "User") == nil
}

// readDoc is fromDoc without the multi-valued checks.
func readDoc(d doc) (userFields, error) {
	var f userFields
	d = cloneDoc(d)
	delete(d, "id")
	delete(d, "meta")
	delete(d, "schemas")
	// passbridge has no use for a password (sign-in is Entra's); never
	// store one (RFC 7643: returned "never").
	delete(d, "password")
	f.userName, _ = d["userName"].(string)
	if strings.TrimSpace(f.userName) == "" {
		return f, &connector.InputError{Field: "userName", Detail: "required: a unique, non-empty login name (passbridge uses the organisational e-mail address)"}
	}
	f.externalID, _ = d["externalId"].(string)
	f.active = true
	if a, ok := d["active"].(bool); ok {
		f.active = a
	}
	d["active"] = f.active
	if list, ok := d["emails"].([]any); ok {
		// The primary e-mail first: it is the one invited.
		var primary, rest []string
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			if v, ok := m["value"].(string); ok && v != "" {
				if isTrue(m["primary"]) {
					primary = append(primary, v)
				} else {
					rest = append(rest, v)
				}
			}
		}
		f.emails = append(primary, rest...)
	}
	if tp, ok := d[URNTechPass].(map[string]any); ok {
		f.seedRequested, _ = tp["seedRequested"].(bool)
		f.mailboxType, _ = tp["mailboxType"].(string)
		for _, k := range []string{"accountType", "lifecycleHold"} {
			v, ok := tp[k]
			if _, isString := v.(string); ok && v != nil && !isString {
				return f, &connector.InputError{Field: k, Detail: "must be a string"}
			}
		}
		f.accountType, _ = tp["accountType"].(string)
		f.lifecycleHold, _ = tp["lifecycleHold"].(string)
		f.resendInvitation = isTrue(tp["resendInvitation"])
		delete(d, URNTechPass) // kept as fields, not in the document
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return f, &connector.InputError{Field: "body", Detail: "cannot be stored as JSON"}
	}
	f.doc = raw
	return f, nil
}

func (f userFields) applyTo(u *connector.User) {
	u.UserName = f.userName
	u.ExternalID = f.externalID
	u.Active = f.active
	u.Emails = f.emails
	u.SeedRequested = f.seedRequested
	if f.mailboxType != "" {
		u.MailboxType = f.mailboxType
	}
	u.Onboarding.AccountType = strings.TrimSpace(f.accountType)
	u.Onboarding.LifecycleHold = strings.TrimSpace(f.lifecycleHold)
	u.Doc = f.doc
}

func cloneDoc(d doc) doc {
	out := make(doc, len(d))
	for k, v := range d {
		out[k] = v
	}
	return out
}

// clientDoc is the user's client-writable view, the base for PATCH.
func clientDoc(u connector.User) doc {
	d := decodeDoc(u.Doc)
	d["userName"] = u.UserName
	d["active"] = u.Active
	if u.ExternalID != "" {
		d["externalId"] = u.ExternalID
	}
	tp := map[string]any{"seedRequested": u.SeedRequested}
	if u.MailboxType != "" {
		tp["mailboxType"] = u.MailboxType
	}
	if u.Onboarding.AccountType != "" {
		tp["accountType"] = u.Onboarding.AccountType
	}
	if u.Onboarding.LifecycleHold != "" {
		tp["lifecycleHold"] = u.Onboarding.LifecycleHold
	}
	d[URNTechPass] = tp
	return d
}

func userResource(u connector.User) escim.Resource {
	d := decodeDoc(u.Doc)
	delete(d, "externalId")
	d["userName"] = u.UserName
	d["active"] = u.Active
	o := u.Onboarding
	tp := map[string]any{
		"seedRequested":   u.SeedRequested,
		"onboardingState": string(o.State),
	}
	set := func(k string, v any) {
		switch x := v.(type) {
		case nil:
		case string:
			if x != "" {
				tp[k] = x
			}
		default:
			tp[k] = v
		}
	}
	set("invitedAt", timeAttr(o.InvitedAt))
	set("expiresAt", timeAttr(o.ExpiresAt))
	set("redeemedAt", timeAttr(o.RedeemedAt))
	set("mfaRegisteredAt", timeAttr(o.MFARegisteredAt))
	if len(o.MFAMethods) > 0 {
		tp["mfaMethods"] = o.MFAMethods
	}
	if len(o.Agreements) > 0 {
		var list []any
		for _, a := range o.Agreements {
			list = append(list, map[string]any{"name": a.Name, "acceptedAt": timeAttr(&a.AcceptedAt)})
		}
		tp["agreements"] = list
	}
	set("onboardedAt", timeAttr(o.OnboardedAt))
	set("seedState", o.Seed.State)
	set("seedDueAt", timeAttr(o.Seed.DueAt))
	set("guestId", o.GuestID)
	set("lastError", o.LastError)
	set("accountType", o.AccountType)
	set("lifecycleHold", o.LifecycleHold)
	if o.RemindersSent > 0 {
		tp["remindersSent"] = o.RemindersSent
	}
	set("lastReminderAt", timeAttr(o.LastReminderAt))
	set("terminatedAt", timeAttr(o.TerminatedAt))
	set("lastSignInAt", timeAttr(o.LastSignInAt))
	set("disabledReason", connector.DisabledReason(u))
	if connector.DeprovisionPending(u) {
		tp["deprovisionPending"] = true
	}
	d[URNTechPass] = tp
	return escim.Resource{
		ID:         u.ID,
		ExternalID: optString(u.ExternalID),
		Attributes: escim.ResourceAttributes(d),
		Meta:       meta(u.Created, u.Modified, u.Version),
	}
}

func (h userHandler) Create(r *http.Request, attrs escim.ResourceAttributes) (escim.Resource, error) {
	f, err := fromDoc(doc(attrs))
	if err != nil {
		return escim.Resource{}, fail(r, err, "User", "")
	}
	var u connector.User
	f.applyTo(&u)
	cl := requestClient(r)
	u.CreatedBy = cl.name // which client created it: never changes
	create := h.svc.CreateUser
	if cl.ownUsersOnly {
		create = h.svc.CreateOwnUser
	}
	created, err := create(r.Context(), actor(r), u)
	if err != nil {
		return escim.Resource{}, fail(r, err, "User", "")
	}
	return userResource(created), nil
}

// getUser, listUsers, updateUser and deleteUser see, for a client whose
// token has ownUsersOnly, only the users it created: any other is a 404
// with the body of a missing id.
func (h userHandler) getUser(r *http.Request, id string) (connector.User, error) {
	if cl := requestClient(r); cl.ownUsersOnly {
		return h.svc.GetOwnUser(r.Context(), cl.name, id)
	}
	return h.svc.GetUser(r.Context(), id)
}

func (h userHandler) listUsers(r *http.Request, q connector.Query) (connector.Page[connector.User], error) {
	if cl := requestClient(r); cl.ownUsersOnly {
		return h.svc.ListOwnUsers(r.Context(), cl.name, q)
	}
	return h.svc.ListUsers(r.Context(), q)
}

func (h userHandler) updateUser(r *http.Request, id string, want *int64, edit func(u *connector.User) error) (connector.User, error) {
	if cl := requestClient(r); cl.ownUsersOnly {
		return h.svc.UpdateOwnUser(r.Context(), actor(r), cl.name, id, want, edit)
	}
	return h.svc.UpdateUser(r.Context(), actor(r), id, want, edit)
}

func (h userHandler) deleteUser(r *http.Request, id string, want *int64) error {
	if cl := requestClient(r); cl.ownUsersOnly {
		return h.svc.DeleteOwnUser(r.Context(), actor(r), cl.name, id, want)
	}
	return h.svc.DeleteUser(r.Context(), actor(r), id, want)
}

func (h userHandler) Get(r *http.Request, id string) (escim.Resource, error) {
	u, err := h.getUser(r, id)
	if err != nil {
		return escim.Resource{}, fail(r, err, "User", id)
	}
	return project(r, userResource(u), URNUser), nil
}

func (h userHandler) GetAll(r *http.Request, p escim.ListRequestParams) (escim.Page, error) {
	page, err := h.listUsers(r, connector.Query{Filter: listFilter(r), StartIndex: p.StartIndex, Count: p.Count})
	if err != nil {
		return escim.Page{}, fail(r, err, "User", "")
	}
	out := escim.Page{TotalResults: page.Total, Resources: []escim.Resource{}}
	for _, u := range page.Items {
		out.Resources = append(out.Resources, project(r, userResource(u), URNUser))
	}
	return out, nil
}

func (h userHandler) precondition(r *http.Request, id string) (*int64, error) {
	return ifMatch(r, func() (int64, error) {
		u, err := h.getUser(r, id)
		return u.Version, err
	})
}

func (h userHandler) Replace(r *http.Request, id string, attrs escim.ResourceAttributes) (escim.Resource, error) {
	f, err := fromDoc(doc(attrs))
	if err != nil {
		return escim.Resource{}, fail(r, err, "User", id)
	}
	want, err := h.precondition(r, id)
	if err != nil {
		return escim.Resource{}, fail(r, err, "User", id)
	}
	u, err := h.updateUser(r, id, want, func(u *connector.User) error {
		f.applyTo(u)
		return nil
	})
	if err != nil {
		return escim.Resource{}, fail(r, err, "User", id)
	}
	return userResource(u), nil
}

func (h userHandler) Patch(r *http.Request, id string, ops []escim.PatchOperation) (escim.Resource, error) {
	want, err := h.precondition(r, id)
	if err != nil {
		return escim.Resource{}, fail(r, err, "User", id)
	}
	resend := false
	u, err := h.updateUser(r, id, want, func(u *connector.User) error {
		d := clientDoc(*u)
		// A user stored before the multi-valued checks or the limits may
		// break them; a PATCH of something else (Entra's active=false)
		// must still work. What it changes meets the limits, so the user
		// grows by no more than they allow.
		read := fromDoc
		if !strictUser(d) {
			before := cloneDoc(d)
			read = func(d doc) (userFields, error) {
				if err := checkChanged(before, d, userStringLimits); err != nil {
					return userFields{}, err
				}
				return readDoc(d)
			}
		}
		if err := h.patcher.apply(d, ops); err != nil {
			return err
		}
		f, err := read(d)
		if err != nil {
			return err
		}
		if resend = f.resendInvitation; resend {
			// Refused before anything is stored: a PATCH that cannot
			// resend changes nothing.
			if err := h.svc.ResendRefusal(*u); err != nil {
				return err
			}
		}
		f.applyTo(u)
		return nil
	})
	if err != nil {
		return escim.Resource{}, fail(r, err, "User", id)
	}
	if resend {
		if u, err = h.svc.RequestResend(r.Context(), actor(r), id); err != nil {
			return escim.Resource{}, fail(r, err, "User", id)
		}
	}
	return userResource(u), nil
}

func (h userHandler) Delete(r *http.Request, id string) error {
	want, err := h.precondition(r, id)
	if err != nil {
		return fail(r, err, "User", id)
	}
	if err := h.deleteUser(r, id, want); err != nil {
		return fail(r, err, "User", id)
	}
	return nil
}
