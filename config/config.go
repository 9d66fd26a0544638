package config

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/passbridge/passbridge/connector"
)

// DefaultPath is the configuration file used when --config is not given and
// the file exists in the working directory.
const DefaultPath = "passbridge.yaml"

// EnvPrefix starts every environment variable that overrides a key.
const EnvPrefix = "PASSBRIDGE_"

// Config is passbridge's whole configuration. The YAML names are the keys of
// the configuration contract (docs/ARCHITECTURE.md, "Configuration").
type Config struct {
	Server     Server      `yaml:"server"`
	Log        Log         `yaml:"log"`
	SCIM       SCIM        `yaml:"scim"`
	Database   Database    `yaml:"database"`
	Graph      Graph       `yaml:"graph"`
	Azure      Azure       `yaml:"azure"`
	Invitation Invitation  `yaml:"invitation"`
	Policy     Policy      `yaml:"policy"`
	Agreements []Agreement `yaml:"agreements" validate:"dive"`
	Seed       Seed        `yaml:"seed"`
	Groups     Groups      `yaml:"groups"`
	Reconcile  Reconcile   `yaml:"reconcile"`
	Worker     Worker      `yaml:"worker"`
	Runtime    Runtime     `yaml:"runtime"`
	// Webhooks receive the event log (see webhooks.go).
	Webhooks []Webhook `yaml:"webhooks" validate:"dive"`
	Mail     Mail      `yaml:"mail"`
	Admin    Admin     `yaml:"admin"`
	// Lifecycle and MFA: the rules after sign-up (lifecycle.go).
	Lifecycle Lifecycle `yaml:"lifecycle"`
	MFA       MFA       `yaml:"mfa"`
}

// Server configures the HTTP server (SCIM, health, metrics).
type Server struct {
	Listen            string   `yaml:"listen" validate:"required,listenaddr"`
	PublicURL         string   `yaml:"publicURL" validate:"omitempty,weburl"`
	ReadHeaderTimeout Duration `yaml:"readHeaderTimeout" validate:"gt=0s,max=10m"`
	ReadTimeout       Duration `yaml:"readTimeout" validate:"gt=0s,max=1h"`
	WriteTimeout      Duration `yaml:"writeTimeout" validate:"gt=0s,max=1h"`
	IdleTimeout       Duration `yaml:"idleTimeout" validate:"gt=0s,max=24h"`
	ShutdownTimeout   Duration `yaml:"shutdownTimeout" validate:"gt=0s,max=10m"`
	MaxBodyBytes      int64    `yaml:"maxBodyBytes" validate:"min=1024,max=104857600"`
	// TrustedProxies are the load balancers (CIDRs) whose X-Forwarded-For
	// names the client, for the failed-authentication limit. Empty: the
	// peer address is the client.
	TrustedProxies []string `yaml:"trustedProxies" validate:"dive,cidr"`
	// TLS, when its two files are set, makes listen (and adminListen) serve
	// HTTPS; empty: plain HTTP.
	TLS TLS `yaml:"tls"`
	// AdminListen, when set, serves /healthz, /readyz and /metrics on this
	// address (with the same TLS settings) and no longer on listen, so that
	// only SCIM is reachable on the SCIM port. Empty: everything on listen.
	AdminListen string `yaml:"adminListen" validate:"omitempty,listenaddr"`
	// AccessLog is the level of the access-log line of a successful SCIM
	// request: debug (default: not shown at log.level info), info, or off.
	// Answers of 400 and above are logged whatever it says (4xx at info,
	// 5xx at warn). The audit trail is the event log, not this line.
	AccessLog string `yaml:"accessLog" validate:"oneof=debug info off"`
	// AccessLogSample is the share of successful requests that get a line
	// (1: each; 0.01: one in a hundred).
	AccessLogSample float64 `yaml:"accessLogSample" validate:"gt=0,lte=1"`
	// Pprof serves Go's profiler (net/http/pprof) at /debug/pprof/ on
	// adminListen, for profiling serve under its real load. Off by default;
	// it needs adminListen, so it is never on the SCIM port.
	Pprof bool `yaml:"pprof"`
}

