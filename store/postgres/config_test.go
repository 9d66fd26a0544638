package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/passbridge/passbridge/connector"
)

// plaintext reports whether the config may ever talk to the server
// without TLS (pgx's "prefer" and "allow" keep a plaintext fallback).
func plaintext(cfg *pgxpool.Config) bool {
	if cfg.ConnConfig.TLSConfig == nil {
		return true
	}
	for _, fb := range cfg.ConnConfig.Fallbacks {
		if fb.TLSConfig == nil {
			return true
		}
	}
	return false
}

func TestSSLModeDefault(t *testing.T) {
	t.Setenv("PGSSLMODE", "")
	tests := map[string]struct {
		dsn           string
		wantPlaintext bool
	}{
		"remote host gets require":          {"postgres://pb:pw@db.example.com:5432/pb", false},
		"remote keyword form gets require":  {"host=db.example.com user=pb dbname=pb", false},
		"mixed hosts get require":           {"postgres://pb@127.0.0.1,db.example.com/pb", false},
		"explicit disable is honoured":      {"postgres://pb@db.example.com/pb?sslmode=disable", true},
		"explicit keyword disable honoured": {"host=db.example.com sslmode=disable", true},
		"explicit verify-full kept":         {"postgres://pb@db.example.com/pb?sslmode=verify-full", false},
		"127.0.0.1 keeps the default":       {"postgres://pb@127.0.0.1:5432/pb", true},
		"::1 keeps the default":             {"postgres://pb@[::1]:5432/pb", true},
		"localhost keeps the default":       {"postgres://pb@localhost/pb", true},
		"unix socket keeps the default":     {"postgres:///pb?host=/var/run/postgresql", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := parseConfig(tc.dsn)
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			if got := plaintext(cfg); got != tc.wantPlaintext {
				t.Errorf("plaintext possible = %v, want %v", got, tc.wantPlaintext)
			}
		})
	}
	t.Run("PGSSLMODE is an explicit choice", func(t *testing.T) {
		t.Setenv("PGSSLMODE", "disable")
		cfg, err := parseConfig("postgres://pb@db.example.com/pb")
		if err != nil {
			t.Fatal(err)
		}
		if !plaintext(cfg) {
			t.Error("PGSSLMODE=disable was overridden")
		}
	})
}

func TestRedact(t *testing.T) {
	cause := connector.ErrUnavailable
	tests := map[string]struct{ dsn, pw string }{
		"url password":     {"postgres://pb:Tr0ub4dor@db/pb", "Tr0ub4dor"},
		"escaped password": {"postgres://pb:Tr0ub4dor%2F@db/pb", "Tr0ub4dor/"},
		"query password":   {"postgres://pb@db/pb?password=Tr0ub4dor", "Tr0ub4dor"},
		"keyword password": {"host=db user=pb password=Tr0ub4dor", "Tr0ub4dor"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := redact(errors.Join(errors.New("failed at "+tc.dsn+" with "+tc.pw), cause), tc.dsn)
			if strings.Contains(err.Error(), "Tr0ub4dor") {
				t.Errorf("password in %q", err)
			}
			if !errors.Is(err, cause) {
				t.Error("redaction lost the cause")
			}
		})
	}
	if _, err := parseConfig("postgres://pb:Tr0ub4dor@db:notaport/pb"); err == nil || strings.Contains(err.Error(), "Tr0ub4dor") {
		t.Errorf("parse error = %v, want an error without the password", err)
	}
}
