package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestWebhooksValidate(t *testing.T) {
	ok := validConfig()
	ok.Webhooks = []Webhook{{URL: "https://siem.example.gov.sg/in", Secret: testWebhookSecret, Events: []string{"onboarding.*", "user.deleted"}},
		{Name: "local", URL: "http://127.0.0.1:9000/hook", Secret: testWebhookSecret}}
	if err := ok.Validate(ForServe()); err != nil {
		t.Fatalf("valid webhooks refused: %v", err)
	}
	var warned bool
	for _, w := range ok.Warnings() {
		warned = warned || w.Key == "webhooks[1].url"
	}
	if !warned {
		t.Error("no warning for plain http to loopback")
	}
	bad := validConfig()
	bad.Webhooks = []Webhook{
		{URL: "http://siem.example.gov.sg/in", Secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Events: []string{"invited"}},
		{URL: "https://siem.example.gov.sg/in/", Secret: "whsec_c2hvcnQ="},
	}
	err := bad.Validate(ForServe())
	if err == nil {
		t.Fatal("bad webhooks accepted")
	}
	msg := err.Error()
	for _, key := range []string{"webhooks[0].url", "webhooks[0].secret", "webhooks[0].events[0]", "webhooks[1].secret", "webhooks[1].name"} {
		if !strings.Contains(msg, key) {
			t.Errorf("no problem for %s in:\n%s", key, msg)
		}
	}
	if strings.Contains(msg, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") || strings.Contains(msg, "c2hvcnQ") {
		t.Errorf("a problem quotes the secret:\n%s", msg)
	}
}

func TestWebhooksLoadRedact(t *testing.T) {
	path := writeFile(t, `
webhooks:
  - url: https://siem.example.gov.sg/in?token=qtok
    secret: ${HOOK_SECRET}
    events: [user.created]
`)
	cfg, err := Load(path, []string{"HOOK_SECRET=" + testWebhookSecret})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 1 || cfg.Webhooks[0].Secret != testWebhookSecret || cfg.Webhooks[0].WebhookName() != "siem.example.gov.sg/in" {
		t.Fatalf("webhooks = %+v", cfg.Webhooks)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", cfg)
	if s := buf.String(); strings.Contains(s, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") || strings.Contains(s, "qtok") || !strings.Contains(s, RedactedText) {
		t.Errorf("logged config shows a webhook secret: %s", s)
	}
	if cfg.Webhooks[0].Secret != testWebhookSecret {
		t.Error("Redacted changed the original")
	}
}
