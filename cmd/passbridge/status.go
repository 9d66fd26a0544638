package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/passbridge/passbridge/admin"
	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store"
	"github.com/passbridge/passbridge/webhook"
)

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of the table")
	limit := fs.Int("limit", 20, "list at most this many failed users, failed jobs and pending deprovisionings")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: passbridge status [--config FILE] [--json] [--limit N]

Reads the database (not Microsoft Graph) and prints where onboarding stands:
users by state, the outbox queue and its oldest job, failed users with their
lastError, failed jobs, pending deprovisioning (active=false not yet
confirmed in the tenant) and the webhook receivers (pending deliveries, the
oldest one's age, failing or not). Every figure is an indexed read: cheap on a live
database, fine for a cron check or a monitoring probe.

Exit status: 0 when nothing needs an admin; 1 when something does (a failed
user or job, a deprovisioning or a queued job waiting for over an hour, a
failing webhook receiver: the reasons are listed); 2 on a usage, configuration or database error.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, env, stderr)
	if !ok {
		return 2
	}
	st, err := store.Open(ctx, cfg.Database.URL)
	if err != nil {
		fmt.Fprintf(stderr, "passbridge status: open database: %v\n", err)
		return 2
	}
	defer st.Close()
	cs, ok := st.(connector.ConsoleStore)
	if !ok {
		fmt.Fprintf(stderr, "passbridge status: the store %T has no console queries\n", st)
		return 2
	}
	sum, err := admin.Summarize(ctx, st, cs, time.Now().UTC(), *limit)
	if err != nil {
		fmt.Fprintf(stderr, "passbridge status: %v\n", err)
		return 2
	}
	needs := sum.NeedsAdmin()
	hooks, err := webhookStatus(ctx, cfg, st)
	if err != nil {
		fmt.Fprintf(stderr, "passbridge status: %v\n", err)
		return 2
	}
	for _, w := range hooks {
		if w.Failing {
			// The console's wording (admin dashboard), so both say the same.
			needs = append(needs, fmt.Sprintf("webhook receiver %s keeps failing (%d attempts in a row; %d pending): %s",
				w.Name, w.ConsecutiveFailures, w.Pending, w.LastError))
		}
	}
	if *asJSON {
		writeStatusJSON(stdout, sum, hooks, needs)
	} else {
		writeStatusTable(stdout, sum, hooks, needs)
	}
	if len(needs) > 0 {
		return 1
	}
	return 0
}

// webhookStatus reads the configured webhook receivers' delivery state
// from the store, as the console does (nil when none is configured).
func webhookStatus(ctx context.Context, cfg *config.Config, st connector.Store) ([]webhook.ReceiverStatus, error) {
	if len(cfg.Webhooks) == 0 {
		return nil, nil
	}
	ws, ok := st.(webhook.Store)
	if !ok {
		return nil, fmt.Errorf("the store %T keeps no webhook deliveries", st)
	}
	d, err := webhook.New(ws, webhook.Options{Receivers: webhookReceivers(cfg)})
	if err != nil {
		return nil, err
	}
	return d.Status(ctx)
}

type statusWebhook struct {
	Name                    string     `json:"name"`
	URL                     string     `json:"url"`
	Pending                 int        `json:"pending"`
	OldestPendingAgeSeconds float64    `json:"oldestPendingAgeSeconds"`
	Failing                 bool       `json:"failing"`
	ConsecutiveFailures     int        `json:"consecutiveFailures"`
	Dropped                 int64      `json:"dropped"`
	LastSuccess             *time.Time `json:"lastSuccess,omitempty"`
	LastFailure             *time.Time `json:"lastFailure,omitempty"`
	LastError               string     `json:"lastError,omitempty"`
}

func statusWebhooks(rs []webhook.ReceiverStatus) []statusWebhook {
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	out := []statusWebhook{}
	for _, r := range rs {
		out = append(out, statusWebhook{r.Name, r.URL, r.Pending, r.OldestPendingAge.Seconds(), r.Failing,
			r.ConsecutiveFailures, r.Dropped, at(r.LastSuccess), at(r.LastFailure), r.LastError})
	}
	return out
}

type statusUser struct {
	ID        string `json:"id"`
	UserName  string `json:"userName"`
	State     string `json:"state"`
	LastError string `json:"lastError,omitempty"`
}

type statusJob struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Subject   string    `json:"subject"`
	Attempts  int       `json:"attempts"`
	RunAt     time.Time `json:"runAt"`
	Created   time.Time `json:"created"`
	LastError string    `json:"lastError,omitempty"`
}

func statusUsers(us []connector.User) []statusUser {
	out := []statusUser{}
	for _, u := range us {
		out = append(out, statusUser{u.ID, u.UserName, string(u.Onboarding.State), u.Onboarding.LastError})
	}
	return out
}

