package store

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/passbridge/passbridge/connector"
	"github.com/passbridge/passbridge/store/postgres"
	"github.com/passbridge/passbridge/store/sqlite"
)

// Forms lists the database URLs Open accepts, for error messages and docs.
const Forms = "sqlite:PATH, sqlite://PATH, file:PATH, postgres://… or postgresql://…"

// Open opens the store that databaseURL names (database.url):
//
//	sqlite:passbridge.db           SQLite file, relative to the working directory
//	sqlite:///var/lib/pb/pb.db     SQLite, absolute path (also sqlite://relative/path)
//	file:passbridge.db             SQLite, as above (no URI parameters)
//	postgres://user@host/db        PostgreSQL (also postgresql://); sslmode=require
//	                               unless given or the host is local
func Open(ctx context.Context, databaseURL string) (connector.Store, error) {
	scheme, rest, ok := strings.Cut(databaseURL, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("store: database URL has no scheme; use %s", Forms)
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return nil, fmt.Errorf("store: sqlite: a database file path is required (sqlite:PATH)")
		}
		return openSQLite(ctx, path)
	case "file":
		u, err := url.Parse(databaseURL)
		if err != nil {
			return nil, fmt.Errorf("store: file URL: %w", err)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("store: file URL: parameters are not supported; passbridge sets the SQLite options itself")
		}
		path := u.Path
		if path == "" {
			path = u.Opaque
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("store: file URL: host %q: only local files are supported", u.Host)
		}
		if path == "" {
			return nil, fmt.Errorf("store: file URL: a database file path is required (file:PATH)")
		}
		return openSQLite(ctx, path)
	case "postgres", "postgresql":
		s, err := postgres.Open(ctx, databaseURL)
		if err != nil {
			return nil, err // already redacted and prefixed "postgres:"
		}
		return s, nil
	}
	// Only the scheme is echoed: the rest may hold a password.
	return nil, fmt.Errorf("store: unsupported database URL scheme %q; use %s", scheme, Forms)
}

func openSQLite(ctx context.Context, path string) (connector.Store, error) {
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	return s, nil
}
