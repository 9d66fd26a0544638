// Package graph implements connector.Directory over Microsoft Graph v1.0
// with msgraph-sdk-go and azidentity: B2B invitations, guest reads
// ($select, $filter, $batch, delta), authentication methods, Terms of Use
// events from the directory audit log, account disable/delete and group
// membership, with throttling handled here rather than by the SDK.
//
// Only this package (and cmd, which wires it) may import msgraph-sdk-go: it
// is slow and heavy to compile. It knows nothing about SCIM.
package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/passbridge/passbridge/connector"
)

// Credential kinds for Options.Credential.
const (
	CredentialDefault     = "default"     // azidentity.DefaultAzureCredential
	CredentialSecret      = "secret"      // client id + secret
	CredentialCertificate = "certificate" // client id + PEM/PKCS#12 certificate
	CredentialWorkload    = "workload"    // workload identity federation (AKS)
	CredentialManaged     = "managed"     // managed identity (IMDS, App Service, ...)
)

// DefaultEndpoint is the global Graph root; "/v1.0" is appended.
const DefaultEndpoint = "https://graph.microsoft.com"

// Options configures a Client. Zero values take the documented defaults.
type Options struct {
	// Endpoint is the Graph root without version (national clouds, or the
	// simulator); default https://graph.microsoft.com.
	Endpoint string
	// Credential is one of default, secret, certificate, workload, managed
	// (default "default"). Ignored when TokenCredential is set.
	Credential          string
	TenantID            string
	ClientID            string
	ClientSecret        string
	CertificatePath     string
	CertificatePassword string
	// AuthorityHost is the Entra sign-in host for national clouds, e.g.
	// https://login.microsoftonline.us.
	AuthorityHost string
	// FederatedTokenFile is the service account token file of credential
	// workload (empty: azidentity reads AZURE_FEDERATED_TOKEN_FILE).
	FederatedTokenFile string
	// TokenCredential overrides Credential (tests, or callers who build
	// their own).
	TokenCredential azcore.TokenCredential
	// HTTPClient is the base HTTP client (its Transport is wrapped by the
	// Graph middleware); also used by azidentity. Default: a new client.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now and Sleep drive the rate limiters and retry waits (fakes in
	// tests). Sleep must return ctx.Err() when ctx ends first.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// RequestTimeout bounds each HTTP request (default 30s).
	RequestTimeout time.Duration
	// MaxRetries is how often an idempotent call is retried after a
	// transient error (default 3; negative: never). Invitations are never
	// retried here.
	MaxRetries int
	// MaxRetryWait caps one wait; a longer Retry-After is returned to the
	// caller as a transient error carrying RetryAfter (default 60s).
	MaxRetryWait time.Duration
	// InvitationLimit per InvitationWindow (default 150 per 5.25s: Graph's
	// per-tenant 150 per 5 s, with a margin for the request's travel).
	InvitationLimit  int
	InvitationWindow time.Duration
	// InviteBudget, when set, replaces the per-process invitation window
	// with the tenant's budget shared through the database (every replica
	// and a restarted process draw on the same one). cmd builds it from the
	// store with InvitationLimit per InvitationWindow.
	InviteBudget InviteBudget
	// DirectoryLimit requests per DirectoryWindow for all other calls
	// ($batch counts each sub-request); default 1000 per 10s, well inside
	// the smallest tenant's budget of 3,500 units per 10 s.
	DirectoryLimit  int
	DirectoryWindow time.Duration
	// DirectoryBudget, when set, replaces the per-process directory window
	// with the tenant's budget shared through the store (DirectoryLimit
	// per DirectoryWindow, drawn DirectoryChunk units at a time).
	DirectoryBudget InviteBudget
}

// Client is a connector.Directory over Microsoft Graph: it implements every
// capability interface (Inviter, GuestFinder, DirectoryReader,
// DirectoryWriter).
type Client struct {
	graph      *msgraphsdk.GraphServiceClient
	adapter    *msgraphsdk.GraphRequestAdapter
	cred       azcore.TokenCredential
	endpoint   string // without /v1.0
	scope      string
	log        *slog.Logger
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	timeout    time.Duration
	maxRetries int
	maxWait    time.Duration
	invites    limiter
	invLimit   int
	invWindow  time.Duration
	directory  limiter
	dirLimit   int
	dirWindow  time.Duration
}

var _ connector.Directory = (*Client)(nil)

