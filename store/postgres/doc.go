// Package postgres is the connector.Store on PostgreSQL (pgx, pgxpool), for
// several passbridge replicas sharing one database.
//
// Updates lock the row they change (SELECT … FOR UPDATE) in READ COMMITTED
// transactions and retry on deadlock or serialisation failure; job claims
// use FOR UPDATE SKIP LOCKED with lease columns; leader leases are one
// upsert. The schema is the same as store/sqlite's, with bytewise ("C")
// collation on keys so both backends order and compare alike. Migrations
// are embedded and serialised across replicas with an advisory lock.
package postgres
