// Package admin is the operators' console at /admin/ and its JSON API at
// /admin/api/: server-rendered pages (html/template, every asset embedded,
// nothing fetched from elsewhere, so it works in a closed network) that show
// where people are stuck and let an admin act on one person.
//
// Files: admin.go (Server, routes, security headers), auth.go (sign-in,
// sessions, CSRF, the sign-in limiter, bearer tokens), summary.go (what the
// dashboard and `passbridge status` read), pages.go (the HTML pages and
// actions), funnel.go (the SVG chart), api.go (JSON), importcsv.go (the
// CSV bulk onboarding shared with `passbridge import`).
//
// It reads through connector.Store and connector.ConsoleStore and changes
// users only through connector.Service; it must not import msgraph-sdk-go.
package admin
