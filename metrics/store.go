package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/passbridge/passbridge/connector"
)

// Store is what the scrape-time collectors read: connector.Store has it.
type Store interface {
	JobStats(ctx context.Context) (depth int, oldest time.Time, err error)
	JobKindStats(ctx context.Context, kinds []connector.JobKind) (n int, oldestCreated time.Time, err error)
	ListUsers(ctx context.Context, q connector.Query) (connector.Page[connector.User], error)
}

// StoreOptions configure WatchStore.
type StoreOptions struct {
	// Timeout bounds the database reads of one scrape (default 2s).
	Timeout time.Duration
	// CacheFor is how long values read are served again before the
	// database is asked anew (default 5s), so that a scrape storm or several
	// Prometheus servers cannot load the database. Negative: never cached.
	CacheFor time.Duration
	// Now is the clock for the age of the oldest job (default time.Now).
	Now func() time.Time
}

// States are the onboarding states passbridge_users is reported for.
var States = []connector.State{
	connector.StatePending, connector.StateInvited, connector.StateRedeemed, connector.StateMFARegistered,
	connector.StateOnboarded, connector.StateExpired, connector.StateDisabled, connector.StateFailed,
	connector.StateConflict, connector.StateInactive, connector.StateTerminated,
}

// WatchStore registers collectors that read the outbox depth, the age of
// its oldest job, the pending deprovisionings and the age of the oldest, and
// the number of users in each onboarding state from st when scraped. One store per Metrics: a second call fails.
func (m *Metrics) WatchStore(st Store, o StoreOptions) error {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.CacheFor == 0 {
		o.CacheFor = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &storeCollector{
		m: m, st: st, o: o,
		depth: prometheus.NewDesc("passbridge_outbox_jobs",
			"Jobs queued in the outbox (invitations, disables, deletions, SEED provisioning, group sync), "+
				"including those waiting to retry after a transient error. A steady rise means the worker cannot keep up or Graph keeps failing.",
			nil, nil),
		age: prometheus.NewDesc("passbridge_outbox_oldest_job_age_seconds",
			"Seconds since the oldest queued job was due (0 when the queue is empty or every job waits for its retry time). "+
				"Large values mean jobs are stuck: the worker is down or every attempt fails.",
			nil, nil),
		users: prometheus.NewDesc("passbridge_users",
			"Users by onboarding state (pending, invited, redeemed, mfaRegistered, onboarded, expired, disabled, failed), "+
				"as last stored by passbridge. Read from the database at most every few seconds.",
			[]string{"state"}, nil),
		deprov: prometheus.NewDesc("passbridge_deprovisionings_pending",
			"Deprovisionings queued and not yet confirmed by Microsoft Graph (disable and revoke sessions, guest deletions): "+
				"jobs that are retried until Graph accepts them, never given up. Above 0 for long means someone who should not "+
				"be able to sign in still can; see passbridge_deprovisioning_oldest_age_seconds and the users' lastError.",
			nil, nil),
		deprovAge: prometheus.NewDesc("passbridge_deprovisioning_oldest_age_seconds",
			"Seconds since the oldest pending deprovisioning was queued (0 when none is pending).",
			nil, nil),
	}
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: watch store: %w", err)
	}
	m.collectErrors.WithLabelValues("outbox")
	m.collectErrors.WithLabelValues("users")
	m.collectErrors.WithLabelValues("deprovisioning")
	return nil
}

type storeCollector struct {
	m                 *Metrics
	st                Store
	o                 StoreOptions
	depth, age, users *prometheus.Desc
	deprov, deprovAge *prometheus.Desc

	mu       sync.Mutex // one database read at a time; guards the cache
	outboxAt time.Time  // when the outbox values were read (zero: not cached)
	jobs     int
	oldest   time.Time
	usersAt  time.Time
	byState  []float64 // parallel to States
	deprovAt time.Time
	pending  int
	pendingT time.Time // the oldest pending deprovisioning's creation
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.age
	ch <- c.users
	ch <- c.deprov
	ch <- c.deprovAge
}

func (c *storeCollector) fresh(at time.Time) bool {
	return !at.IsZero() && c.o.CacheFor > 0 && time.Since(at) < c.o.CacheFor
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()

	if !c.fresh(c.outboxAt) {
		c.outboxAt = time.Time{}
		depth, oldest, err := c.st.JobStats(ctx)
		if err != nil {
			c.m.collectErrors.WithLabelValues("outbox").Inc()
			c.m.log.Warn("metrics: read outbox", "err", err)
		} else {
			c.jobs, c.oldest, c.outboxAt = depth, oldest, time.Now()
		}
	}
	if !c.outboxAt.IsZero() {
		age := 0.0
		if c.jobs > 0 && !c.oldest.IsZero() {
			age = max(c.o.Now().Sub(c.oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(c.jobs))
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
	}

	if !c.fresh(c.deprovAt) {
		c.deprovAt = time.Time{}
		// A deleted SCIM user's tombstone is committed with its deleteGuest
		// job, so the queued jobs count the pending guest deletions too.
		n, oldest, err := c.st.JobKindStats(ctx, connector.DeprovisioningKinds())
		if err != nil {
			c.m.collectErrors.WithLabelValues("deprovisioning").Inc()
			c.m.log.Warn("metrics: read pending deprovisionings", "err", err)
		} else {
			c.pending, c.pendingT, c.deprovAt = n, oldest, time.Now()
		}
	}
	if !c.deprovAt.IsZero() {
		age := 0.0
		if c.pending > 0 && !c.pendingT.IsZero() {
			age = max(c.o.Now().Sub(c.pendingT).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.deprov, prometheus.GaugeValue, float64(c.pending))
		ch <- prometheus.MustNewConstMetric(c.deprovAge, prometheus.GaugeValue, age)
	}

	if !c.fresh(c.usersAt) {
		c.usersAt = time.Time{}
		counts, err := c.countUsers(ctx)
		if err != nil {
			c.m.collectErrors.WithLabelValues("users").Inc()
			c.m.log.Warn("metrics: count users", "err", err)
		} else {
			c.byState, c.usersAt = counts, time.Now()
		}
	}
	if !c.usersAt.IsZero() {
		for i, s := range States {
			ch <- prometheus.MustNewConstMetric(c.users, prometheus.GaugeValue, c.byState[i], string(s))
		}
	}
}

// countUsers asks the store for the total of each state (Count 0: no rows).
func (c *storeCollector) countUsers(ctx context.Context) ([]float64, error) {
	out := make([]float64, len(States))
	for i, s := range States {
		page, err := c.st.ListUsers(ctx, connector.Query{Filter: connector.Eq(connector.AttrOnboardingState, string(s))})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		out[i] = float64(page.Total)
	}
	return out, nil
}
