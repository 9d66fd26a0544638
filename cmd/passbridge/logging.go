package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/passbridge/passbridge/config"
)

// sensitiveKeys are dropped by the log handler whatever the call site
// passes: one place to keep secrets and addresses out of logs (dex's habit).
var sensitiveKeys = map[string]bool{
	"token":    false, // the token's *name* is logged under "token"; values never are
	"password": true, "secret": true, "clientsecret": true, "authorization": true,
	"inviteredeemurl": true, "redeemurl": true, "access_token": true, "email": true, "mail": true,
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{
		Level: c.SlogLevel(),
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if sensitiveKeys[strings.ToLower(a.Key)] {
				return slog.String(a.Key, "[redacted]")
			}
			return a
		},
	}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
