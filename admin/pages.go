package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/passbridge/passbridge/connector"
)

var funcs = template.FuncMap{
	"when": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if t == nil || t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		}
		return "—"
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"age": func(d time.Duration) string {
		if d <= 0 {
			return "—"
		}
		return d.Round(time.Second).String()
	},
	"data": func(b json.RawMessage) string {
		if len(b) == 0 || string(b) == "null" {
			return ""
		}
		return string(b)
	},
	"pct": func(n, total int) string {
		if total == 0 {
			return "0%"
		}
		return strconv.FormatFloat(float64(n)*100/float64(total), 'f', 1, 64) + "%"
	},
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(r); ok {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, problem string) {
	// The sign-in form's own CSRF token, double-submitted in a cookie: a
	// forged sign-in cannot sign a victim into the attacker's session.
	tok := randomID()
	setCookie(w, r, loginCookie, tok, 600)
	s.render(w, r, status, "login", map[string]any{"Title": "Sign in", "CSRF": tok, "Problem": problem})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	client := clientAddr(r)
	if blocked, wait := s.limit.blocked(client); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.renderLogin(w, r, http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Try again in %s.", wait.Round(time.Second)))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	c, err := r.Cookie(loginCookie)
	if err != nil || !equalSecret(r.PostFormValue(csrfField), c.Value) {
		s.renderLogin(w, r, http.StatusForbidden, "The sign-in form expired. Please try again.")
		return
	}
	name, ok := match(s.o.Tokens, strings.TrimSpace(r.PostFormValue("token")))
	if !ok {
		s.limit.fail(client)
		s.log.WarnContext(r.Context(), "admin: sign-in refused", "client", client)
		s.renderLogin(w, r, http.StatusUnauthorized, "That token is not an admin token.")
		return
	}
	id, _ := s.sessions.create(name)
	setCookie(w, r, loginCookie, "", -1)
	setCookie(w, r, sessionCookie, id, int(s.o.SessionTTL.Seconds()))
	s.log.InfoContext(r.Context(), "admin: signed in", "admin", name, "client", client)
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.delete(c.Value)
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

func (s *Server) base(ss *session, title string) map[string]any {
	return map[string]any{"Title": title, "Admin": ss.name, "CSRF": ss.csrf}
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, ss *session) {
	sum, err := Summarize(r.Context(), s.st, s.o.Console, s.o.Clock.Now(), s.o.ListLimit)
	if err != nil {
		s.log.ErrorContext(r.Context(), "admin: dashboard", "err", err)
		s.message(w, r, ss, http.StatusServiceUnavailable, "Database unavailable", "The summary could not be read; try again shortly.")
		return
	}
	d := s.base(ss, "Onboarding overview")
	needs := sum.NeedsAdmin()
	if s.o.Webhooks != nil {
		rs, err := s.o.Webhooks(r.Context())
		if err != nil {
			s.log.ErrorContext(r.Context(), "admin: webhook status", "err", err)
			needs = append(needs, "the webhook receivers' state could not be read")
		}
		for _, w := range rs {
			if w.Failing {
				needs = append(needs, fmt.Sprintf("webhook receiver %s keeps failing (%d attempts in a row; %d pending): %s",
					w.Name, w.ConsecutiveFailures, w.Pending, w.LastError))
			}
		}
		d["Webhooks"], d["HasWebhooks"] = rs, true
	}
	d["S"], d["Funnel"], d["Needs"] = sum, funnelSVG(sum.Counts), needs
	s.render(w, r, http.StatusOK, "dashboard", d)
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, ss *session) {
	q := strings.TrimSpace(r.URL.Query().Get("email"))
	d := s.base(ss, "Search by e-mail")
	d["Q"] = q
	if q != "" {
		op := connector.OpSw // a prefix: indexed (user_emails_value)
		if strings.Contains(q, "@") && !strings.HasSuffix(q, "@") {
			op = connector.OpEq
		}
		page, err := s.st.ListUsers(r.Context(), connector.Query{
			Filter: &connector.Filter{Op: op, Attr: connector.AttrEmailsValue, Value: q}, Count: s.o.ListLimit})
		if err != nil {
			s.log.ErrorContext(r.Context(), "admin: search", "err", err)
			s.message(w, r, ss, http.StatusServiceUnavailable, "Database unavailable", "The search failed; try again shortly.")
			return
		}
		if op == connector.OpEq && len(page.Items) == 1 {
			http.Redirect(w, r, "/admin/users/"+url.PathEscape(page.Items[0].ID), http.StatusSeeOther)
			return
		}
		d["Results"], d["Searched"] = page, true
	}
	s.render(w, r, http.StatusOK, "search", d)
}

func (s *Server) user(w http.ResponseWriter, r *http.Request, ss *session) {
	id := r.PathValue("id")
	u, err := s.st.GetUser(r.Context(), id)
	if errors.Is(err, connector.ErrNotFound) {
		s.message(w, r, ss, http.StatusNotFound, "No such user", "There is no user "+id+".")
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "admin: user", "err", err)
		s.message(w, r, ss, http.StatusServiceUnavailable, "Database unavailable", "The user could not be read; try again shortly.")
		return
	}
	evs, err := s.o.Console.SubjectEvents(r.Context(), id, 200)
	if err != nil {
		s.log.ErrorContext(r.Context(), "admin: timeline", "err", err)
	}
	o := u.Onboarding
	d := s.base(ss, u.UserName)
	d["U"], d["Events"] = u, evs
	d["CanResend"] = u.Active && o.InvitedAt != nil && o.RedeemedAt == nil && !o.Failed && o.ExpiredAt == nil && !o.GuestGone
	d["CanRetry"] = u.Active && (o.Failed || o.ExpiredAt != nil || o.GuestGone || o.State == connector.StateExpired)
	d["Done"] = doneText[r.URL.Query().Get("done")]
	s.render(w, r, http.StatusOK, "user", d)
}

var doneText = map[string]string{
	"resend":    "A new invitation is queued; the old one no longer works.",
	"retry":     "A new onboarding is queued.",
	"hold":      "The hold is set.",
	"holdClear": "The hold is cleared.",
}

func (s *Server) resend(w http.ResponseWriter, r *http.Request, ss *session) {
	_, err := s.o.Service.ResendInvitation(r.Context(), s.actor(ss), r.PathValue("id"))
	s.afterAction(w, r, ss, "resend", err)
}

func (s *Server) retry(w http.ResponseWriter, r *http.Request, ss *session) {
	_, err := s.o.Service.RetryUser(r.Context(), s.actor(ss), r.PathValue("id"))
	s.afterAction(w, r, ss, "retry", err)
}

func (s *Server) hold(w http.ResponseWriter, r *http.Request, ss *session) {
	reason := r.PostFormValue("lifecycleHold")
	done := "hold"
	if r.PostFormValue("clear") != "" {
		reason, done = "", "holdClear"
	} else if strings.TrimSpace(reason) == "" {
		s.message(w, r, ss, http.StatusBadRequest, "A reason is needed", "Write why the user is on hold (lifecycleHold), or use Clear hold.")
		return
	}
	_, err := s.o.Service.SetHold(r.Context(), s.actor(ss), r.PathValue("id"), reason)
	s.afterAction(w, r, ss, done, err)
}

func (s *Server) afterAction(w http.ResponseWriter, r *http.Request, ss *session, done string, err error) {
	id := r.PathValue("id")
	switch {
	case err == nil:
		http.Redirect(w, r, "/admin/users/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
	case errors.Is(err, connector.ErrNotFound):
		s.message(w, r, ss, http.StatusNotFound, "No such user", "There is no user "+id+".")
	default:
		if ie, ok := connector.IsInputError(err); ok {
			s.message(w, r, ss, http.StatusConflict, "Not done", ie.Detail)
			return
		}
		s.log.ErrorContext(r.Context(), "admin: action", "action", done, "user", id, "err", err)
		s.message(w, r, ss, http.StatusServiceUnavailable, "Not done", "The database could not take the change; try again shortly.")
	}
}

func (s *Server) importForm(w http.ResponseWriter, r *http.Request, ss *session) {
	d := s.base(ss, "Bulk onboarding")
	d["Columns"] = strings.Join(ImportColumns, ", ")
	s.render(w, r, http.StatusOK, "import", d)
}

// maxShownRows bounds the rows the result page lists (the counts cover all).
const maxShownRows = 1000

// importUpload streams a multipart upload: csrf first, then dryRun, then
// the file, which the Importer reads row by row.
func (s *Server) importUpload(w http.ResponseWriter, r *http.Request, ss *session) {
	r.Body = http.MaxBytesReader(w, r.Body, s.o.MaxImportBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		s.message(w, r, ss, http.StatusBadRequest, "Not an upload", "Send the form from the Import page.")
		return
	}
	csrfOK, dry := false, false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.message(w, r, ss, http.StatusBadRequest, "Upload failed", "The upload could not be read: "+err.Error())
			return
		}
		switch p.FormName() {
		case csrfField:
			v, _ := io.ReadAll(io.LimitReader(p, 256))
			csrfOK = equalSecret(string(v), ss.csrf)
		case "dryRun":
			dry = true
		case "file":
			if !csrfOK {
				s.message(w, r, ss, http.StatusForbidden, "Refused", "This form has expired or did not come from the console. Reload the Import page and try again.")
				return
			}
			name := p.FileName()
			var rows []ImportRow
			im := Importer{Service: s.o.Service, Actor: s.actor(ss), DryRun: dry}
			sum, err := im.Run(r.Context(), p, func(row ImportRow) error {
				if len(rows) < maxShownRows {
					rows = append(rows, row)
				}
				return nil
			})
			d := s.base(ss, "Bulk onboarding")
			d["Columns"], d["Rows"], d["Sum"], d["DryRun"], d["File"], d["Done"] = strings.Join(ImportColumns, ", "), rows, sum, dry, name, true
			d["Cut"] = sum.Rows > len(rows)
			if err != nil {
				d["Problem"] = err.Error()
			}
			s.log.InfoContext(r.Context(), "admin: import", "admin", ss.name, "dryRun", dry, "rows", sum.Rows, "created", sum.ByOutcome[RowCreated])
			s.render(w, r, http.StatusOK, "import", d)
			return
		}
	}
	if !csrfOK {
		s.message(w, r, ss, http.StatusForbidden, "Refused", "This form has expired or did not come from the console.")
		return
	}
	s.message(w, r, ss, http.StatusBadRequest, "No file", "Choose a CSV file to upload.")
}
