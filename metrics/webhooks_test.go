package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passbridge/passbridge/metrics"
	"github.com/passbridge/passbridge/store/sqlite"
	"github.com/passbridge/passbridge/webhook"
)

func TestWebhookMetrics(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := metrics.New(metrics.Options{})
	var report func(string, string)
	d, err := webhook.New(st, webhook.Options{Receivers: []webhook.Receiver{{Name: "siem", URL: "https://siem.example/in",
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, OnDelivery: func(h, o string) { report(h, o) }})
	if err != nil {
		t.Fatal(err)
	}
	report = m.Webhooks(d)
	if _, err := d.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	report("siem", webhook.OutcomeRetry)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{`passbridge_webhook_deliveries_total{outcome="retry",webhook="siem"} 1`,
		`passbridge_webhook_failing{webhook="siem"} 0`, `passbridge_webhook_pending_deliveries{webhook="siem"} 0`,
		`passbridge_webhook_oldest_pending_age_seconds{webhook="siem"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
