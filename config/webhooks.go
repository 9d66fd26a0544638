package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/passbridge/passbridge/webhook"
)

// Webhook is one receiver of the event log (webhooks: [{name, url, secret,
// events}]): each event is POSTed as a CloudEvent signed the Standard
// Webhooks way.
type Webhook struct {
	// Name identifies the receiver in the database (its cursor and
	// deliveries), logs and metrics. Left out: the URL's host and path.
	Name string `yaml:"name"`
	URL  string `yaml:"url" validate:"required,secureurl"`
	// Secret is "whsec_<base64 key>"; write it as a ${ENV} reference.
	Secret string `yaml:"secret" validate:"required"`
	// Events are event types ("onboarding.invited") or categories
	// ("onboarding.*"); empty: every event.
	Events []string `yaml:"events"`
}

// WebhookName returns the receiver's name: Name, else the URL's host and
// path (never its query, which may hold a token).
func (w Webhook) WebhookName() string {
	if w.Name != "" {
		return w.Name
	}
	u, err := url.Parse(w.URL)
	if err != nil {
		return ""
	}
	return u.Host + strings.TrimRight(u.Path, "/")
}

// checkWebhooks validates what the struct tags cannot: the secret's form,
// the event names and unique names.
func (c *Config) checkWebhooks(ps *Problems) {
	names := map[string]int{}
	for i, w := range c.Webhooks {
		key := fmt.Sprintf("webhooks[%d]", i)
		if w.Secret != "" {
			if _, err := webhook.ParseSecret(w.Secret); err != nil {
				ps.add(key+".secret", err.Error(), hints["webhooks[].secret"])
			}
		}
		for j, e := range w.Events {
			if err := webhook.CheckEventFilter(e); err != nil {
				ps.add(fmt.Sprintf("%s.events[%d]", key, j), err.Error(), "")
			}
		}
		if n := w.WebhookName(); n != "" {
			if j, dup := names[n]; dup {
				ps.add(key+".name", fmt.Sprintf("%q is already the name of webhooks[%d]", n, j), "give each webhook its own name")
			} else {
				names[n] = i
			}
		}
	}
}

// webhookWarnings: plain http to a loopback receiver is allowed (tests, a
// local relay) but sends events unencrypted if that is not what was meant.
func (c *Config) webhookWarnings() []Problem {
	var ws []Problem
	for i, w := range c.Webhooks {
		if u, err := url.Parse(w.URL); err == nil && strings.EqualFold(u.Scheme, "http") {
			ws = append(ws, Problem{Key: fmt.Sprintf("webhooks[%d].url", i),
				Message: "uses plain http (allowed only for a loopback receiver): events leave unencrypted if it is relayed on",
				Hint:    "use an https URL"})
		}
	}
	return ws
}