func statusJobs(js []connector.Job) []statusJob {
	out := []statusJob{}
	for _, j := range js {
		out = append(out, statusJob{j.ID, string(j.Kind), j.Subject, j.Attempts, j.RunAt, j.Created, j.LastError})
	}
	return out
}

func writeStatusJSON(w io.Writer, s admin.Summary, hooks []webhook.ReceiverStatus, needs []string) {
	counts := map[string]int{}
	for _, c := range s.Counts {
		counts[string(c.State)] = c.N
	}
	var oldest *statusJob
	if s.OldestJob != nil {
		oldest = &statusJobs([]connector.Job{*s.OldestJob})[0]
	}
	if needs == nil {
		needs = []string{}
	}
	out := map[string]any{
		"at": s.At, "users": counts, "total": s.Total,
		"queue":                 map[string]any{"depth": s.QueueDepth, "oldest": oldest},
		"failedUsers":           map[string]any{"total": s.Failed.Total, "items": statusUsers(s.Failed.Items)},
		"failedJobs":            map[string]any{"total": s.FailedJobs.Total, "items": statusJobs(s.FailedJobs.Items)},
		"expiringIn7Days":       s.Expiring.Total,
		"pendingDeprovisioning": map[string]any{"users": s.DeprovisionUsers.Total, "userItems": statusUsers(s.DeprovisionUsers.Items), "jobs": s.DeprovisionQueued, "jobItems": statusJobs(s.DeprovisionJobs)},
		"webhooks":              statusWebhooks(hooks),
		"needsAdmin":            needs,
	}
	if !s.DeprovisionOldest.IsZero() {
		out["pendingDeprovisioning"].(map[string]any)["oldestQueued"] = s.DeprovisionOldest
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(w, string(b))
}

func writeStatusTable(w io.Writer, s admin.Summary, hooks []webhook.ReceiverStatus, needs []string) {
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
	fmt.Fprintf(w, "passbridge status at %s\n\nUsers by state\n", ts(s.At))
	for _, c := range s.Counts {
		fmt.Fprintf(w, "  %-15s %8d\n", c.State, c.N)
	}
	fmt.Fprintf(w, "  %-15s %8d\n", "total", s.Total)
	fmt.Fprintf(w, "  %-15s %8d\n\n", "expiring (7d)", s.Expiring.Total)
	fmt.Fprintf(w, "Outbox: %d job(s) queued", s.QueueDepth)
	if j := s.OldestJob; j != nil {
		fmt.Fprintf(w, "; oldest: job %d %s of %s, due %s, %d attempt(s)", j.ID, j.Kind, j.Subject, ts(j.RunAt), j.Attempts)
		if j.LastError != "" {
			fmt.Fprintf(w, ", last error: %s", j.LastError)
		}
	}
	fmt.Fprintf(w, "\n\nFailures: %d user(s), %d job(s)\n", s.Failed.Total, s.FailedJobs.Total)
	for _, u := range s.Failed.Items {
		fmt.Fprintf(w, "  user %s  %s  %s\n", u.ID, u.UserName, u.Onboarding.LastError)
	}
	for _, j := range s.FailedJobs.Items {
		fmt.Fprintf(w, "  job %d  %s of %s  %s\n", j.ID, j.Kind, j.Subject, j.LastError)
	}
	fmt.Fprintf(w, "\nPending deprovisioning: %d user(s) not yet disabled, %d job(s) queued", s.DeprovisionUsers.Total, s.DeprovisionQueued)
	if !s.DeprovisionOldest.IsZero() {
		fmt.Fprintf(w, ", oldest queued %s", ts(s.DeprovisionOldest))
	}
	fmt.Fprintln(w)
	for _, u := range s.DeprovisionUsers.Items {
		fmt.Fprintf(w, "  user %s  %s  guest %s  %s\n", u.ID, u.UserName, u.Onboarding.GuestID, u.Onboarding.LastError)
	}
	for _, j := range s.DeprovisionJobs {
		fmt.Fprintf(w, "  job %d  %s of %s  queued %s  %d attempt(s)  %s\n", j.ID, j.Kind, j.Subject, ts(j.Created), j.Attempts, j.LastError)
	}
	if len(hooks) > 0 {
		fmt.Fprintf(w, "\nWebhook receivers: %d\n", len(hooks))
		for _, h := range hooks {
			health := "ok"
			if h.Failing {
				health = fmt.Sprintf("FAILING (%d attempts in a row): %s", h.ConsecutiveFailures, h.LastError)
			}
			fmt.Fprintf(w, "  %-20s %6d pending  oldest %-10s %s\n", h.Name, h.Pending, h.OldestPendingAge.Round(time.Second), health)
		}
	}
	if len(needs) == 0 {
		fmt.Fprintln(w, "\nNothing needs an admin.")
		return
	}
	fmt.Fprintln(w, "\nNeeds an admin:")
	for _, n := range needs {
		fmt.Fprintf(w, "  - %s\n", n)
	}
}
