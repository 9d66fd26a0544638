package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/internal/testkit"
	"github.com/passbridge/passbridge/store/sqlite"
	"github.com/passbridge/passbridge/webhook"
)

// The Standard Webhooks specification's published vector.
func TestSignKnownAnswer(t *testing.T) {
	key, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !webhook.Verify(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`), "v1,bm9wZQ== "+got) {
		t.Error("Verify refused the vector among several signatures")
	}
}

func TestParseSecret(t *testing.T) {
	for _, s := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := webhook.ParseSecret(s); err == nil {
			t.Errorf("ParseSecret(%q) accepted", s)
		} else if s != "" && strings.Contains(err.Error(), strings.TrimPrefix(s, "whsec_")) {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
}

func TestCheckEventFilter(t *testing.T) {
	for _, ok := range []string{"onboarding.invited", "user.*", "admin.*"} {
		if err := webhook.CheckEventFilter(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"invited", "onboarding.invitd", "nope.*", "*"} {
		if err := webhook.CheckEventFilter(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := webhook.CheckEventFilter("invited"); !strings.Contains(err.Error(), `"onboarding.invited"`) {
		t.Errorf("no suggestion: %v", err)
	}
}

// KnownEventTypes lists every type the connector writes.
func TestKnownEventTypes(t *testing.T) {
	files, _ := filepath.Glob("../connector/*.go")
	re := regexp.MustCompile(`"((?:user|group|onboarding|seed|job|deprovisioning|mail|lifecycle)\.[a-zA-Z]+)"`)
	for _, f := range files {
		// filter.go names SCIM filter attributes ("onboarding.guestId"), not
		// event types.
		if strings.HasSuffix(f, "_test.go") || filepath.Base(f) == "filter.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			if !slices.Contains(webhook.KnownEventTypes, string(m[1])) {
				t.Errorf("%s writes event type %q, missing from webhook.KnownEventTypes", f, m[1])
			}
		}
	}
}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// received is one request as the receiver verified it.
type received struct {
	id, ts string
	body   []byte
	ce     map[string]any
}

// receiver verifies every request with its own HMAC (not webhook.Sign)
// and answers with status(n) for the n-th request (1-based).
type receiver struct {
	t      *testing.T
	mu     sync.Mutex
	n      int
	status func(n int) int
	got    []received // accepted (2xx) requests
	all    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, ts, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if sig != want || id == "" || ts == "" {
		rc.t.Errorf("bad signature: id=%q ts=%q sig=%q want %q", id, ts, sig, want)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
		rc.t.Errorf("Content-Type = %q", ct)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.n++
	rc.all++
	code := http.StatusNoContent
	if rc.status != nil {
		code = rc.status(rc.n)
	}
	if code < 300 {
		var ce map[string]any
		if err := json.Unmarshal(body, &ce); err != nil {
			rc.t.Errorf("body is not JSON: %v", err)
		}
		rc.got = append(rc.got, received{id: id, ts: ts, body: body, ce: ce})
	}
	w.WriteHeader(code)
}

func (rc *receiver) accepted() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

type env struct {
	st    *sqlite.Store
	clock *testkit.Clock
	svc   *connector.Service
	logs  *testkit.Buffer
	log   *slog.Logger
}

func newEnv(t *testing.T) *env {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := testkit.NewClock(testkit.Epoch)
	buf := &testkit.Buffer{}
	log := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := connector.NewService(st, connector.Options{Clock: clock, Logger: log})
	return &env{st: st, clock: clock, svc: svc, logs: buf, log: log}
}

func (e *env) dispatcher(t *testing.T, rs ...webhook.Receiver) *webhook.Dispatcher {
	d, err := webhook.New(e.st, webhook.Options{Receivers: rs, Source: "https://passbridge.example.gov.sg", Clock: e.clock,
		Logger: e.log, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *env) createUser(t *testing.T, name string) connector.User {
	u, err := e.svc.CreateUser(context.Background(), "scim:test", connector.User{UserName: name, Active: true, Emails: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustSync(t *testing.T, d *webhook.Dispatcher) int {
	n, err := d.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustDeliver(t *testing.T, d *webhook.Dispatcher) int {
	n, err := d.DeliverDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDeliverySignedCloudEvent(t *testing.T) {
	e := newEnv(t)
	rc := &receiver{t: t}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	d := e.dispatcher(t, webhook.Receiver{Name: "siem", URL: srv.URL + "/hook?token=abc", Secret: secret, Events: []string{"user.*"}})
	mustSync(t, d) // the receiver starts at the end of the (empty) log
	u := e.createUser(t, "ada@agency.gov.sg")
	if n := mustSync(t, d); n != 1 {
		t.Fatalf("enqueued %d, want 1 (user.created)", n)
	}
	mustDeliver(t, d)
	got := rc.accepted()
	if len(got) != 1 {
		t.Fatalf("received %d, want 1", len(got))
	}
	evs, _ := e.st.ListEvents(context.Background(), u.ID, 0, 0)
	ce := got[0].ce
	want := map[string]any{
		"specversion": "1.0", "id": "evt_" + strconv.FormatInt(evs[0].ID, 10), "source": "https://passbridge.example.gov.sg",
		"type": "sg.techpass.passbridge.user.created", "subject": u.ID, "datacontenttype": "application/json", "actor": "scim:test",
	}
	for k, v := range want {
		if ce[k] != v {
			t.Errorf("%s = %v, want %v", k, ce[k], v)
		}
	}
	if ts, err := time.Parse(time.RFC3339Nano, ce["time"].(string)); err != nil || !ts.Equal(testkit.Epoch) {
		t.Errorf("time = %v (%v), want %v", ce["time"], err, testkit.Epoch)
	}
	if _, ok := ce["data"].(map[string]any); !ok {
		t.Errorf("data = %v, want an object", ce["data"])
	}
	if got[0].id != ce["id"] || got[0].ts != strconv.FormatInt(testkit.Epoch.Unix(), 10) {
		t.Errorf("webhook-id %q, webhook-timestamp %q", got[0].id, got[0].ts)
	}
	// Delivered once: another round sends nothing.
	mustSync(t, d)
	if n := mustDeliver(t, d); n != 0 {
		t.Errorf("second round sent %d", n)
	}
	st, err := d.Status(context.Background())
	if err != nil || len(st) != 1 || st[0].Pending != 0 || st[0].Failing || st[0].LastSuccess.IsZero() || strings.Contains(st[0].URL, "token") {
		t.Errorf("status = %+v, %v", st, err)
	}
}

func TestEventsFilter(t *testing.T) {
	e := newEnv(t)
	all, only := &receiver{t: t}, &receiver{t: t}
	s1, s2 := httptest.NewServer(all), httptest.NewServer(only)
	defer s1.Close()
	defer s2.Close()
	d := e.dispatcher(t, webhook.Receiver{Name: "all", URL: s1.URL, Secret: secret},
		webhook.Receiver{Name: "groups", URL: s2.URL, Secret: secret, Events: []string{"group.*", "user.deleted"}})
	mustSync(t, d)
	u := e.createUser(t, "bob@agency.gov.sg")
	if err := e.svc.DeleteUser(context.Background(), "scim:test", u.ID, nil); err != nil {
		t.Fatal(err)
	}
	mustSync(t, d)
	mustDeliver(t, d)
	var types []string
	for _, r := range only.accepted() {
		types = append(types, r.ce["type"].(string))
	}
	if !slices.Equal(types, []string{"sg.techpass.passbridge.user.deleted"}) {
		t.Errorf("filtered receiver got %v", types)
	}
	if n := len(all.accepted()); n < 2 {
		t.Errorf("unfiltered receiver got %d events, want created and deleted", n)
	}
}

// A receiver failing 4 times then answering gets the event accepted once,
// with backoff between attempts on the test clock.
func TestRetryWithBackoff(t *testing.T) {
	e := newEnv(t)
	rc := &receiver{t: t, status: func(n int) int {
		if n <= 4 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	d := e.dispatcher(t, webhook.Receiver{Name: "flaky", URL: srv.URL, Secret: secret, Events: []string{"user.created"}})
	mustSync(t, d)
	e.createUser(t, "cy@agency.gov.sg")
	mustSync(t, d)
	var waits []time.Duration
	last := e.clock.Now()
	checked := false
	for step := 0; step < 10000 && len(rc.accepted()) == 0; step++ {
		if n := mustDeliver(t, d); n > 0 {
			waits = append(waits, e.clock.Now().Sub(last))
			last = e.clock.Now()
		}
		if rc.all == 3 && !checked {
			checked = true
			st, _ := d.Status(context.Background())
			if !st[0].Failing || st[0].ConsecutiveFailures != 3 || st[0].Pending != 1 || st[0].LastError != "answered 503 Service Unavailable" {
				t.Errorf("after 3 failures status = %+v", st[0])
			}
		}
		e.clock.Advance(time.Second)
	}
	if got := rc.accepted(); len(got) != 1 {
		t.Fatalf("accepted %d times, want once", len(got))
	}
	if rc.all != 5 {
		t.Errorf("attempts = %d, want 5", rc.all)
	}
	// waits[0] is the first attempt; then 10s, 20s, 40s, 80s (+ up to 10%).
	if len(waits) != 5 || waits[1] < 10*time.Second {
		t.Fatalf("waits = %v", waits)
	}
	for i := 2; i < 5; i++ {
		if waits[i] <= waits[i-1] {
			t.Errorf("backoff does not grow: %v", waits)
		}
	}
	st, _ := d.Status(context.Background())
	if st[0].Failing || st[0].Pending != 0 || st[0].ConsecutiveFailures != 0 {
		t.Errorf("after success status = %+v", st[0])
	}
}

// A receiver that never accepts: retried (backoff capped at 1 h) until 14
// days after enqueueing, then dropped with an error log and counted.
func TestGiveUpAfter14Days(t *testing.T) {
	e := newEnv(t)
	rc := &receiver{t: t, status: func(int) int { return http.StatusInternalServerError }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var outcomes []string
	d, err := webhook.New(e.st, webhook.Options{Receivers: []webhook.Receiver{{Name: "down", URL: srv.URL, Secret: secret, Events: []string{"user.created"}}},
		Clock: e.clock, Logger: e.log, OnDelivery: func(_, o string) { outcomes = append(outcomes, o) }})
	if err != nil {
		t.Fatal(err)
	}
	mustSync(t, d)
	e.createUser(t, "dee@agency.gov.sg")
	mustSync(t, d)
	start := e.clock.Now()
	for e.clock.Now().Sub(start) <= 15*24*time.Hour {
		mustDeliver(t, d)
		e.clock.Advance(10 * time.Minute)
	}
	if len(outcomes) == 0 || outcomes[len(outcomes)-1] != webhook.OutcomeDropped || slices.Index(outcomes, webhook.OutcomeDropped) != len(outcomes)-1 {
		t.Fatalf("outcomes end %v, want one final dropped", outcomes[max(0, len(outcomes)-3):])
	}
	// 10s, 20s … 1h, then hourly (+ up to 10% jitter, polled every 10
	// minutes here) for 14 days: 14*24 attempts at most, not far fewer.
	if n := len(outcomes); n < 250 || n > 14*24+20 {
		t.Errorf("%d attempts in 14 days, want about hourly", n)
	}
	st, _ := d.Status(context.Background())
	if st[0].Dropped != 1 || st[0].Pending != 0 || !st[0].Failing {
		t.Errorf("status = %+v", st[0])
	}
	if !strings.Contains(e.logs.String(), "gave up delivering an event") {
		t.Error("no error log for the dropped delivery")
	}
}

// A receiver that hangs holds up neither SCIM creates nor other receivers.
func TestHangingReceiverDoesNotSlowCreates(t *testing.T) {
	e := newEnv(t)
	hung, release := make(chan struct{}, 10), make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung <- struct{}{}
		<-release
	}))
	defer hang.Close()
	defer close(release)
	ok := &receiver{t: t}
	okSrv := httptest.NewServer(ok)
	defer okSrv.Close()
	d, err := webhook.New(e.st, webhook.Options{Receivers: []webhook.Receiver{
		{Name: "hangs", URL: hang.URL, Secret: secret, Events: []string{"user.created"}},
		{Name: "ok", URL: okSrv.URL, Secret: secret, Events: []string{"user.created"}},
	}, Clock: e.clock, Logger: e.log, PollInterval: 2 * time.Millisecond, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	mustSync(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	e.createUser(t, "first@agency.gov.sg")
	<-hung // the receiver now holds a request open
	// Creates return while it hangs (the hanging handler is released only
	// when the test ends).
	for i := range 5 {
		e.createUser(t, "more"+strconv.Itoa(i)+"@agency.gov.sg")
	}
	// And the other receiver gets all six.
	for len(ok.accepted()) < 6 {
		time.Sleep(2 * time.Millisecond)
	}
}

// Secrets never reach the logs, even at debug level and on failures.
func TestSecretsNotLogged(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer srv.Close()
	d := e.dispatcher(t, webhook.Receiver{Name: "x", URL: srv.URL + "/in?apikey=sekrit-query", Secret: secret},
		webhook.Receiver{Name: "gone", URL: "http://127.0.0.1:1/?apikey=sekrit-query", Secret: secret})
	mustSync(t, d)
	e.createUser(t, "eve@agency.gov.sg")
	mustSync(t, d)
	for range 3 {
		mustDeliver(t, d)
		e.clock.Advance(time.Hour)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "will retry") {
		t.Fatalf("no failure was logged: %s", logs)
	}
	for _, s := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "sekrit-query", "v1,"} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain %q", s)
		}
	}
	if _, err := webhook.New(e.st, webhook.Options{Receivers: []webhook.Receiver{{Name: "b", URL: srv.URL, Secret: "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"}}}); err == nil ||
		strings.Contains(err.Error(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS") {
		t.Errorf("bad secret error = %v", err)
	}
}
