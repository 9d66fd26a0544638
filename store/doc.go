// Package store opens the connector.Store that the configuration's
// database.url names: SQLite (store/sqlite, the default, one instance) or
// PostgreSQL (store/postgres, several replicas).
//
// Backends implement connector.Store and pass the conformance suite in
// store/storetest; dialect differences stay inside them. Nothing here holds
// business rules: the connector decides what to store, the store only
// keeps it safely.
package store
