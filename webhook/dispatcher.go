package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// Defaults of Options.
const (
	DefaultPollInterval = time.Second
	DefaultBackoff      = 10 * time.Second
	DefaultMaxBackoff   = time.Hour
	DefaultMaxAge       = 14 * 24 * time.Hour
	DefaultTimeout      = 10 * time.Second
	DefaultBatchSize    = 16
	DefaultConcurrency  = 4
	DefaultFailingAfter = 3
	DefaultGapWait      = time.Minute
	// leaseName is the dispatcher role: one replica follows the log and
	// sends at a time (delivery leases cover a hand-over).
	leaseName = "webhook-dispatcher"
	leaseTTL  = 30 * time.Second
	readBatch = 500
)

// Receiver is one configured webhook.
type Receiver struct {
	// Name identifies the receiver in the store (its cursor and
	// deliveries), logs and metrics; it must be stable and unique.
	Name   string
	URL    string
	Secret string   // "whsec_<base64 key>"
	Events []string // types or "<category>.*"; empty: all
}

// Options configure a Dispatcher. Zero values take the defaults.
type Options struct {
	Receivers []Receiver
	// Source is the CloudEvents source (the public URL; "passbridge" when empty).
	Source string
	Clock  connector.Clock
	Logger *slog.Logger
	// Client sends the requests (default: no redirects followed, Timeout
	// per request).
	Client *http.Client
	// PollInterval is how often the event log is read for new events.
	PollInterval time.Duration
	// Backoff is the wait after the first failed attempt; it doubles per
	// attempt up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// MaxAge is how long a delivery is retried before it is dropped.
	MaxAge time.Duration
	// Timeout bounds one request.
	Timeout time.Duration
	// BatchSize deliveries are claimed per round; Concurrency of them are
	// in flight at once, per receiver.
	BatchSize, Concurrency int
	// FailingAfter consecutive failed attempts report a receiver failing.
	FailingAfter int
	// GapWait is how long a hole in the event ids (a transaction that took
	// its id but has not committed, on PostgreSQL) holds the cursor back
	// before it is taken for a rollback and passed.
	GapWait time.Duration
	// Holder names this process in leases (default: host, pid, random).
	Holder string
	// OnDelivery is told every attempt's outcome (metrics).
	OnDelivery func(webhook, outcome string)
}

type receiver struct {
	Receiver
	key    []byte
	filter filter
}

// Dispatcher follows the event log and delivers it to the receivers.
type Dispatcher struct {
	st    Store
	o     Options
	rs    []*receiver
	clock connector.Clock
	log   *slog.Logger
	// gaps remembers when a hole in the event ids was first seen, by the
	// first missing id (Sync only).
	gaps map[int64]time.Time
	held atomic.Bool
}

