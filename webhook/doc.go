// Package webhook delivers the event log to configured receivers
// (webhooks: [{url, secret, events}]) as CloudEvents 1.0 JSON, signed the
// Standard Webhooks way.
//
// The SCIM write does no webhook work: it appends its events to the log in
// its own transaction, as before. The Dispatcher follows the log by a
// stored cursor per receiver and turns each matching event into a durable
// delivery row (one per event and receiver, in the store's own table, not
// the connector's outbox, so that a failing receiver can neither hold up
// invitations nor occupy the connector's workers). One sender loop per
// receiver claims its due deliveries, POSTs them, and records the outcome:
// delivered, retried with exponential backoff (capped at 1 h), or, after 14
// days, dropped with an error log and a counter.
//
// Guarantee: at least once. A delivery is re-sent after a crash between the
// receiver's answer and the commit of the outcome, so receivers de-duplicate
// by webhook-id (the event id, stable across retries). Order is not
// guaranteed: a retried event may arrive after later ones; the CloudEvents
// id and time let a receiver order them.
//
// It must not import msgraph-sdk-go or a SQL driver.
package webhook
