package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/graph"
	"github.com/passbridge/passbridge/metrics"
	"github.com/passbridge/passbridge/store"
)

// newDirectory builds the Microsoft Graph client from the configuration.
// Credentials are lazy: a wrong secret shows on the first call (and in
// "passbridge config check"), not here. withMetrics counts its HTTP requests
// (token requests included).
func newDirectory(ctx context.Context, cfg *config.Config, log *slog.Logger, wopts ...wireOption) (*graph.Client, error) {
	return graph.New(ctx, graph.Options{
		HTTPClient:          graphHTTPClient(wire(wopts).metrics),
		Endpoint:            cfg.Graph.Endpoint,
		Credential:          cfg.Azure.Credential,
		TenantID:            cfg.Azure.TenantID,
		ClientID:            cfg.Azure.ClientID,
		ClientSecret:        cfg.Azure.ClientSecret,
		CertificatePath:     cfg.Azure.CertificatePath,
		CertificatePassword: cfg.Azure.CertificatePassword,
		AuthorityHost:       cfg.Azure.AuthorityHost,
		FederatedTokenFile:  cfg.Azure.FederatedTokenFile,
		Logger:              log.With("component", "graph"),
	})
}

// graphHTTPClient is the base HTTP client of the Graph client: nil (the
// default) without metrics.
func graphHTTPClient(m *metrics.Metrics) *http.Client {
	if m == nil {
		return nil
	}
	// Its own connection pool, like the SDK's default transport; Azure
	// sign-in (token) requests go through it too.
	return &http.Client{Transport: m.GraphTransport(http.DefaultTransport.(*http.Transport).Clone())}
}

// startBackground runs the outbox worker and the reconciler until ctx ends.
func (a *app) startBackground(ctx context.Context, wg *sync.WaitGroup) {
	a.startWebhooks(ctx, wg)
	if a.dir == nil {
		return
	}
	opts := a.svc.Options()
	if a.tweak != nil {
		a.tweak(&opts)
	}
	a.metrics.Hook(&opts)
	w := connector.NewWorker(a.store, a.dir, opts)
	r := connector.NewReconciler(a.store, a.dir, opts)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("worker stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := r.Run(ctx, a.cfg.Reconcile.Interval.D()); err != nil && ctx.Err() == nil {
			a.log.Error("reconciler stopped", "err", err)
		}
	}()
}

// budgetUser is a directory that can draw its calls from budgets shared
// through the store (*graph.Client).
type budgetUser interface {
	InvitationLimit() (limit int, window time.Duration)
	UseInviteBudget(b graph.InviteBudget)
	DirectoryLimit() (limit int, window time.Duration)
	UseDirectoryBudget(b graph.InviteBudget)
}

// shareBudgets makes dir draw its invitations and its other Graph calls
// from the tenant's budgets in st (issue 14): Graph counts both per tenant
// (the directory one per application and tenant), not per process, so
// every replica on the database, and this process after a restart, must
// share one budget of each rather than each keep its own window.
// Directories without the hook (test doubles, nil) are left alone.
func shareBudgets(cfg *config.Config, st connector.Store, dir connector.Directory, now func() time.Time) error {
	bu, ok := dir.(budgetUser)
	if !ok {
		return nil
	}
	limit, window := bu.InvitationLimit()
	inv, err := store.NewBudget(st, inviteBudgetKey(cfg), limit, window, now)
	if err != nil {
		return fmt.Errorf("invitation budget: %w", err)
	}
	limit, window = bu.DirectoryLimit()
	d, err := store.NewBudget(st, directoryBudgetKey(cfg), limit, window, now)
	if err != nil {
		return fmt.Errorf("directory budget: %w", err)
	}
	bu.UseInviteBudget(inv)
	bu.UseDirectoryBudget(d)
	return nil
}

// directoryBudgetKey names the tenant's directory budget (its row beside
// the invitation budget's).
func directoryBudgetKey(cfg *config.Config) string { return "directory:" + inviteBudgetKey(cfg) }

// inviteBudgetKey names the tenant's budget: its id, or the Graph endpoint
// when no tenant id is configured (the simulator, credential default).
func inviteBudgetKey(cfg *config.Config) string {
	if cfg.Azure.TenantID != "" {
		return "tenant:" + strings.ToLower(cfg.Azure.TenantID)
	}
	ep := cfg.Graph.Endpoint
	if ep == "" {
		ep = graph.DefaultEndpoint
	}
	return "endpoint:" + strings.ToLower(strings.TrimSuffix(ep, "/"))
}