// New builds a Client: the credential, the token scope endpoint+"/.default",
// an authentication provider that sends tokens only to the endpoint's host,
// and a middleware chain without the SDK's retry and compression handlers
// (see retry in this package).
func New(ctx context.Context, o Options) (*Client, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	ep, err := url.Parse(o.Endpoint)
	if err != nil || ep.Host == "" || (ep.Scheme != "https" && ep.Scheme != "http") {
		return nil, fmt.Errorf("graph: endpoint %q is not an absolute http(s) URL", o.Endpoint)
	}
	if ep.Scheme == "http" && !isLocalhost(ep.Hostname()) {
		return nil, fmt.Errorf("graph: endpoint %q: plain http is allowed only for localhost", o.Endpoint)
	}
	cred := o.TokenCredential
	if cred == nil {
		if cred, err = newCredential(o); err != nil {
			return nil, err
		}
	}
	scope := o.Endpoint + "/.default"
	// Source: https://learn.microsoft.com/graph/sdks/national-clouds
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{scope}, []string{ep.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph: authentication provider: %w", err)
	}
	httpClient := newHTTPClient(o.HTTPClient)
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph: request adapter: %w", err)
	}
	adapter.SetBaseUrl(o.Endpoint + "/v1.0")
	c := &Client{
		graph:      msgraphsdk.NewGraphServiceClient(adapter),
		adapter:    adapter,
		cred:       cred,
		endpoint:   o.Endpoint,
		scope:      scope,
		log:        o.Logger,
		now:        o.Now,
		sleep:      o.Sleep,
		timeout:    o.RequestTimeout,
		maxRetries: o.MaxRetries,
		maxWait:    o.MaxRetryWait,
		invites:    newWindow(o.InvitationLimit, o.InvitationWindow, o.Now, o.Sleep),
		invLimit:   o.InvitationLimit,
		invWindow:  o.InvitationWindow,
		directory:  newWindow(o.DirectoryLimit, o.DirectoryWindow, o.Now, o.Sleep),
		dirLimit:   o.DirectoryLimit,
		dirWindow:  o.DirectoryWindow,
	}
	c.UseInviteBudget(o.InviteBudget)
	c.UseDirectoryBudget(o.DirectoryBudget)
	_ = ctx // reserved: credentials are lazy; the first call fetches a token
	return c, nil
}

// DefaultInvitationLimit and DefaultInvitationWindow are the invitation
// budget Options take when InvitationLimit and InvitationWindow are unset;
// cmd gives the same to the shared budget.
const (
	DefaultInvitationLimit  = 150
	DefaultInvitationWindow = 5*time.Second + 250*time.Millisecond
)

// InvitationLimit reports the client's invitation limit per window (its
// options with defaults applied), for building a shared InviteBudget.
func (c *Client) InvitationLimit() (limit int, window time.Duration) { return c.invLimit, c.invWindow }

// UseInviteBudget makes c draw invitations from b instead of its own
// window (see Options.InviteBudget). Call it before c is used: it is not
// synchronised with calls in flight.
func (c *Client) UseInviteBudget(b InviteBudget) {
	if b != nil {
		c.invites = budgetLimiter{b: b, sleep: c.sleep}
	}
}

// DirectoryLimit reports the client's directory budget per window (its
// options with defaults applied), for building a shared budget.
func (c *Client) DirectoryLimit() (limit int, window time.Duration) { return c.dirLimit, c.dirWindow }

// UseDirectoryBudget makes c draw every call but invitations from b (see
// Options.DirectoryBudget). Call it before c is used.
func (c *Client) UseDirectoryBudget(b InviteBudget) {
	if b != nil {
		c.directory = &chunkLimiter{b: b, chunk: DirectoryChunk, expire: c.dirWindow, now: c.now, sleep: c.sleep}
	}
}

