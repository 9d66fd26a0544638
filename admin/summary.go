package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/passbridge/passbridge/connector"
)

// ExpiringWindow is how far ahead "expires soon" looks.
const ExpiringWindow = 7 * 24 * time.Hour

// StaleAfter is how long a queued job or a pending deprovisioning may wait
// before `passbridge status` says an admin is needed.
const StaleAfter = time.Hour

// StateCount is the number of users in one onboarding state.
type StateCount struct {
	State connector.State `json:"state"`
	N     int             `json:"n"`
}

// Summary is what the dashboard and `passbridge status` show. Every part is
// an indexed read: the counts by state (users_state_id), the lists
// (ConsoleStore), the queue (jobs_claim, jobs_kind).
type Summary struct {
	At     time.Time    `json:"at"`
	Counts []StateCount `json:"counts"`
	Total  int          `json:"total"`
	// Expiring: unfinished onboardings that expire within ExpiringWindow.
	Expiring connector.Page[connector.User] `json:"-"`
	// Failed: users in state failed, with their lastError.
	Failed connector.Page[connector.User] `json:"-"`
	// FailedJobs: jobs out of the queue for good (conflicts, refusals).
	FailedJobs connector.Page[connector.Job] `json:"-"`
	// DeprovisionUsers: active=false not yet confirmed in the tenant.
	DeprovisionUsers connector.Page[connector.User] `json:"-"`
	// DeprovisionJobs: queued deprovisioning jobs, oldest first.
	DeprovisionJobs   []connector.Job `json:"-"`
	DeprovisionQueued int             `json:"deprovisionQueued"`
	DeprovisionOldest time.Time       `json:"deprovisionOldest,omitzero"`
	QueueDepth        int             `json:"queueDepth"`
	OldestJob         *connector.Job  `json:"-"`
}

// Summarize reads the summary; lists are cut at limit rows.
func Summarize(ctx context.Context, st connector.Store, cs connector.ConsoleStore, now time.Time, limit int) (Summary, error) {
	s := Summary{At: now}
	for _, state := range connector.States {
		p, err := st.ListUsers(ctx, connector.Query{Filter: connector.Eq(connector.AttrOnboardingState, string(state))})
		if err != nil {
			return s, fmt.Errorf("count %s users: %w", state, err)
		}
		s.Counts = append(s.Counts, StateCount{State: state, N: p.Total})
		s.Total += p.Total
	}
	var err error
	if s.Expiring, err = cs.ExpiringUsers(ctx, now, now.Add(ExpiringWindow), limit); err != nil {
		return s, fmt.Errorf("expiring users: %w", err)
	}
	if s.Failed, err = st.ListUsers(ctx, connector.Query{Filter: connector.Eq(connector.AttrOnboardingState, string(connector.StateFailed)), Count: limit}); err != nil {
		return s, fmt.Errorf("failed users: %w", err)
	}
	if s.FailedJobs, err = cs.FailedJobs(ctx, limit); err != nil {
		return s, fmt.Errorf("failed jobs: %w", err)
	}
	if s.DeprovisionUsers, err = cs.DeprovisionPendingUsers(ctx, limit); err != nil {
		return s, fmt.Errorf("pending deprovisioning: %w", err)
	}
	kinds := connector.DeprovisioningKinds()
	if s.DeprovisionQueued, s.DeprovisionOldest, err = st.JobKindStats(ctx, kinds); err != nil {
		return s, fmt.Errorf("deprovisioning jobs: %w", err)
	}
	if s.DeprovisionJobs, err = cs.QueuedJobsOfKinds(ctx, kinds, limit); err != nil {
		return s, fmt.Errorf("deprovisioning jobs: %w", err)
	}
	if s.QueueDepth, _, err = st.JobStats(ctx); err != nil {
		return s, fmt.Errorf("queue: %w", err)
	}
	j, ok, err := cs.OldestQueuedJob(ctx)
	if err != nil {
		return s, fmt.Errorf("oldest job: %w", err)
	}
	if ok {
		s.OldestJob = &j
	}
	return s, nil
}

// Count returns the number of users in state.
func (s Summary) Count(state connector.State) int {
	for _, c := range s.Counts {
		if c.State == state {
			return c.N
		}
	}
	return 0
}

// NeedsAdmin lists what an admin should look at: failed users, failed
// jobs, deprovisioning or a queued job waiting longer than StaleAfter.
func (s Summary) NeedsAdmin() []string {
	var out []string
	if n := s.Failed.Total; n > 0 {
		out = append(out, fmt.Sprintf("%d failed user(s): see their lastError, then retry", n))
	}
	if n := s.FailedJobs.Total; n > 0 {
		out = append(out, fmt.Sprintf("%d failed job(s) (conflicts or refusals)", n))
	}
	if s.DeprovisionQueued > 0 && s.At.Sub(s.DeprovisionOldest) > StaleAfter {
		out = append(out, fmt.Sprintf("%d deprovisioning job(s) pending, the oldest for %s: someone who should not sign in still can",
			s.DeprovisionQueued, s.At.Sub(s.DeprovisionOldest).Round(time.Second)))
	}
	if j := s.OldestJob; j != nil && s.At.Sub(j.RunAt) > StaleAfter {
		out = append(out, fmt.Sprintf("the oldest queued job (%s of %s) has been due for %s: is the worker running?",
			j.Kind, j.Subject, s.At.Sub(j.RunAt).Round(time.Second)))
	}
	return out
}
