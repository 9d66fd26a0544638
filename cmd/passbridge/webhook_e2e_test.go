package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/graph/graphsim"
	"github.com/passbridge/passbridge/store"
	"github.com/passbridge/passbridge/webhook"
)

// hookRequest is one POST the test receiver got.
type hookRequest struct {
	header http.Header
	body   []byte
}

// A real "passbridge serve" with a webhooks entry delivers a SCIM sign-up's
// user.created and onboarding.invited to a receiver on loopback, as signed
// CloudEvents that verify with an HMAC the test computes itself.
func TestWebhookE2EServeDeliversSignedCloudEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var (
		mu  sync.Mutex
		got []hookRequest
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Method != http.MethodPost || r.URL.Path != "/hook" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, hookRequest{r.Header.Clone(), body})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	sim, simSrv := graphsim.Start(graphsim.WithSeed(5))
	defer simSrv.Close()
	dir := t.TempDir()
	listen := freeAddr(t)
	dbURL := "sqlite:" + filepath.Join(dir, "pb.db")
	hooks := fmt.Sprintf("webhooks:\n  - name: e2e-receiver\n    url: %s/hook\n    secret: %q\n    events: [\"user.*\", \"onboarding.*\"]\n", recv.URL, secret)
	cfgPath, token := writeConfig(t, dir, listen, dbURL, simSrv.URL, hooks)
	p := startProc(t, cfgPath, listen, token, sim, simSrv.URL)

	// A receiver gets the events from its first sync on: wait for it, so
	// that the sign-up below is not before it.
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		cs, err := st.(webhook.Store).WebhookCursors(ctx)
		if err == nil {
			if _, ok := cs["e2e-receiver"]; ok {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dispatcher never started the receiver (%v):\n%s", err, p.out)
		}
	}
	st.Close()

	m, err := scimDo(ctx, "POST", p.base+"/Users", token, userBody("hooked@tech.gov.sg", false))
	if err != nil {
		t.Fatal(err)
	}
	uid := m["id"].(string)

	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"sg.techpass.passbridge.user.created": false, "sg.techpass.passbridge.onboarding.invited": false}
	seen := 0
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		reqs := append([]hookRequest(nil), got[seen:]...)
		mu.Unlock()
		seen += len(reqs)
		for _, r := range reqs {
			id, ts, sig := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp"), r.header.Get("webhook-signature")
			mac := hmac.New(sha256.New, key)
			mac.Write([]byte(id + "." + ts + "."))
			mac.Write(r.body)
			if sig != "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
				t.Errorf("webhook-signature %q does not verify for id %q, timestamp %q", sig, id, ts)
			}
			if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
				t.Errorf("webhook-timestamp %q is not now", ts)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/cloudevents+json" {
				t.Errorf("Content-Type %q", ct)
			}
			var ev struct {
				SpecVersion string          `json:"specversion"`
				ID          string          `json:"id"`
				Source      string          `json:"source"`
				Type        string          `json:"type"`
				Subject     string          `json:"subject"`
				Time        time.Time       `json:"time"`
				Data        json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(r.body, &ev); err != nil {
				t.Fatalf("body is not a CloudEvent: %v\n%s", err, r.body)
			}
			if ev.SpecVersion != "1.0" || ev.ID != id || !strings.HasPrefix(ev.ID, "evt_") || ev.Source == "" || ev.Time.IsZero() {
				t.Errorf("CloudEvent envelope: %s (webhook-id %q)", r.body, id)
			}
			if _, ok := want[ev.Type]; ok && ev.Subject == uid {
				want[ev.Type] = true
			}
		}
		if want["sg.techpass.passbridge.user.created"] && want["sg.techpass.passbridge.onboarding.invited"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s the receiver has %v of user %s (%d requests):\n%s", want, uid, seen, p.out)
		}
	}

	// The same bytes under another key do not verify: the check above is
	// not vacuous.
	mu.Lock()
	r := got[0]
	mu.Unlock()
	other := hmac.New(sha256.New, []byte("another key of at least 24 bytes"))
	other.Write([]byte(r.header.Get("webhook-id") + "." + r.header.Get("webhook-timestamp") + "."))
	other.Write(r.body)
	if r.header.Get("webhook-signature") == "v1,"+base64.StdEncoding.EncodeToString(other.Sum(nil)) {
		t.Error("the signature verifies under another key")
	}
}
