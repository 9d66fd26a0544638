// Package postgres is the connector.Store on PostgreSQL (pgx, pgxpool), for
// several passbridge replicas sharing one database.
//
// Updates lock the row they change (SELECT … FOR UPDATE) in READ COMMITTED
// transactions and retry on deadlock or serialisation failure; job claims
// use FOR UPDATE SKIP LOCKED with lease columns; leader leases are one
// upsert. Lease times (jobs and leader leases) are set and compared on the
// database's clock, not the replicas', which may disagree. The update,
// delete and append paths are store/internal/sqlq's, shared with
// store/sqlite; a create stays here, pipelined in one batch. The schema is the same as store/sqlite's, with bytewise ("C")
// collation on keys so both backends order and compare alike. Migrations
// are embedded and serialised across replicas with an advisory lock.
package postgres