// TLS names the PEM files of the server's certificate (chain) and private
// key. Both or neither; they are re-read when they change on disk.
type TLS struct {
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
}

// Enabled reports whether HTTPS is configured (both files set).
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// Runtime tunes the Go garbage collector (applied by serve at start; see
// BENCHMARKS.md for the figures behind the defaults). A key left at 0 takes
// the GOGC or GOMEMLIMIT environment variable when set, else passbridge's
// default.
type Runtime struct {
	// GOGC is the collector's heap growth percentage; -1 turns it off
	// (then memoryLimitMB bounds the heap). 0: GOGC, else 400.
	GOGC int `yaml:"gogc" validate:"gte=-1,lte=100000"`
	// MemoryLimitMB is the soft memory limit in MiB (runtime/debug
	// SetMemoryLimit): the collector works harder near it. 0: GOMEMLIMIT,
	// else 384.
	MemoryLimitMB int64 `yaml:"memoryLimitMB" validate:"gte=0"`
}

// Log configures the process logger.
type Log struct {
	Level  string `yaml:"level" validate:"oneof=debug info warn error"`
	Format string `yaml:"format" validate:"oneof=json text"`
}

// SlogLevel returns the slog level named by Level (info when unknown).
func (l Log) SlogLevel() slog.Level {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
		return slog.LevelInfo
	}
	return lv
}

// SCIM configures the SCIM endpoint.
type SCIM struct {
	Tokens []Token `yaml:"tokens" validate:"dive"`
}

// Token is an accepted SCIM bearer token, stored as the hex SHA-256 of the
// token (see HashToken).
type Token struct {
	Name   string `yaml:"name" validate:"required"`
	SHA256 string `yaml:"sha256" validate:"required,sha256hex"`
	// Scopes are what the client may do (Scope…); empty: all of them.
	Scopes []string `yaml:"scopes"`
	// OwnUsersOnly: the client sees and changes only the users it created;
	// any other user is a 404 to it.
	OwnUsersOnly bool `yaml:"ownUsersOnly"`
}

// The scopes of scim.tokens[].scopes.
const (
	ScopeUsersRead   = "users:read"   // GET and search /Users
	ScopeUsersWrite  = "users:write"  // POST, PUT, PATCH /Users
	ScopeUsersDelete = "users:delete" // DELETE /Users
	ScopeGroups      = "groups"       // anything under /Groups
)

// AllScopes are every scope, the default of scim.tokens[].scopes.
func AllScopes() []string {
	return []string{ScopeUsersRead, ScopeUsersWrite, ScopeUsersDelete, ScopeGroups}
}

// EffectiveScopes returns t.Scopes, or every scope when none is listed.
func (t Token) EffectiveScopes() []string {
	if t.Scopes == nil {
		return AllScopes()
	}
	return t.Scopes
}

// Database says where state is kept.
type Database struct {
	// URL is "sqlite:PATH" or "postgres://user:password@host:port/db?...".
	URL string `yaml:"url" validate:"required,dburl"`
}

// Dialect returns "sqlite" or "postgres" (or "" for an invalid URL).
func (d Database) Dialect() string {
	switch {
	case strings.HasPrefix(d.URL, "sqlite:"):
		return "sqlite"
	case strings.HasPrefix(d.URL, "postgres://"), strings.HasPrefix(d.URL, "postgresql://"):
		return "postgres"
	}
	return ""
}

// SQLitePath returns the file path of a "sqlite:PATH" URL ("" otherwise).
func (d Database) SQLitePath() string {
	if p, ok := strings.CutPrefix(d.URL, "sqlite:"); ok {
		return p
	}
	return ""
}

// Graph says where Microsoft Graph (or the simulator) is.
type Graph struct {
	// Endpoint is the Graph root without the version.
	Endpoint string `yaml:"endpoint" validate:"required,secureurl"`
}

