package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sync"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/metrics"
	"github.com/passbridge/passbridge/scim"
	"github.com/passbridge/passbridge/store"
	"github.com/passbridge/passbridge/webhook"
)

// app is one passbridge process's components, wired.
type app struct {
	cfg   *config.Config
	log   *slog.Logger
	store connector.Store
	svc   *connector.Service
	scim  *scim.Server
	dir   connector.Directory // nil: no worker or reconciler (SCIM only)
	clock connector.Clock
	// metrics is this app's Prometheus registry and instruments, served at
	// /metrics.
	metrics *metrics.Metrics
	// tweak, when set, adjusts the worker's and reconciler's options
	// (tests shorten their pauses).
	tweak func(*connector.Options)
	// webhooks delivers the event log to cfg.webhooks (nil: none); its
	// Status is what the console shows about failing receivers.
	webhooks *webhook.Dispatcher
	// console is the admin console at /admin/ (nil: off, no admin.tokens).
	console http.Handler
}

// wireOption adjusts newApp and newDirectory.
type wireOption func(*wiring)

type wiring struct {
	metrics *metrics.Metrics
	// mailer, when set, replaces the one mail.smtp configures (the demo
	// keeps its mails in memory).
	mailer connector.Mailer
}

// withMailer makes newApp send passbridge's mails through m.
func withMailer(m connector.Mailer) wireOption {
	return func(w *wiring) { w.mailer = m }
}

// withMetrics makes newApp record into m, and newDirectory count Graph
// calls into it: give both the same m (one m per app), so that /metrics
// shows Graph too.
func withMetrics(m *metrics.Metrics) wireOption {
	return func(w *wiring) { w.metrics = m }
}

func wire(opts []wireOption) wiring {
	var w wiring
	for _, o := range opts {
		o(&w)
	}
	return w
}

// newApp opens the store and builds the service and the SCIM server. Without
// withMetrics it makes its own metrics (without Graph calls).
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger, dir connector.Directory, clock connector.Clock, wopts ...wireOption) (*app, error) {
	wr := wire(wopts)
	st, err := store.Open(ctx, cfg.Database.URL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if r, ok := st.(interface{ ReleasedAtOpen() (jobs, leases int) }); ok {
		if jobs, leases := r.ReleasedAtOpen(); jobs+leases > 0 {
			log.Info("took back the leases of a previous process: no other process has the database open",
				"jobs", jobs, "leases", leases)
		}
	}
	opts, err := connectorOptions(cfg, log, clock)
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := shareBudgets(cfg, st, dir, opts.Clock.Now); err != nil {
		st.Close()
		return nil, err
	}
	if wr.mailer != nil {
		opts.Mailer = wr.mailer
	} else if opts.Mailer, err = newMailer(cfg, log); err != nil {
		st.Close()
		return nil, err
	}
	svc := connector.NewService(st, opts)
	var proxies []netip.Prefix
	for _, p := range cfg.Server.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("server.trustedProxies: %w", err)
		}
		proxies = append(proxies, pfx)
	}
	tokens := make([]scim.Token, 0, len(cfg.SCIM.Tokens))
	for _, t := range cfg.SCIM.Tokens {
		tokens = append(tokens, scim.Token{Name: t.Name, SHA256: t.SHA256, Scopes: t.Scopes, OwnUsersOnly: t.OwnUsersOnly})
	}
	srv, err := scim.New(svc, scim.Options{Tokens: tokens, PublicURL: cfg.Server.PublicURL, MaxBodyBytes: cfg.Server.MaxBodyBytes, Logger: log, Ready: st.Ping,
		AuthLimit: scim.AuthLimit{TrustedProxies: proxies}, AccessLog: accessLog(cfg.Server)})
	if err != nil {
		st.Close()
		return nil, err
	}
	m := wr.metrics
	if m == nil {
		m = metrics.New(metrics.Options{Logger: log.With("component", "metrics")})
	}
	if err := m.WatchStore(st, metrics.StoreOptions{Now: opts.Clock.Now}); err != nil {
		st.Close()
		return nil, err // the same Metrics given to two apps
	}
	a := &app{cfg: cfg, log: log, store: st, svc: svc, scim: srv, dir: dir, clock: opts.Clock, metrics: m}
	if a.webhooks, err = a.newWebhooks(); err != nil {
		st.Close()
		return nil, err
	}
	if a.console, err = a.newConsole(); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) Close() error { return a.store.Close() }

