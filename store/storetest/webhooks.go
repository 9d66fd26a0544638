package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/webhook"
)

// testWebhookDeliveries: cursors only move forward, a delivery is enqueued
// once (also when the log is read again above the cursor, after it was
// delivered), claims respect RunAt and leases, outcomes update the
// receiver's statistics, and only the holder records an outcome.
func testWebhookDeliveries(t *testing.T, cs connector.Store) {
	ctx := context.Background()
	s, ok := cs.(webhook.Store)
	if !ok {
		t.Fatalf("%T does not implement webhook.Store", cs)
	}
	if id, err := s.LastEventID(ctx); err != nil || id != 0 {
		t.Fatalf("LastEventID on an empty log = %d, %v; want 0", id, err)
	}
	_, err := cs.CreateUser(ctx, newUser("wh@example.com"), connector.Change{Events: []connector.Event{
		{Type: "user.created", Actor: "scim:t", At: t0, Data: []byte(`{"a":1}`)},
		{Type: "onboarding.invited", Actor: "worker", At: t0},
	}})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := cs.ListEvents(ctx, "", 0, 0)
	if err != nil || len(evs) != 2 {
		t.Fatalf("events: %v %v", evs, err)
	}
	last, err := s.LastEventID(ctx)
	if err != nil || last != evs[1].ID {
		t.Fatalf("LastEventID = %d, %v; want %d", last, err, evs[1].ID)
	}
	e1, e2 := evs[0].ID, evs[1].ID
	d := func(hook string, id int64) webhook.Delivery {
		return webhook.Delivery{Webhook: hook, EventID: id, RunAt: t0, Created: t0}
	}
	if err := s.EnqueueWebhookDeliveries(ctx, map[string]int64{"a": e2, "b": 0}, []webhook.Delivery{d("a", e1), d("a", e2), d("b", e2)}); err != nil {
		t.Fatal(err)
	}
	// Again: nothing new, and a cursor never moves back.
	if err := s.EnqueueWebhookDeliveries(ctx, map[string]int64{"a": 0}, []webhook.Delivery{d("a", e1)}); err != nil {
		t.Fatal(err)
	}
	cur, err := s.WebhookCursors(ctx)
	if err != nil || cur["a"] != e2 || cur["b"] != 0 || len(cur) != 2 {
		t.Fatalf("cursors = %v, %v; want a=%d b=0", cur, err, e2)
	}
	// Not due yet.
	if got, err := s.ClaimWebhookDeliveries(ctx, "a", "w1", t0.Add(-time.Second), time.Minute, 10); err != nil || len(got) != 0 {
		t.Fatalf("claim before RunAt = %v, %v", got, err)
	}
	got, err := s.ClaimWebhookDeliveries(ctx, "a", "w1", t0, time.Minute, 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("claim = %v, %v; want 2", got, err)
	}
	if got[0].EventID != e1 || got[0].Attempts != 1 || got[0].Event.Type != "user.created" || got[0].Event.Subject != evs[0].Subject ||
		got[0].Event.Actor != "scim:t" || string(got[0].Event.Data) != `{"a":1}` || !got[0].Event.At.Equal(t0) || !got[0].Created.Equal(t0) {
		t.Errorf("claimed %+v", got[0])
	}
	// Leased: nobody else gets them until the lease passes.
	if again, _ := s.ClaimWebhookDeliveries(ctx, "a", "w2", t0.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Fatalf("claimed a leased delivery: %v", again)
	}
	at := t0.Add(time.Second)
	err = s.FinishWebhookDeliveries(ctx, "w1", []webhook.Result{
		{Webhook: "a", EventID: e1, Outcome: webhook.OutcomeDelivered, At: at},
		{Webhook: "a", EventID: e2, Outcome: webhook.OutcomeRetry, At: at, RunAt: t0.Add(time.Hour), Error: "answered 500"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Someone else's outcome is skipped.
	if err := s.FinishWebhookDeliveries(ctx, "w2", []webhook.Result{{Webhook: "b", EventID: e2, Outcome: webhook.OutcomeDropped, At: at}}); err != nil {
		t.Fatal(err)
	}
	stats, err := s.WebhookStats(ctx)
	if err != nil || len(stats) != 2 {
		t.Fatalf("stats = %v, %v", stats, err)
	}
	a, b := stats[0], stats[1]
	if a.Name != "a" || a.Pending != 1 || !a.OldestPending.Equal(t0) || !a.LastSuccess.Equal(at) || !a.LastFailure.Equal(at) ||
		a.LastError != "answered 500" || a.Failures != 1 || a.Dropped != 0 {
		t.Errorf("stats a = %+v", a)
	}
	if b.Name != "b" || b.Pending != 1 || b.Failures != 0 {
		t.Errorf("stats b = %+v", b)
	}
	// The delivered row keeps the log from delivering e1 again while the
	// cursor has not passed it (here: receiver b, cursor 0).
	if err := s.EnqueueWebhookDeliveries(ctx, nil, []webhook.Delivery{d("a", e1)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimWebhookDeliveries(ctx, "a", "w1", t0.Add(2*time.Hour), time.Minute, 10); len(got) != 1 || got[0].EventID != e2 || got[0].Attempts != 2 {
		t.Fatalf("after retry claim = %+v; want e2, attempt 2", got)
	}
	if err := s.FinishWebhookDeliveries(ctx, "w1", []webhook.Result{{Webhook: "a", EventID: e2, Outcome: webhook.OutcomeDropped, At: t0.Add(2 * time.Hour), Error: "answered 503"}}); err != nil {
		t.Fatal(err)
	}
	stats, _ = s.WebhookStats(ctx)
	if a := stats[0]; a.Pending != 0 || !a.OldestPending.IsZero() || a.Dropped != 1 || a.Failures != 2 {
		t.Errorf("stats a after drop = %+v", a)
	}
	// b's claim: it is its own receiver.
	if got, _ := s.ClaimWebhookDeliveries(ctx, "b", "w1", t0, time.Minute, 10); len(got) != 1 || got[0].EventID != e2 {
		t.Fatalf("claim b = %+v", got)
	}
}