// BaseURL returns the endpoint with "/v1.0" appended.
func (g Graph) BaseURL() string {
	return strings.TrimRight(g.Endpoint, "/") + "/v1.0"
}

// Credential kinds for Azure.Credential.
const (
	CredentialDefault     = "default"
	CredentialSecret      = "secret"
	CredentialCertificate = "certificate"
	CredentialWorkload    = "workload"
	CredentialManaged     = "managed"
)

// Azure says how passbridge authenticates to Entra ID.
type Azure struct {
	TenantID            string `yaml:"tenantID" validate:"omitempty,guid"`
	ClientID            string `yaml:"clientID" validate:"omitempty,guid"`
	Credential          string `yaml:"credential" validate:"oneof=default secret certificate workload managed"`
	ClientSecret        string `yaml:"clientSecret"`
	CertificatePath     string `yaml:"certificatePath"`
	CertificatePassword string `yaml:"certificatePassword"`
	AuthorityHost       string `yaml:"authorityHost" validate:"omitempty,httpsurl"`
	FederatedTokenFile  string `yaml:"federatedTokenFile"`
}

// Invitation shapes the B2B invitation.
type Invitation struct {
	RedirectURL  string   `yaml:"redirectURL" validate:"required,secureurl"`
	SendEmail    bool     `yaml:"sendEmail"`
	Message      string   `yaml:"message" validate:"max=10000"`
	CCRecipients []string `yaml:"ccRecipients" validate:"max=1,dive,email"`
	Language     string   `yaml:"language" validate:"omitempty,bcp47_language_tag"`
	Validity     Duration `yaml:"validity" validate:"gt=0s,max=8760h"`
	// AdoptExistingGuests lets passbridge adopt a guest that was in the
	// tenant before its invitation (never a member); false puts such a user
	// in state conflict.
	AdoptExistingGuests bool `yaml:"adoptExistingGuests"`
	// ResendMinInterval: a resend (SCIM resendInvitation, the console)
	// sooner than this after the last invitation is refused; 0: no limit.
	ResendMinInterval Duration `yaml:"resendMinInterval" validate:"min=0s,max=720h"`
}

// Policy decides which e-mail addresses may sign up.
type Policy struct {
	AllowedDomains      []string `yaml:"allowedDomains" validate:"dive,domainpattern"`
	BlockedDomains      []string `yaml:"blockedDomains" validate:"dive,domainpattern"`
	BlockedMailboxTypes []string `yaml:"blockedMailboxTypes" validate:"dive,required"`
}

// When an agreement must be accepted, for Agreement.RequiredWhen.
const (
	RequiredAlways = "always"
	RequiredSeed   = "seed"
)

// Agreement is a Terms of Use agreement that onboarding waits for.
type Agreement struct {
	Name         string `yaml:"name" validate:"required"`
	ID           string `yaml:"id" validate:"required,guid"`
	RequiredWhen string `yaml:"requiredWhen" validate:"required,oneof=always seed"`
}

// Seed configures SEED (device) provisioning.
type Seed struct {
	GroupID         string   `yaml:"groupID" validate:"omitempty,guid"`
	DueBusinessDays int      `yaml:"dueBusinessDays" validate:"min=1,max=30"`
	Holidays        []string `yaml:"holidays" validate:"dive,isodate"`
	Validity        Duration `yaml:"validity" validate:"gt=0s,max=8760h"`
	// TimeZone is where business days are counted (IANA name).
	TimeZone string `yaml:"timeZone" validate:"required,timezone"`
}

