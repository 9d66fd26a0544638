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
//
// # In a test
//
//	sim, srv := graphsim.Start(graphsim.WithClock(clock.Now))
//	defer srv.Close()
//	// graph.Options{Endpoint: srv.URL, TokenCredential: graph.TokenFunc(
//	//     func(_ context.Context, scope string) (string, time.Time, error) {
//	//         tok, exp := sim.Token(strings.TrimSuffix(scope, "/.default"))
//	//         return tok, exp, nil
//	//     })}
//	// or, to run azidentity's managed identity credential for real:
//	//   IDENTITY_ENDPOINT=graphsim.IdentityEndpoint(srv.URL)
//	//   IDENTITY_HEADER=sim.IdentityHeader()
//	//   graph.Options{Endpoint: srv.URL, Credential: "managed"}
//
// # Stand-alone
//
//	err := graphsim.New().Serve(ctx, "127.0.0.1:8089", func(a net.Addr) { log(a) })
//
// Graph is then at http://ADDR/v1.0 (point graph.endpoint at http://ADDR),
// a token at POST http://ADDR/_sim/token ({"roles":[...]} optional), and
// the managed-identity endpoint at http://ADDR/_sim/identity/token. See
// serveControl for the control routes.
package graphsim