func (o *Options) defaults() error {
	o.Endpoint = strings.TrimSuffix(strings.TrimSpace(o.Endpoint), "/")
	o.Endpoint = strings.TrimSuffix(o.Endpoint, "/v1.0")
	if o.Endpoint == "" {
		o.Endpoint = DefaultEndpoint
	}
	if o.Credential == "" {
		o.Credential = CredentialDefault
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC() }
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = 3
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.MaxRetryWait <= 0 {
		o.MaxRetryWait = time.Minute
	}
	if o.InvitationLimit <= 0 {
		o.InvitationLimit = DefaultInvitationLimit
	}
	if o.InvitationWindow <= 0 {
		// Graph counts a request when it arrives, the limiter when it is
		// sent: a 250 ms margin keeps the 151st out of Graph's 5 s window
		// (measured: 11 × 429 per run without it, none with 200 ms; see
		// BENCHMARKS.md).
		o.InvitationWindow = DefaultInvitationWindow
	}
	if o.DirectoryLimit <= 0 {
		o.DirectoryLimit = 1000
	}
	if o.DirectoryWindow <= 0 {
		o.DirectoryWindow = 10 * time.Second
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func isLocalhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// newCredential builds the azidentity credential for o.Credential.
// Source: https://learn.microsoft.com/azure/developer/go/sdk/authentication/credential-chains
func newCredential(o Options) (azcore.TokenCredential, error) {
	var co azcore.ClientOptions
	if o.AuthorityHost != "" {
		co.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: strings.TrimSuffix(o.AuthorityHost, "/") + "/"}
	}
	if o.HTTPClient != nil {
		co.Transport = o.HTTPClient
	}
	var (
		cred azcore.TokenCredential
		err  error
	)
	switch o.Credential {
	case CredentialDefault:
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: co, TenantID: o.TenantID})
	case CredentialSecret:
		if o.TenantID == "" || o.ClientID == "" || o.ClientSecret == "" {
			return nil, errors.New("graph: credential secret needs tenantID, clientID and a client secret")
		}
		cred, err = azidentity.NewClientSecretCredential(o.TenantID, o.ClientID, o.ClientSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: co})
	case CredentialCertificate:
		if o.TenantID == "" || o.ClientID == "" || o.CertificatePath == "" {
			return nil, errors.New("graph: credential certificate needs tenantID, clientID and a certificate path")
		}
		data, rerr := os.ReadFile(o.CertificatePath)
		if rerr != nil {
			return nil, fmt.Errorf("graph: read certificate: %w", rerr)
		}
		var pw []byte
		if o.CertificatePassword != "" {
			pw = []byte(o.CertificatePassword)
		}
		certs, key, perr := azidentity.ParseCertificates(data, pw)
		if perr != nil {
			return nil, fmt.Errorf("graph: parse certificate %s: %w", o.CertificatePath, perr)
		}
		cred, err = azidentity.NewClientCertificateCredential(o.TenantID, o.ClientID, certs, key, &azidentity.ClientCertificateCredentialOptions{ClientOptions: co})
	case CredentialWorkload:
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: co, ClientID: o.ClientID, TenantID: o.TenantID, TokenFilePath: o.FederatedTokenFile})
	case CredentialManaged:
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
		if o.ClientID != "" {
			mo.ID = azidentity.ClientID(o.ClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(mo)
	default:
		return nil, fmt.Errorf("graph: unknown credential %q (want default, secret, certificate, workload or managed)", o.Credential)
	}
	if err != nil {
		return nil, fmt.Errorf("graph: %s credential: %w", o.Credential, err)
	}
	return cred, nil
}

// newHTTPClient returns an HTTP client with the Graph middleware chain
// minus the retry handler (it re-sends POST /invitations after 429/503/504,
// which can mail a second invitation) and minus request compression (a
// retried gzip body can go out uncompressed but still labelled gzip:
// kiota-http-go issue #183). This package retries idempotent calls itself.
// Source: https://learn.microsoft.com/graph/sdks/customize-client
func newHTTPClient(base *http.Client) *http.Client {
	var mws []khttp.Middleware
	opts := msgraphsdk.GetDefaultClientOptions()
	for _, m := range msgraphgocore.GetDefaultMiddlewaresWithOptions(&opts) {
		switch m.(type) {
		case *khttp.RetryHandler, *khttp.CompressionHandler:
			continue
		}
		mws = append(mws, m)
	}
	var parent http.RoundTripper
	c := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if base != nil {
		parent = base.Transport
		c.Jar = base.Jar
		c.Timeout = base.Timeout
	}
	c.Transport = khttp.NewCustomTransportWithParentTransport(parent, mws...)
	return c
}

// TokenFunc adapts a function to azcore.TokenCredential, for callers that
// mint tokens themselves, e.g. `passbridge demo` with the simulator:
//
//	graph.TokenFunc(func(_ context.Context, scope string) (string, time.Time, error) {
//		tok, exp := sim.Token(strings.TrimSuffix(scope, "/.default"))
//		return tok, exp, nil
//	})
type TokenFunc func(ctx context.Context, scope string) (token string, expires time.Time, err error)

// GetToken implements azcore.TokenCredential.
func (f TokenFunc) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	scope := ""
	if len(o.Scopes) > 0 {
		scope = o.Scopes[0]
	}
	tok, exp, err := f(ctx, scope)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("graph: token: %w", err)
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: exp}, nil
}
