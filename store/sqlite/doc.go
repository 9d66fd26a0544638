// Package sqlite is the connector.Store for a single passbridge instance: one
// SQLite database file (modernc.org/sqlite, no cgo), in WAL mode with
// synchronous=FULL so that a write has reached the disk when it returns.
//
// Writes go through one connection, so compare-and-swap updates and job
// claims are serialised by construction; reads use a small pool. Several
// replicas need store/postgres instead. Filters are translated to SQL with
// bound parameters (store/internal/sqlq), never evaluated in memory.
package sqlite
