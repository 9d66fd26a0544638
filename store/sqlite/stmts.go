package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxCachedStmts bounds the statement cache: filters compile to a handful
// of shapes (values are bound), but a client could send many.
const maxCachedStmts = 256

// stmtCache keeps prepared statements by query text. Parsing and planning a
// statement costs SQLite more than running a point query, so the hot
// statements (get by id, filter by userName, inserts) are prepared once per
// connection (database/sql re-prepares an *sql.Stmt lazily on each
// connection of the pool).
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
	// pending are being prepared in the background; bg counts those
	// goroutines, so that close can wait for them: one that still holds a
	// connection when the pool is closed would close it later, after Close
	// returned (seen as a test's TempDir that is not empty at cleanup).
	pending map[string]bool
	bg      sync.WaitGroup
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// get returns the prepared statement for query, or nil when it is not
// (yet) prepared, cannot be or the cache is full: the caller then runs the
// query unprepared, which reports any error itself. Inside a transaction
// (inTx) nothing is prepared synchronously: preparing needs a connection of
// the pool, and the transaction may hold the last one (the writer has only
// one), so the statement is prepared in the background for next time.
func (c *stmtCache) get(ctx context.Context, query string, inTx bool) *sql.Stmt {
	c.mu.RLock()
	st, ok := c.m[query]
	c.mu.RUnlock()
	if ok {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok || c.m == nil || c.pending[query] || len(c.m)+len(c.pending) >= maxCachedStmts {
		return st
	}
	if inTx {
		c.pending[query] = true
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			st, err := c.db.PrepareContext(context.WithoutCancel(ctx), query)
			c.mu.Lock()
			defer c.mu.Unlock()
			delete(c.pending, query)
			if err != nil {
				return
			}
			if c.m == nil { // closed meanwhile
				_ = st.Close()
				return
			}
			c.m[query] = st
		}()
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.m[query] = st
	return st
}

// warm prepares queries now (outside of any transaction).
func (c *stmtCache) warm(ctx context.Context, queries ...string) {
	for _, q := range queries {
		c.get(ctx, q, false)
	}
}

// close closes every cached statement; get prepares nothing afterwards.
func (c *stmtCache) close() error {
	c.mu.Lock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	c.mu.Unlock()
	// A background prepare finishing now sees c.m nil and closes its
	// statement; wait for it before the caller closes the pool.
	c.bg.Wait()
	return errors.Join(errs...)
}

// prepared is a queryer that runs queries through the statement cache, on
// the cache's pool or, when tx is set, in tx.
type prepared struct {
	cache *stmtCache
	tx    *sql.Tx
}

var _ queryer = prepared{}

func (p prepared) plain() queryer {
	if p.tx != nil {
		return p.tx
	}
	return p.cache.db
}

func (p prepared) stmt(ctx context.Context, query string) *sql.Stmt {
	st := p.cache.get(ctx, query, p.tx != nil)
	if st == nil || p.tx == nil {
		return st
	}
	return p.tx.StmtContext(ctx, st)
}

func (p prepared) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st := p.stmt(ctx, query)
	if st == nil {
		return p.plain().ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (p prepared) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st := p.stmt(ctx, query)
	if st == nil {
		return p.plain().QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (p prepared) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st := p.stmt(ctx, query)
	if st == nil {
		return p.plain().QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
