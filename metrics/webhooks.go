package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/passbridge/passbridge/webhook"
)

// WebhookStatus is what the webhook collector reads at scrape time
// (*webhook.Dispatcher has it).
type WebhookStatus interface {
	Status(ctx context.Context) ([]webhook.ReceiverStatus, error)
}

// Webhooks registers passbridge_webhook_deliveries_total and the
// scrape-time gauges read from st, and returns the function the
// dispatcher reports each attempt to (webhook.Options.OnDelivery).
func (m *Metrics) Webhooks(st WebhookStatus) func(hook, outcome string) {
	deliveries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "passbridge_webhook_deliveries_total",
		Help: "Webhook delivery attempts by receiver (webhooks[].name) and outcome: delivered (2xx), retry (failed, tried again " +
			"with backoff) or dropped (failed for 14 days: given up). A steady rate of retry for one webhook means its receiver is down.",
	}, []string{"webhook", "outcome"})
	m.reg.MustRegister(deliveries, &webhookCollector{m: m, st: st,
		failing: prometheus.NewDesc("passbridge_webhook_failing",
			"1 when a webhook receiver's last attempts all failed (3 in a row), else 0.", []string{"webhook"}, nil),
		pending: prometheus.NewDesc("passbridge_webhook_pending_deliveries",
			"Events waiting to be delivered to a webhook receiver (retries included).", []string{"webhook"}, nil),
		age: prometheus.NewDesc("passbridge_webhook_oldest_pending_age_seconds",
			"Age of the oldest undelivered event of a webhook receiver (0 when none); it is dropped at 14 days.", []string{"webhook"}, nil),
	})
	return func(hook, outcome string) { deliveries.WithLabelValues(hook, outcome).Inc() }
}

type webhookCollector struct {
	m                     *Metrics
	st                    WebhookStatus
	failing, pending, age *prometheus.Desc
}

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.failing
	ch <- c.pending
	ch <- c.age
}

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rs, err := c.st.Status(ctx)
	if err != nil {
		c.m.log.Warn("metrics: read webhook status", "err", err)
		return
	}
	for _, r := range rs {
		f := 0.0
		if r.Failing {
			f = 1
		}
		ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, f, r.Name)
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(r.Pending), r.Name)
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, r.OldestPendingAge.Seconds(), r.Name)
	}
}
