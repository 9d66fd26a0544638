package scim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passbridge/passbridge/scim"
)

const createBody = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s","emails":[{"value":"%s"}]}`

func createReq(ctx context.Context, token, email string) *http.Request {
	body := strings.ReplaceAll(createBody, "%s", email)
	r := httptest.NewRequest("POST", "/scim/v2/Users", strings.NewReader(body)).WithContext(ctx)
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", "application/scim+json")
	return r
}

// One client's cancellation must not decide readiness for the others: the
// probe runs detached from the request that started it.
func TestReadyProbeDetachedFromCaller(t *testing.T) {
	tok := "ready-token-0123456789abcdef"
	e := newSecEnv(t, tok, func(o *scim.Options) {
		ping := o.Ready
		o.Ready = func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
				return ping(ctx)
			}
		}
	})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, createReq(gone, tok, "gone@agency.gov.sg"))
	if w.Code == http.StatusServiceUnavailable || w.Code/100 == 5 {
		t.Errorf("a canceled write: %d, want no 5xx (the client is gone)", w.Code)
	}
	r := e.req("POST", "/scim/v2/Users", "Bearer "+tok, strings.NewReader(strings.ReplaceAll(createBody, "%s", "next@agency.gov.sg")))
	if r.status != http.StatusCreated {
		t.Fatalf("the next writer after a canceled one: %d %s, want 201", r.status, r.body)
	}
}

// A slow probe holds no lock: a writer that gives up while another's probe
// runs is answered when its own context ends, not when the probe does.
func TestReadyProbeHoldsNoLock(t *testing.T) {
	tok := "ready-token-0123456789abcdef"
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	e := newSecEnv(t, tok, func(o *scim.Options) {
		ping := o.Ready
		o.Ready = func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-release:
				return ping(ctx)
			}
		}
	})
	first := make(chan int, 1)
	go func() {
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, createReq(context.Background(), tok, "first@agency.gov.sg"))
		first <- w.Code
	}()
	time.Sleep(50 * time.Millisecond) // the first writer's probe is running

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, createReq(ctx, tok, "second@agency.gov.sg"))
	if d := time.Since(start); d > time.Second {
		t.Errorf("the second writer waited %s for the first one's probe", d)
	}
	if w.Code/100 == 5 {
		t.Errorf("the second writer, gone: %d, want no 5xx", w.Code)
	}
	unblock()
	select {
	case code := <-first:
		if code != http.StatusCreated {
			t.Fatalf("the first writer: %d, want 201", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first writer never got an answer")
	}
}

// HEAD and OPTIONS change nothing, so a store that is down does not refuse
// them as writes.
func TestReadyGateLetsReadsThrough(t *testing.T) {
	tok := "ready-token-0123456789abcdef"
	e := newSecEnv(t, tok, func(o *scim.Options) {
		o.Ready = func(context.Context) error { return errors.New("store down") }
	})
	for _, m := range []string{"HEAD", "OPTIONS"} {
		if r := e.req(m, "/scim/v2/Users", "Bearer "+tok, nil); r.status == http.StatusServiceUnavailable {
			t.Errorf("%s with the store not ready: 503, want it treated as a read", m)
		}
	}
	if r := e.req("POST", "/scim/v2/Users", "Bearer "+tok, strings.NewReader(strings.ReplaceAll(createBody, "%s", "w@agency.gov.sg"))); r.status != http.StatusServiceUnavailable {
		t.Errorf("a write with the store not ready: %d, want 503", r.status)
	}
}

// A client that disconnects cuts its store call short; that is no server
// error: no 5xx, nothing logged at error level.
func TestClientGoneIsNotServerError(t *testing.T) {
	tok := "ready-token-0123456789abcdef"
	e := newSecEnv(t, tok, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, path := range []string{"/scim/v2/Users", "/scim/v2/Groups", "/scim/v2/Users/00000000-0000-0000-0000-000000000001"} {
		r := httptest.NewRequest("GET", path, nil).WithContext(ctx)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, r)
		if w.Code != 499 {
			t.Errorf("GET %s by a client that is gone: %d, want 499 (client closed request), no 5xx", path, w.Code)
		}
	}
	if l := e.logs.String(); strings.Contains(l, `"level":"ERROR"`) {
		t.Errorf("a client that is gone is logged as an error:\n%s", l)
	}
}
