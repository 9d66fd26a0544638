// Package graphsim is an in-process and stand-alone simulator of the
// Microsoft Graph v1.0 endpoints passbridge uses: invitations, guest users
// ($select, $filter, delta), authentication methods, the directory audit
// log, groups and members, and $batch. It also serves an App Service style
// managed-identity token endpoint, so azidentity's real credential chain can
// run against it, and checks the application permissions (roles) that each
// token carries.
//
// A control API (Go methods on *Sim, and HTTP under /_sim/) plays the user's
// part (redeem an invitation, register MFA, accept an agreement), injects
// faults (429 with Retry-After, 5xx, latency, hangs) and reports counts
// (invitations and mails per address, calls per endpoint, unexpected calls).
//
// graphsim must not import msgraph-sdk-go, so that it and its users compile
// in seconds, and it must not be used in production paths.
package graphsim
