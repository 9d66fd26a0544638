package webhook

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// ContentType is the structured-mode CloudEvents JSON media type.
const ContentType = "application/cloudevents+json"

// CloudEvent is the structured-mode JSON form of one event (CloudEvents
// 1.0). Actor is an extension attribute: who or what caused the event
// ("scim:<client>", "worker", "reconciler", "admin:<name>").
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	Subject         string          `json:"subject,omitempty"`
	DataContentType string          `json:"datacontenttype"`
	Actor           string          `json:"actor,omitempty"`
	Data            json.RawMessage `json:"data"`
}

// EventID is the CloudEvents id and webhook-id of an event: its id in the
// log, stable across retries and replicas.
func EventID(e connector.Event) string { return "evt_" + strconv.FormatInt(e.ID, 10) }

// NewCloudEvent builds the CloudEvent of e from source.
func NewCloudEvent(source string, e connector.Event) CloudEvent {
	data := e.Data
	if len(data) == 0 || !json.Valid(data) {
		data = json.RawMessage(`{}`)
	}
	return CloudEvent{
		SpecVersion:     "1.0",
		ID:              EventID(e),
		Source:          source,
		Type:            TypePrefix + e.Type,
		Time:            e.At.UTC().Format(time.RFC3339Nano),
		Subject:         e.Subject,
		DataContentType: "application/json",
		Actor:           e.Actor,
		Data:            data,
	}
}

// Body returns the request body of e.
func Body(source string, e connector.Event) ([]byte, error) {
	b, err := json.Marshal(NewCloudEvent(source, e))
	if err != nil {
		return nil, fmt.Errorf("webhook: encode event %d: %w", e.ID, err)
	}
	return b, nil
}
