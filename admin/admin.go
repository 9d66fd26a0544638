package admin

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/passbridge/passbridge/connector"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Options configure New.
type Options struct {
	Service *connector.Service
	// Console is the store's console queries (both stores have them).
	Console connector.ConsoleStore
	// Tokens are admin.tokens. New refuses none: the caller leaves the
	// console off instead.
	Tokens []Token
	// SessionTTL is how long a sign-in lasts (default 8h).
	SessionTTL time.Duration
	Logger     *slog.Logger
	// Clock defaults to the Service's.
	Clock connector.Clock
	// ListLimit is the rows each dashboard list shows (default 50).
	ListLimit int
	// MaxImportBytes bounds a CSV upload (default 32 MiB).
	MaxImportBytes int64
	// Webhooks, when set, reports the webhook receivers (cfg webhooks), for
	// the overview: a failing receiver is something an admin must see.
	Webhooks func(ctx context.Context) ([]WebhookReceiver, error)
}

// WebhookReceiver is one webhook receiver's delivery state, as the
// overview shows it.
type WebhookReceiver struct {
	Name, URL           string
	Pending             int
	OldestPendingAge    time.Duration
	LastSuccess         time.Time
	LastFailure         time.Time
	LastError           string
	ConsecutiveFailures int
	Dropped             int64
	// Failing: the receiver's recent attempts all failed.
	Failing bool
}

// Server serves the console and the admin API under /admin/.
type Server struct {
	o        Options
	st       connector.Store
	log      *slog.Logger
	sessions *sessions
	limit    *limiter
	pages    map[string]*template.Template
	static   http.Handler
}

// New builds the console.
func New(o Options) (*Server, error) {
	if o.Service == nil || o.Console == nil {
		return nil, errors.New("admin: a Service and a ConsoleStore are required")
	}
	if len(o.Tokens) == 0 {
		return nil, errors.New("admin: no admin.tokens: the console stays off")
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = o.Service.Options().Clock
	}
	if o.ListLimit <= 0 {
		o.ListLimit = 50
	}
	if o.MaxImportBytes <= 0 {
		o.MaxImportBytes = 32 << 20
	}
	s := &Server{o: o, st: o.Service.Store(), log: o.Logger,
		sessions: &sessions{m: map[string]*session{}, ttl: o.SessionTTL, now: o.Clock.Now},
		limit:    &limiter{window: 5 * time.Minute, perClient: 5, total: 50, now: o.Clock.Now, byClient: map[string]int{}},
		pages:    map[string]*template.Template{},
	}
	for _, p := range []string{"login", "dashboard", "search", "user", "import", "message"} {
		t, err := template.New(p).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("admin: template %s: %w", p, err)
		}
		s.pages[p] = t
	}
	st, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	s.static = http.StripPrefix("/admin/static/", http.FileServerFS(st))
	return s, nil
}

// Handler routes /admin/ (pages) and /admin/api/ (JSON).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
	})
	mux.Handle("GET /admin/static/", s.static)
	mux.HandleFunc("GET /admin/login", s.loginForm)
	mux.HandleFunc("POST /admin/login", s.login)
	mux.HandleFunc("POST /admin/logout", s.action(s.logout))
	mux.HandleFunc("GET /admin/{$}", s.page(s.dashboard))
	mux.HandleFunc("GET /admin/search", s.page(s.search))
	mux.HandleFunc("GET /admin/users/{id}", s.page(s.user))
	mux.HandleFunc("POST /admin/users/{id}/resend", s.action(s.resend))
	mux.HandleFunc("POST /admin/users/{id}/retry", s.action(s.retry))
	mux.HandleFunc("POST /admin/users/{id}/hold", s.action(s.hold))
	mux.HandleFunc("GET /admin/import", s.page(s.importForm))
	// The upload is streamed: its CSRF token is checked from the first
	// part, before the file is read (importUpload).
	mux.HandleFunc("POST /admin/import", s.page(s.importUpload))
	mux.HandleFunc("GET /admin/api/events", s.api(s.apiEvents))
	mux.HandleFunc("POST /admin/api/policy/check", s.api(s.apiPolicyCheck))
	mux.HandleFunc("/admin/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found: GET /admin/api/events?after=ID, POST /admin/api/policy/check"})
	})
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return secure(mux)
}

// secure sets the headers every answer carries: nothing is loaded from
// elsewhere, nothing framed, nothing cached.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// page serves a signed-in page; without a session, GET goes to the sign-in
// form and anything else is refused.
func (s *Server) page(fn func(w http.ResponseWriter, r *http.Request, ss *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, ok := s.session(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
				return
			}
			s.message(w, r, nil, http.StatusForbidden, "Not signed in", "Sign in again: your session has ended.")
			return
		}
		fn(w, r, ss)
	}
}

// action serves a state-changing form post: a session and its CSRF token.
func (s *Server) action(fn func(w http.ResponseWriter, r *http.Request, ss *session)) http.HandlerFunc {
	return s.page(func(w http.ResponseWriter, r *http.Request, ss *session) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if !equalSecret(r.PostFormValue(csrfField), ss.csrf) {
			s.log.WarnContext(r.Context(), "admin: request without a valid CSRF token refused", "admin", ss.name, "path", r.URL.Path)
			s.message(w, r, ss, http.StatusForbidden, "Refused", "This form has expired or did not come from the console. Go back, reload the page and try again.")
			return
		}
		fn(w, r, ss)
	})
}

func (s *Server) session(r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	return s.sessions.get(c.Value)
}

func (s *Server) actor(ss *session) string { return "admin:" + ss.name }

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	t := s.pages[name]
	if data == nil {
		data = map[string]any{}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", data); err != nil {
		s.log.ErrorContext(r.Context(), "admin: render", "page", name, "err", err)
	}
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, ss *session, status int, title, text string) {
	data := map[string]any{"Title": title, "Text": text}
	if ss != nil {
		data["Admin"], data["CSRF"] = ss.name, ss.csrf
	}
	s.render(w, r, status, "message", data)
}
