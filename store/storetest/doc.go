// Package storetest is the conformance suite every connector.Store backend
// runs (modelled on dex's storage/conformance): Run for behaviour, Bench
// for figures. A backend's test file only opens a fresh store per test.
//
// The suite pins what the connector relies on and what no single backend
// may relax: case-insensitive userName/displayName uniqueness,
// compare-and-swap updates without lost updates, changes (jobs, events)
// committed atomically with the resource, filters evaluated exactly with
// literal LIKE metacharacters, leases driven by the caller's clock
// (store/postgres times them by the database's; its tests switch that off
// for the suite).
package storetest