// HolidayDates returns Holidays parsed as dates (UTC midnight).
func (s Seed) HolidayDates() ([]time.Time, error) {
	out := make([]time.Time, 0, len(s.Holidays))
	for i, h := range s.Holidays {
		t, err := time.Parse(time.DateOnly, h)
		if err != nil {
			return nil, fmt.Errorf("seed.holidays[%d]: %w", i, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// Groups says which Entra group a SCIM group is mirrored to.
type Groups struct {
	// Map is SCIM displayName → Entra group id. An entry is the id, or
	// {id, clients} to name the SCIM clients (scim.tokens names) allowed to
	// use the group; its clients land in Clients, so that Map keeps its
	// form (and PASSBRIDGE_GROUPS_MAP its key=value pairs).
	Map map[string]string `yaml:"map" validate:"dive,keys,required,endkeys,guid"`
	// Clients are, per Map key written as {id, clients}, the clients allowed
	// to use it; a key without clients may be used by every client. Set by
	// the loader from groups.map, it has no key of its own.
	Clients map[string][]string `yaml:"-"`
	// Create says whether a SCIM group groups.map does not map creates an
	// Entra group [true]; false refuses it (SCIM 400 naming displayName).
	Create bool `yaml:"create"`
}

// groupMapEntry is the {id, clients} form of a groups.map entry.
type groupMapEntry struct {
	ID      string   `yaml:"id"`
	Clients []string `yaml:"clients"`
}

// rewriteNode takes the {id, clients} entries of groups.map apart: their
// clients go to Clients (problems reported under groups.map[name].…) and
// the id stays in the map's place, which then decodes as the plain form.
func (g *Groups) rewriteNode(n *yaml.Node, key string, ps *Problems) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return n
	}
	out := *n
	out.Content = append([]*yaml.Node(nil), n.Content...)
	for i := 0; i+1 < len(out.Content); i += 2 {
		mn := out.Content[i+1]
		for mn.Kind == yaml.AliasNode && mn.Alias != nil {
			mn = mn.Alias
		}
		if out.Content[i].Value != "map" || mn.Kind != yaml.MappingNode {
			continue
		}
		m := *mn
		m.Content = append([]*yaml.Node(nil), mn.Content...)
		for j := 0; j+1 < len(m.Content); j += 2 {
			kn, vn := m.Content[j], m.Content[j+1]
			if vn.Kind != yaml.MappingNode {
				continue
			}
			var e groupMapEntry
			decodeNode(vn, reflect.ValueOf(&e).Elem(), fmt.Sprintf("%s.map[%s]", key, kn.Value), ps)
			if len(e.Clients) > 0 {
				if g.Clients == nil {
					g.Clients = map[string][]string{}
				}
				g.Clients[kn.Value] = e.Clients
			}
			m.Content[j+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: e.ID, Line: vn.Line, Column: vn.Column}
		}
		out.Content[i+1] = &m
	}
	return &out
}

// Reconcile paces the reconciler.
type Reconcile struct {
	Interval Duration `yaml:"interval" validate:"min=1s,max=24h"`
	// Lease is how long the replica holding the reconciler role keeps it
	// without progress (a pass started, a page of users done): a stuck
	// holder gives it up after it (at least 2×interval). Left out: the
	// larger of 5m and 2×interval. A holder that dies loses the role within
	// about 15 s, whatever Lease is (it renews a short lease while it lives).
	Lease     Duration `yaml:"lease" validate:"min=2s,max=48h"`
	BatchSize int      `yaml:"batchSize" validate:"min=1,max=1000"`
}

// Worker paces the outbox worker.
type Worker struct {
	Concurrency int `yaml:"concurrency" validate:"min=1,max=64"`
	// Lease bounds one attempt of a job (its Graph calls get half of it).
	// The claim itself is shorter (15 s, at most Lease) and renewed while
	// the job runs, so a dead worker's jobs come back quickly.
	Lease       Duration `yaml:"lease" validate:"min=10s,max=1h"`
	MaxAttempts int      `yaml:"maxAttempts" validate:"min=1,max=1000"`
}

// Mail configures passbridge's own mails (invitations with their redeem
// link when invitation.sendEmail is false, reminders and notices).
type Mail struct {
	// From is the sender, "Name <address>" or an address; required with
	// smtp.host.
	From string `yaml:"from"`
	SMTP SMTP   `yaml:"smtp"`
	// Templates is a folder whose NAME.txt / NAME.html files override the
	// embedded templates (invitation, reminder, terminationNotice,
	// terminated, inactivityNotice, disabled).
	Templates string `yaml:"templates"`
}

// SMTP is the mail server. Mail is sent only when Host is set.
type SMTP struct {
	Host     string `yaml:"host" validate:"omitempty,hostorip"`
	Port     int    `yaml:"port" validate:"min=1,max=65535"`
	Username string `yaml:"username"`
	// Password may be a ${ENV} reference; it is redacted in dumps and logs.
	Password string `yaml:"password"`
	// StartTLS makes STARTTLS mandatory [true]; false sends in the clear,
	// only for a relay on the same host or a trusted network.
	StartTLS bool `yaml:"starttls"`
	// Timeout bounds connecting and each SMTP command.
	Timeout Duration `yaml:"timeout" validate:"gt=0s,max=10m"`
}

// Enabled reports whether passbridge sends mail (mail.smtp.host set).
func (m Mail) Enabled() bool { return m.SMTP.Host != "" }

// Admin configures the operators' console at /admin/ and its JSON API
// /admin/api/*. No tokens: the console is off.
type Admin struct {
	// Tokens are the admins' sign-in tokens, hashed like scim.tokens
	// ("passbridge token new"); the name is the admin's, in every event
	// their actions write (actor "admin:<name>").
	Tokens []Token `yaml:"tokens" validate:"dive"`
	// SessionTTL is how long a console sign-in lasts.
	SessionTTL Duration `yaml:"sessionTTL" validate:"min=1m,max=168h"`
}

// Default returns the configuration with every default of the contract.
func Default() *Config {
	return &Config{
		Server: Server{
			Listen:            ":8080",
			ReadHeaderTimeout: Duration(5 * time.Second),
			ReadTimeout:       Duration(30 * time.Second),
			WriteTimeout:      Duration(30 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			ShutdownTimeout:   Duration(20 * time.Second),
			MaxBodyBytes:      1 << 20,
			AccessLog:         "debug",
			AccessLogSample:   1,
		},
		Log:      Log{Level: "info", Format: "json"},
		Database: Database{URL: "sqlite:passbridge.db"},
		Graph:    Graph{Endpoint: "https://graph.microsoft.com"},
		Azure:    Azure{Credential: CredentialDefault},
		// The domain's knobs take the domain's defaults, so that a key left
		// out and a zero option mean the same.
		Invitation: Invitation{SendEmail: true, Validity: Duration(connector.DefaultInvitationValidity),
			ResendMinInterval: Duration(connector.DefaultResendMinInterval)},
		Policy: Policy{BlockedMailboxTypes: connector.DefaultBlockedMailboxTypes()},
		Seed: Seed{DueBusinessDays: connector.DefaultSeedDueBusinessDays, Validity: Duration(connector.DefaultSeedValidity),
			TimeZone: connector.DefaultSeedTimeZone},
		Groups: Groups{Create: true},
		Reconcile: Reconcile{Interval: Duration(connector.DefaultReconcileInterval), Lease: Duration(connector.DefaultReconcileLease),
			BatchSize: connector.DefaultReconcileBatchSize},
		Worker: Worker{Concurrency: connector.DefaultWorkerConcurrency, Lease: Duration(connector.DefaultWorkerLease),
			MaxAttempts: connector.DefaultWorkerMaxAttempts},
		Mail:      Mail{SMTP: SMTP{Port: 587, StartTLS: true, Timeout: Duration(30 * time.Second)}},
		Admin:     Admin{SessionTTL: Duration(8 * time.Hour)},
		Lifecycle: defaultLifecycle(),
	}
}

// Duration is a time.Duration written as a Go duration string ("720h", "1m")
// in YAML and the environment.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: write a number with a unit such as \"90s\", \"1m\" or \"720h\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration such as \"720h\", found a %s", kindName(n))
	}
	return d.UnmarshalText([]byte(n.Value))
}