// New checks the receivers (secrets, names, filters) and returns a
// Dispatcher; nothing runs until Run.
func New(st Store, o Options) (*Dispatcher, error) {
	if o.Clock == nil {
		o.Clock = connector.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Source == "" {
		o.Source = "passbridge"
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.PollInterval, DefaultPollInterval)
	def(&o.Backoff, DefaultBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.MaxAge, DefaultMaxAge)
	def(&o.Timeout, DefaultTimeout)
	def(&o.GapWait, DefaultGapWait)
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.FailingAfter <= 0 {
		o.FailingAfter = DefaultFailingAfter
	}
	if o.Client == nil {
		o.Client = &http.Client{
			Timeout: o.Timeout,
			// A redirect is a failure: the signed request goes where the
			// configuration says and nowhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.Holder == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		o.Holder = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	d := &Dispatcher{st: st, o: o, clock: o.Clock, log: o.Logger, gaps: map[int64]time.Time{}}
	seen := map[string]bool{}
	for i, r := range o.Receivers {
		if r.Name == "" {
			return nil, fmt.Errorf("webhook: webhooks[%d]: no name", i)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("webhook: webhooks[%d]: name %q is used twice", i, r.Name)
		}
		seen[r.Name] = true
		key, err := ParseSecret(r.Secret)
		if err != nil {
			return nil, fmt.Errorf("webhook: webhooks[%d].secret %w", i, err)
		}
		if _, err := url.Parse(r.URL); err != nil {
			return nil, fmt.Errorf("webhook: webhooks[%d].url is not a URL", i)
		}
		for j, e := range r.Events {
			if err := CheckEventFilter(e); err != nil {
				return nil, fmt.Errorf("webhook: webhooks[%d].events[%d]: %w", i, j, err)
			}
		}
		d.rs = append(d.rs, &receiver{Receiver: r, key: key, filter: filter(r.Events)})
	}
	return d, nil
}

// Run follows the log and delivers until ctx ends, while this process
// holds the dispatcher lease. In-flight requests are cancelled at the end;
// their deliveries are claimed again once their lease passes.
func (d *Dispatcher) Run(ctx context.Context) error {
	if len(d.rs) == 0 {
		return nil
	}
	wake := make([]chan struct{}, len(d.rs))
	var wg sync.WaitGroup
	for i, r := range d.rs {
		wake[i] = make(chan struct{}, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.sendLoop(ctx, r, wake[i])
		}()
	}
	t := time.NewTicker(d.o.PollInterval)
	defer t.Stop()
	for {
		ok, err := d.st.AcquireLease(ctx, leaseName, d.o.Holder, d.clock.Now(), leaseTTL)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("webhooks: cannot take the dispatcher lease", "err", err)
		}
		d.held.Store(ok && err == nil)
		if d.held.Load() {
			n, err := d.Sync(ctx)
			if err != nil && ctx.Err() == nil {
				d.log.Warn("webhooks: cannot read the event log", "err", err)
			}
			if n > 0 {
				for _, w := range wake {
					select {
					case w <- struct{}{}:
					default:
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if d.held.Load() {
				_ = d.st.ReleaseLease(rctx, leaseName, d.o.Holder)
			}
			return nil
		case <-t.C:
		}
	}
}

func (d *Dispatcher) sendLoop(ctx context.Context, r *receiver, wake <-chan struct{}) {
	t := time.NewTicker(d.o.PollInterval)
	defer t.Stop()
	for {
		if d.held.Load() {
			n, err := d.deliver(ctx, r)
			if err != nil && ctx.Err() == nil {
				d.log.Warn("webhooks: delivery round failed", "webhook", r.Name, "err", err)
			}
			if n > 0 && err == nil && ctx.Err() == nil {
				continue // more may be due
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// Sync reads the events after the receivers' cursors and enqueues a
// delivery for each that a receiver's filter selects; it returns how many.
// A receiver seen for the first time starts at the end of the log (a SIEM
// that needs the past reads GET /admin/api/events).
func (d *Dispatcher) Sync(ctx context.Context) (int, error) {
	if len(d.rs) == 0 {
		return 0, nil
	}
	cursors, err := d.st.WebhookCursors(ctx)
	if err != nil {
		return 0, fmt.Errorf("webhooks: read cursors: %w", err)
	}
	set := map[string]int64{}
	last := int64(-1)
	for _, r := range d.rs {
		if _, ok := cursors[r.Name]; ok {
			continue
		}
		if last < 0 {
			if last, err = d.st.LastEventID(ctx); err != nil {
				return 0, fmt.Errorf("webhooks: read the end of the event log: %w", err)
			}
		}
		cursors[r.Name], set[r.Name] = last, last
		d.log.Info("webhooks: new receiver; it gets the events from now on", "webhook", r.Name, "afterEventID", last)
	}
	from := int64(-1)
	for _, r := range d.rs {
		if c := cursors[r.Name]; from < 0 || c < from {
			from = c
		}
	}
	evs, err := d.st.ListEvents(ctx, "", from, readBatch)
	if err != nil {
		return 0, fmt.Errorf("webhooks: read events after %d: %w", from, err)
	}
	now := d.clock.Now()
	// safe is the end of the gap-free run of ids after from: every event
	// up to it has been read (or its id was lost to a rollback).
	safe := from
	for _, e := range evs {
		if e.ID <= safe+1 {
			safe = max(safe, e.ID)
			continue
		}
		first, ok := d.gaps[safe+1]
		if !ok {
			d.gaps[safe+1], first = now, now
		}
		if now.Sub(first) < d.o.GapWait {
			break
		}
		d.log.Warn("webhooks: passing a hole in the event ids (a rolled-back transaction)", "from", safe+1, "to", e.ID-1)
		safe = e.ID
	}
	for id := range d.gaps {
		if id <= safe {
			delete(d.gaps, id)
		}
	}
	var ds []Delivery
	for _, r := range d.rs {
		c := cursors[r.Name]
		for _, e := range evs {
			if e.ID > c && r.filter.match(e.Type) {
				ds = append(ds, Delivery{Webhook: r.Name, EventID: e.ID, RunAt: now, Created: now})
			}
		}
		if safe > c {
			set[r.Name] = safe
		}
	}
	if len(ds) == 0 && len(set) == 0 {
		return 0, nil // nothing new: no write
	}
	if err := d.st.EnqueueWebhookDeliveries(ctx, set, ds); err != nil {
		return 0, fmt.Errorf("webhooks: enqueue deliveries: %w", err)
	}
	return len(ds), nil
}

// DeliverDue runs one delivery round for every receiver (claim what is due,
// send, record) and returns how many deliveries were attempted. Run does
// this continuously; tests call it on a test clock.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	total := 0
	var errs []error
	for _, r := range d.rs {
		n, err := d.deliver(ctx, r)
		total += n
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

func (d *Dispatcher) deliver(ctx context.Context, r *receiver) (int, error) {
	ds, err := d.st.ClaimWebhookDeliveries(ctx, r.Name, d.o.Holder, d.clock.Now(), d.o.Timeout+leaseTTL, d.o.BatchSize)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	results := make([]Result, len(ds))
	sem := make(chan struct{}, d.o.Concurrency)
	var wg sync.WaitGroup
	for i, dl := range ds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = d.send(ctx, r, dl)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		// Shutting down: the attempts were cut short, not failed. Keep
		// the outcomes of those that completed; the rest come back when
		// their lease passes.
		kept := results[:0]
		for _, res := range results {
			if res.Outcome == OutcomeDelivered {
				kept = append(kept, res)
			}
		}
		results = kept
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := d.st.FinishWebhookDeliveries(fctx, d.o.Holder, results); err != nil {
		return len(ds), fmt.Errorf("record outcomes: %w", err)
	}
	for _, res := range results {
		if d.o.OnDelivery != nil {
			d.o.OnDelivery(r.Name, res.Outcome)
		}
		switch res.Outcome {
		case OutcomeDropped:
			d.log.Error("webhooks: gave up delivering an event", "webhook", r.Name, "eventID", res.EventID,
				"maxAge", d.o.MaxAge.String(), "lastError", res.Error)
		case OutcomeRetry:
			d.log.Debug("webhooks: delivery failed; will retry", "webhook", r.Name, "eventID", res.EventID,
				"retryAt", res.RunAt, "err", res.Error)
		}
	}
	return len(ds), nil
}

// send makes one attempt and says what came of it.
func (d *Dispatcher) send(ctx context.Context, r *receiver, dl Delivery) Result {
	res := Result{Webhook: r.Name, EventID: dl.EventID}
	retryAfter, err := d.post(ctx, r, dl.Event)
	res.At = d.clock.Now()
	if err == nil {
		res.Outcome = OutcomeDelivered
		return res
	}
	res.Error = err.Error()
	deadline := dl.Created.Add(d.o.MaxAge)
	if !res.At.Before(deadline) {
		res.Outcome = OutcomeDropped
		return res
	}
	wait := max(d.backoff(dl.Attempts), min(retryAfter, d.o.MaxBackoff))
	res.Outcome, res.RunAt = OutcomeRetry, res.At.Add(wait)
	if res.RunAt.After(deadline) {
		res.RunAt = deadline // the last try is at MaxAge
	}
	return res
}

// backoff is the wait after the n-th failed attempt: Backoff doubling up
// to MaxBackoff, plus up to 10% so that retries spread out.
func (d *Dispatcher) backoff(n int) time.Duration {
	w := d.o.Backoff
	for i := 1; i < n && w < d.o.MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, d.o.MaxBackoff)
	return w + time.Duration(mrand.Int64N(int64(w)/10+1))
}

// post sends one event; nil when the receiver answered 2xx. Errors never
// carry the URL (it may hold a token) or the secret.
func (d *Dispatcher) post(ctx context.Context, r *receiver, e connector.Event) (retryAfter time.Duration, err error) {
	body, err := Body(d.o.Source, e)
	if err != nil {
		return 0, err
	}
	id := EventID(e)
	ts := d.clock.Now().Unix()
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("cannot build the request (is the URL valid?)")
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "passbridge-webhooks")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(r.key, id, ts, body))
	resp, err := d.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return retryAfter, fmt.Errorf("answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
}

// ReceiverStatus is one receiver's health, for the console and /metrics.
type ReceiverStatus struct {
	Name string
	// URL is the receiver's address without its query (which may hold a
	// token).
	URL    string
	Events []string
	// Pending deliveries, and the age of the oldest (0 when none).
	Pending          int
	OldestPendingAge time.Duration
	LastSuccess      time.Time
	LastFailure      time.Time
	LastError        string
	// ConsecutiveFailures counts attempts failed since the last success.
	ConsecutiveFailures int
	// Dropped counts deliveries given up after 14 days (since the store was created).
	Dropped int64
	// Failing: the last FailingAfter attempts all failed.
	Failing bool
}

// Status reports every configured receiver, in configuration order. It
// reads the store only (cheap: one indexed query), so any process can ask.
func (d *Dispatcher) Status(ctx context.Context) ([]ReceiverStatus, error) {
	stats, err := d.st.WebhookStats(ctx)
	if err != nil {
		return nil, fmt.Errorf("webhooks: status: %w", err)
	}
	by := make(map[string]Stats, len(stats))
	for _, s := range stats {
		by[s.Name] = s
	}
	now := d.clock.Now()
	out := make([]ReceiverStatus, 0, len(d.rs))
	for _, r := range d.rs {
		s := by[r.Name]
		rs := ReceiverStatus{
			Name: r.Name, URL: RedactURL(r.URL), Events: append([]string(nil), r.Events...),
			Pending: s.Pending, LastSuccess: s.LastSuccess, LastFailure: s.LastFailure, LastError: s.LastError,
			ConsecutiveFailures: s.Failures, Dropped: s.Dropped, Failing: s.Failures >= d.o.FailingAfter,
		}
		if !s.OldestPending.IsZero() && now.After(s.OldestPending) {
			rs.OldestPendingAge = now.Sub(s.OldestPending)
		}
		out = append(out, rs)
	}
	return out, nil
}

// RedactURL returns u without user info, query or fragment (where tokens
// hide); "" when it does not parse.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	return p.String()
}
