package sqlite

import (
	"context"
	"fmt"
	"sync"

	"github.com/passbridge/passbridge/connector"
)

// maxGroup bounds how many creates share one transaction.
const maxGroup = 128

// committer groups concurrent CreateUser calls into one transaction, so
// that N creates cost one WAL fsync instead of N (group commit). Callers
// queue; one of them, the leader, takes the queue, runs every create under
// its own SAVEPOINT and commits once; then it hands the lead to the first
// caller queued meanwhile. A create that fails (a taken userName) is rolled
// back to its savepoint alone and its caller gets exactly its error; the
// others commit. Nobody returns before the commit that holds their row is
// on disk, or before it failed.
type committer struct {
	mu    sync.Mutex
	queue []*createReq
	busy  bool // a leader is running; false implies an empty queue
}

type createReq struct {
	ctx  context.Context
	u    connector.User
	ch   connector.Change
	row  []any
	done chan createDone // buffered: the leader never blocks on it
}

// createDone is either the lead (run a group) or the caller's result.
type createDone struct {
	lead bool
	err  error
}

// createGrouped commits one create as part of a group and returns its
// error (already wrapped).
func (s *Store) createGrouped(ctx context.Context, u connector.User, ch connector.Change, row []any) error {
	req := &createReq{ctx: ctx, u: u, ch: ch, row: row, done: make(chan createDone, 1)}
	c := &s.creates
	c.mu.Lock()
	c.queue = append(c.queue, req)
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()
	if lead {
		s.runGroup()
	}
	for {
		d := <-req.done
		if !d.lead {
			return d.err
		}
		s.runGroup()
	}
}

// runGroup commits the first maxGroup queued creates (the leader's own is
// the first), answers their callers and passes the lead on.
func (s *Store) runGroup() {
	c := &s.creates
	c.mu.Lock()
	n := min(len(c.queue), maxGroup)
	group := c.queue[:n:n]
	c.queue = append([]*createReq(nil), c.queue[n:]...)
	c.mu.Unlock()

	errs := s.commitGroup(group)
	for i, r := range group {
		r.done <- createDone{err: errs[i]}
	}

	c.mu.Lock()
	if len(c.queue) == 0 {
		c.busy = false
		c.mu.Unlock()
		return
	}
	next := c.queue[0]
	c.mu.Unlock()
	next.done <- createDone{lead: true}
}

// commitGroup runs the creates in one transaction and returns each one's
// error.
func (s *Store) commitGroup(group []*createReq) []error {
	const op = "create user"
	errs := make([]error, len(group))
	fail := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = wrap(op, err)
			}
		}
		return errs
	}
	// The group outlives any one caller's context; each caller's own is
	// checked before its create runs.
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	q := s.wtx(tx)
	if len(group) == 1 {
		r := group[0]
		if err := r.ctx.Err(); err != nil {
			return fail(err)
		}
		if err := s.sq.InsertUser(ctx, q, r.u, r.ch, r.row); err != nil {
			return fail(err)
		}
		if err := tx.Commit(); err != nil {
			return fail(err)
		}
		return errs
	}
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			errs[i] = wrap(op, err)
			continue
		}
		if _, err := q.Exec(ctx, `SAVEPOINT create_user`); err != nil {
			return fail(err)
		}
		if err := s.sq.InsertUser(ctx, q, r.u, r.ch, r.row); err != nil {
			errs[i] = wrap(op, err)
			if _, err := q.Exec(ctx, `ROLLBACK TO create_user`); err != nil {
				return fail(fmt.Errorf("rollback to savepoint: %w", err))
			}
		}
		if _, err := q.Exec(ctx, `RELEASE create_user`); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return errs
}