// connectorOptions maps the configuration onto the domain's options.
func connectorOptions(cfg *config.Config, log *slog.Logger, clock connector.Clock) (connector.Options, error) {
	holidays, err := cfg.Seed.HolidayDates()
	if err != nil {
		return connector.Options{}, err
	}
	agreements := make([]connector.Agreement, 0, len(cfg.Agreements))
	for _, ag := range cfg.Agreements {
		agreements = append(agreements, connector.Agreement{Name: ag.Name, ID: ag.ID, RequiredWhen: ag.RequiredWhen})
	}
	if clock == nil {
		clock = connector.SystemClock{}
	}
	loc, err := time.LoadLocation(cfg.Seed.TimeZone)
	if err != nil {
		return connector.Options{}, fmt.Errorf("seed.timeZone: %w", err)
	}
	return connector.Options{
		Clock:  clock,
		Logger: log,
		Policy: connector.PolicyOptions{
			AllowedDomains:      cfg.Policy.AllowedDomains,
			BlockedDomains:      cfg.Policy.BlockedDomains,
			BlockedMailboxTypes: cfg.Policy.BlockedMailboxTypes,
		},
		InvitationValidity: cfg.Invitation.Validity.D(),
		Invitation: connector.Invitation{
			RedirectURL:  cfg.Invitation.RedirectURL,
			SendEmail:    cfg.Invitation.SendEmail,
			Message:      cfg.Invitation.Message,
			CCRecipients: cfg.Invitation.CCRecipients,
			Language:     cfg.Invitation.Language,
		},
		AdoptExistingGuests: cfg.Invitation.AdoptExistingGuests,
		Agreements:          agreements,
		Seed: connector.SeedOptions{
			GroupID:         cfg.Seed.GroupID,
			DueBusinessDays: cfg.Seed.DueBusinessDays,
			Holidays:        holidays,
			Validity:        cfg.Seed.Validity.D(),
			Location:        loc,
		},
		GroupMap:            cfg.Groups.Map,
		GroupClients:        cfg.Groups.Clients,
		GroupCreateDisabled: !cfg.Groups.Create,
		Lifecycle:           cfg.LifecycleOptions(),
		Worker: connector.WorkerOptions{
			Concurrency: cfg.Worker.Concurrency,
			Lease:       cfg.Worker.Lease.D(),
			MaxAttempts: cfg.Worker.MaxAttempts,
		},
		Reconcile: connector.ReconcileOptions{
			Interval:  cfg.Reconcile.Interval.D(),
			BatchSize: cfg.Reconcile.BatchSize,
			LeaseTTL:  cfg.Reconcile.Lease.D(),
		},
	}, nil
}

// handler routes SCIM, the health endpoints and /metrics, and counts every
// request: all on one listener (server.adminListen unset).
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/scim/", a.scim)
	a.adminRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: the SCIM API is at /scim/v2", http.StatusNotFound)
	})
	return a.metrics.Middleware(mux)
}

// scimHandler routes SCIM only, for server.listen when server.adminListen
// is set: /healthz, /readyz and /metrics are 404 there.
func (a *app) scimHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/scim/", a.scim)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: the SCIM API is at /scim/v2", http.StatusNotFound)
	})
	return a.metrics.Middleware(mux)
}

// adminHandler routes the health endpoints and /metrics, for
// server.adminListen.
func (a *app) adminHandler() http.Handler {
	mux := http.NewServeMux()
	a.adminRoutes(mux)
	if a.cfg.Server.Pprof {
		// Only here, on adminListen (config refuses pprof without it).
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: this admin listener serves /healthz, /readyz, /metrics and /admin/ (when admin.tokens are set); SCIM is on server.listen", http.StatusNotFound)
	})
	return a.metrics.Middleware(mux)
}

// adminRoutes adds /metrics, /healthz and /readyz to mux.
func (a *app) adminRoutes(mux *http.ServeMux) {
	// Unauthenticated, like /healthz: keep it off the public internet (README).
	mux.Handle("GET /metrics", a.metrics.Handler())
	if a.console != nil {
		mux.Handle("/admin/", a.console)
		mux.Handle("/admin", a.console)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := a.store.Ping(ctx); err != nil {
			a.log.Warn("not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "unavailable", "database": "unreachable"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ready"})
	})
}

// listeners are what serveOn serves.
type listeners struct {
	scim net.Listener
	// admin, when set, takes /healthz, /readyz and /metrics off scim.
	admin net.Listener
	// tls, when set, makes both HTTPS.
	tls *tls.Config
}

// serve runs plain HTTP with every route on ln and the background loops
// until ctx ends, then shuts down gracefully.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	return a.serveOn(ctx, listeners{scim: ln})
}

func (a *app) newHTTPServer(h http.Handler, tc *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: a.cfg.Server.ReadHeaderTimeout.D(),
		ReadTimeout:       a.cfg.Server.ReadTimeout.D(),
		WriteTimeout:      a.cfg.Server.WriteTimeout.D(),
		IdleTimeout:       a.cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// serveOn runs the HTTP(S) servers on l and the background loops until ctx
// ends or a server fails, then shuts both servers down gracefully (in-flight
// requests get server.shutdownTimeout) before stopping the loops.
func (a *app) serveOn(ctx context.Context, l listeners) error {
	type served struct {
		srv *http.Server
		ln  net.Listener
	}
	var servers []served
	if l.admin == nil {
		servers = append(servers, served{a.newHTTPServer(a.handler(), l.tls), l.scim})
	} else {
		servers = append(servers, served{a.newHTTPServer(a.scimHandler(), l.tls), l.scim},
			served{a.newHTTPServer(a.adminHandler(), l.tls), l.admin})
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	a.startBackground(bg, &wg)

	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if l.tls != nil {
				// The certificate comes from TLSConfig.GetCertificate.
				errc <- s.srv.ServeTLS(s.ln, "", "")
				return
			}
			errc <- s.srv.Serve(s.ln)
		}()
	}
	attrs := []any{"addr", l.scim.Addr().String(), "scim", "/scim/v2", "tls", l.tls != nil}
	if l.admin != nil {
		attrs = append(attrs, "adminAddr", l.admin.Addr().String())
	}
	a.log.Info("serving", attrs...)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownTimeout.D())
	defer cancel()
	var swg sync.WaitGroup
	var mu sync.Mutex
	for _, s := range servers {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if serr := s.srv.Shutdown(sctx); serr != nil {
				mu.Lock()
				if err == nil || errors.Is(err, http.ErrServerClosed) {
					err = serr
				}
				mu.Unlock()
			}
		}()
	}
	swg.Wait()
	stopBG()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
