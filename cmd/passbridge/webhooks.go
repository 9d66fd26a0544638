package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/webhook"
)

// webhookReceivers returns the receivers of cfg.webhooks, as serve's
// dispatcher and status name them.
func webhookReceivers(cfg *config.Config) []webhook.Receiver {
	rs := make([]webhook.Receiver, 0, len(cfg.Webhooks))
	for _, w := range cfg.Webhooks {
		rs = append(rs, webhook.Receiver{Name: w.WebhookName(), URL: w.URL, Secret: w.Secret, Events: w.Events})
	}
	return rs
}

// newWebhooks builds the webhook dispatcher of cfg.webhooks (nil when none
// is configured) and registers its metrics.
func (a *app) newWebhooks() (*webhook.Dispatcher, error) {
	if len(a.cfg.Webhooks) == 0 {
		return nil, nil
	}
	ws, ok := a.store.(webhook.Store)
	if !ok {
		return nil, fmt.Errorf("webhooks: the %T store cannot keep webhook deliveries", a.store)
	}
	rs := webhookReceivers(a.cfg)
	var report func(hook, outcome string)
	o := webhook.Options{Receivers: rs, Source: a.cfg.Server.PublicURL, Clock: a.clock,
		Logger: a.log.With("component", "webhooks"), OnDelivery: func(h, out string) { report(h, out) }}
	d, err := webhook.New(ws, o)
	if err != nil {
		return nil, err
	}
	report = a.metrics.Webhooks(d)
	return d, nil
}

// startWebhooks runs the dispatcher (when webhooks are configured) until
// ctx ends: it stops with the worker, after the HTTP servers.
func (a *app) startWebhooks(ctx context.Context, wg *sync.WaitGroup) {
	if a.webhooks == nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.webhooks.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("webhook dispatcher stopped", "err", err)
		}
	}()
}
