// Package connector is passbridge's domain: users and groups as passbridge
// keeps them, onboarding facts and the state derived from them, the sign-up
// policy, the durable outbox worker and the reconciler.
//
// It declares the interfaces it needs from the outside world (Store, Directory,
// Clock) and must not import msgraph-sdk-go or a SQL driver: backends live in
// store/… and graph, and are wired together by cmd/passbridge.
package connector
