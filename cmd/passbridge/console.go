package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/passbridge/passbridge/admin"
	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
)

// newConsole builds the admin console from admin.*: nil (off) when no
// admin.tokens are configured.
func (a *app) newConsole() (http.Handler, error) {
	if len(a.cfg.Admin.Tokens) == 0 {
		a.log.Info("admin console off: no admin.tokens configured")
		return nil, nil
	}
	cs, ok := a.store.(connector.ConsoleStore)
	if !ok {
		return nil, fmt.Errorf("admin console: the store %T has no console queries", a.store)
	}
	o := admin.Options{
		Service: a.svc, Console: cs, Tokens: adminTokens(a.cfg), SessionTTL: a.cfg.Admin.SessionTTL.D(),
		Logger: a.log.With("component", "admin"), Clock: a.clock,
	}
	if d := a.webhooks; d != nil {
		o.Webhooks = func(ctx context.Context) ([]admin.WebhookReceiver, error) {
			rs, err := d.Status(ctx)
			out := make([]admin.WebhookReceiver, 0, len(rs))
			for _, r := range rs {
				out = append(out, admin.WebhookReceiver{Name: r.Name, URL: r.URL, Pending: r.Pending, OldestPendingAge: r.OldestPendingAge,
					LastSuccess: r.LastSuccess, LastFailure: r.LastFailure, LastError: r.LastError,
					ConsecutiveFailures: r.ConsecutiveFailures, Dropped: r.Dropped, Failing: r.Failing})
			}
			return out, err
		}
	}
	srv, err := admin.New(o)
	if err != nil {
		return nil, err
	}
	where := "server.listen"
	if a.cfg.Server.AdminListen != "" {
		where = "server.adminListen"
	}
	a.log.Info("admin console on", "path", "/admin/", "listener", where, "admins", len(a.cfg.Admin.Tokens))
	return srv.Handler(), nil
}

func adminTokens(cfg *config.Config) []admin.Token {
	out := make([]admin.Token, 0, len(cfg.Admin.Tokens))
	for _, t := range cfg.Admin.Tokens {
		out = append(out, admin.Token{Name: t.Name, SHA256: t.SHA256})
	}
	return out
}
