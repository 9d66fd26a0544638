// Package connector is passbridge's domain: users and groups as passbridge
// keeps them, onboarding facts and the state derived from them, the sign-up
// policy, the durable outbox worker and the reconciler.
//
// It declares the interfaces it needs from the outside world (Store, the
// directory's capability interfaces, Clock) and must not import
// msgraph-sdk-go or a SQL driver: backends live in store/… and graph, and
// are wired together by cmd/passbridge.
//
// The files read in one direction:
//
//   - types: types.go, store.go, directory.go, errors.go, options.go,
//     payloads.go (what each job kind carries), filter.go, policy.go,
//     businessdays.go;
//   - derived state: state.go (Derive, settle, the fact events);
//   - the operations SCIM calls: service.go (Service), changes.go (what a
//     create, update or delete means: facts, jobs, events);
//   - jobs: outbox.go (the Worker: claim, backoff, fail), outbox_claim.go
//     (renewing a claim while a job runs), outbox_deprovision.go (jobs that
//     take access away are never given up) and one handler per
//     job kind, job_invite.go, job_enable.go, job_deleteguest.go,
//     job_seed.go, job_groupsync.go (with the groups.map checks),
//     job_groupremove.go, job_groupdelete.go, job_mail.go (passbridge's own
//     mails through a Mailer, not sent twice for one event);
//   - reconcile: reconciler.go (the pass, lease, cursors),
//     reconcile_feeds.go (delta and audit log), reconcile_page.go (one page
//     of users), reconcile_drift.go (guests that should be disabled are).
//
// A new job kind is a JobKind constant, a payload in payloads.go, a handler
// file and one line in NewWorker; a handler returns Terminal(err) for what
// retrying cannot fix.
package connector
