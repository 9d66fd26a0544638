package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
)

// ValidateOption changes what Validate requires.
type ValidateOption func(*validateOptions)

type validateOptions struct {
	serve bool
}

// ForServe makes Validate require what `passbridge serve` needs on top of a
// well-formed configuration: at least one SCIM token. `config validate`
// should pass it too, since serving is what a configuration is for.
func ForServe() ValidateOption {
	return func(o *validateOptions) { o.serve = true }
}

// Validate checks the configuration and returns a *Problems error listing
// every problem (nil when there is none). It does not reach the network.
func (c *Config) Validate(opts ...ValidateOption) error {
	var o validateOptions
	for _, opt := range opts {
		opt(&o)
	}
	v, err := newValidator()
	if err != nil {
		return err
	}
	var ps Problems
	if err := v.Struct(c); err != nil {
		var fes validator.ValidationErrors
		if !errors.As(err, &fes) {
			return fmt.Errorf("config: validate: %w", err)
		}
		for _, fe := range fes {
			key := fieldKey(fe)
			if strings.HasSuffix(key, "[]") { // an empty map key
				ps.add(key, "has an entry with an empty name", "write the name before the colon, or remove the entry")
				continue
			}
			ps.add(key, fieldMessage(fe), hintFor(key, fe.Tag()))
		}
	}
	c.crossChecks(o, &ps)
	ps.sortBySection()
	return ps.err()
}

// newValidator returns a validator that knows the custom rules, names fields
// by their YAML keys and validates Duration as time.Duration (so that
// "min=10s" works).
func newValidator() (*validator.Validate, error) {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string { return yamlName(f) })
	v.RegisterCustomTypeFunc(func(f reflect.Value) any {
		return time.Duration(f.Interface().(Duration))
	}, Duration(0))
	for tag, rule := range stringRules {
		err := v.RegisterValidation(tag, func(fl validator.FieldLevel) bool {
			return rule(fl.Field().String()) == nil
		})
		if err != nil {
			return nil, fmt.Errorf("config: register rule %s: %w", tag, err)
		}
	}
	return v, nil
}

// fieldKey turns validator's "Config.scim.tokens[1].sha256" into
// "scim.tokens[1].sha256".
func fieldKey(fe validator.FieldError) string {
	ns := fe.Namespace()
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return ns
}

// fieldMessage says what is wrong in words an administrator understands.
func fieldMessage(fe validator.FieldError) string {
	val := fe.Value()
	if rule, ok := stringRules[fe.Tag()]; ok {
		if s, ok := val.(string); ok {
			if err := rule(s); err != nil {
				return err.Error()
			}
		}
	}
	param := fe.Param()
	switch fe.Tag() {
	case "required":
		if fe.Kind() == reflect.String && strings.HasSuffix(fe.Namespace(), "]") {
			return "is an empty entry"
		}
		return "is required"
	case "oneof":
		return fmt.Sprintf("is %q; it must be one of %s", val, quoteList(strings.Fields(param)))
	case "email":
		return fmt.Sprintf("%q is not an e-mail address", val)
	case "bcp47_language_tag":
		return fmt.Sprintf("%q is not a language tag such as \"en-US\"", val)
	case "min", "gte", "max", "lte", "gt", "lt":
		return boundMessage(fe.Tag(), param, val)
	}
	return fmt.Sprintf("fails the %q rule", fe.Tag())
}

func boundMessage(tag, param string, val any) string {
	word := map[string]string{
		"min": "at least", "gte": "at least", "max": "at most", "lte": "at most",
		"gt": "more than", "lt": "less than",
	}[tag]
	switch v := val.(type) {
	case time.Duration:
		if tag == "gt" && param == "0s" {
			return fmt.Sprintf("is %s; it must be a positive duration", v)
		}
		return fmt.Sprintf("is %s; it must be %s %s", v, word, param)
	case string:
		return fmt.Sprintf("is %d characters long; it must be %s %s", len([]rune(v)), word, param)
	case int, int64:
		return fmt.Sprintf("is %d; it must be %s %s", v, word, param)
	}
	rv := reflect.ValueOf(val)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map {
		return fmt.Sprintf("has %d entries; it may have %s %s", rv.Len(), word, param)
	}
	return fmt.Sprintf("must be %s %s", word, param)
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

var indexRE = regexp.MustCompile(`\[[^\]]*\]`)

// hints says how to fix a key, by key with indices written "[]".
var hints = map[string]string{
	"server.listen":                `write host:port, e.g. ":8080" or "127.0.0.1:8080"`,
	"server.publicURL":             `write the URL SCIM clients use, e.g. "https://passbridge.techpass.gov.sg"`,
	"server.maxBodyBytes":          "1048576 (1 MiB) is plenty for SCIM requests",
	"scim.tokens":                  `run "passbridge token new" and add its name and sha256 here (or set PASSBRIDGE_SCIM_TOKENS=name:sha256)`,
	"scim.tokens[].name":           `name each token after the client that uses it, e.g. "techbiz"`,
	"scim.tokens[].sha256":         `run "passbridge token new" and copy the sha256 it prints; give the token to the client`,
	"admin.tokens[].name":          `the admin's name, e.g. "alice"; it is the actor of their console actions`,
	"admin.tokens[].sha256":        `run "passbridge token new" and copy the sha256 it prints; give the token to the admin`,
	"admin.sessionTTL":             `a Go duration between 1m and 168h, e.g. 8h`,
	"scim.tokens[].scopes":         `list some of "users:read", "users:write", "users:delete", "groups", or remove the key for all of them`,
	"database.url":                 `write "sqlite:/var/lib/passbridge/passbridge.db" or "postgres://passbridge:${PGPASSWORD}@db:5432/passbridge?sslmode=verify-full"`,
	"graph.endpoint":               `write "https://graph.microsoft.com" (or a national cloud's Graph root); plain http is only for the simulator on localhost`,
	"azure.tenantID":               "copy the Directory (tenant) ID from the app registration's Overview page in the Entra admin center",
	"azure.clientID":               "copy the Application (client) ID from the app registration's Overview page in the Entra admin center",
	"azure.clientSecret":           `create a client secret under the app registration's "Certificates & secrets" and reference it, e.g. "${AZURE_CLIENT_SECRET}"`,
	"azure.certificatePath":        "write the path of the PEM or PKCS#12 file holding the certificate and its private key",
	"azure.authorityHost":          `leave it empty for the public cloud, or e.g. "https://login.microsoftonline.us/" for Azure Government`,
	"invitation.redirectURL":       `write where a guest lands after redeeming, e.g. "https://myapps.microsoft.com"`,
	"invitation.message":           "shorten the message",
	"invitation.ccRecipients":      "Microsoft Graph accepts only one cc recipient; keep one",
	"invitation.ccRecipients[]":    `write an address such as "onboarding@tech.gov.sg"`,
	"invitation.language":          `write a language tag such as "en-US"`,
	"invitation.validity":          `write a duration such as "720h" (30 days)`,
	"policy.allowedDomains[]":      `write a domain such as "gov.sg", or "*.gov.sg" for its subdomains`,
	"policy.blockedDomains[]":      `write a domain such as "example.com", or "*.example.com" for its subdomains`,
	"policy.blockedMailboxTypes[]": "remove the empty entry",
	"agreements[].name":            `name the agreement as users see it, e.g. "Terms of Use"`,
	"agreements[].id":              "copy the agreement's ID from Entra admin center > Identity Governance > Terms of use",
	"agreements[].requiredWhen":    `write "always", or "seed" for an agreement only SEED users accept (the MDM AUP)`,
	"seed.groupID":                 "copy the object ID of the Entra group through which SEED devices are provisioned",
	"seed.dueBusinessDays":         "the onboarding promise is 3 business days",
	"seed.holidays[]":              `write public holidays as dates, e.g. "2026-08-10"`,
	"seed.validity":                `write a duration such as "720h" (30 days)`,
	"groups.map[]":                 "write the object ID of the existing Entra group, or remove the entry to have passbridge create the group",
	"reconcile.interval":           `Graph throttles frequent reads; the default is "1m"`,
	"server.trustedProxies[]":      `write the load balancer's address range, e.g. "10.0.0.0/24"`,
	"reconcile.lease":              `write at least twice reconcile.interval, or leave it out: the default is the larger of "5m" and twice reconcile.interval`,
	"seed.timeZone":                `write an IANA time zone name, e.g. "Asia/Singapore"`,
	"webhooks[].url":               `write the receiver's https URL; plain http is only for a receiver on localhost`,
	"webhooks[].secret":            `write "whsec_" followed by a base64 key of 24 to 64 bytes (e.g. from "openssl rand -base64 32"), as a reference such as "${WEBHOOK_SECRET}"`,
	"mail.from":                    `write the sender, e.g. "TechPass <noreply@tech.gov.sg>"`,
	"mail.smtp.host":               `write the SMTP server's host name, e.g. "smtp.tech.gov.sg"`,
	"mail.smtp.password":           `reference it, e.g. "${SMTP_PASSWORD}"`,
	"mail.templates":               "fix the file named, or remove it to use the embedded template",
}

// hintFor returns the hint for key, else one naming the default value.
func hintFor(key, tag string) string {
	norm := indexRE.ReplaceAllString(key, "[]")
	if h, ok := hints[norm]; ok {
		return h
	}
	if tag == "oneof" {
		return ""
	}
	if def := defaultOf(key); def != "" {
		return fmt.Sprintf("remove the key to use the default (%s)", def)
	}
	return ""
}

// defaultOf returns the default of a scalar key as text ("" when none).
func defaultOf(key string) string {
	if strings.Contains(key, "[") {
		return ""
	}
	v := reflect.ValueOf(Default()).Elem()
	for part := range strings.SplitSeq(key, ".") {
		var ok bool
		if v, ok = fieldByKey(v, part); !ok {
			return ""
		}
	}
	if v.IsZero() {
		return ""
	}
	if d, ok := v.Interface().(Duration); ok {
		return d.String()
	}
	switch v.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Bool:
		return fmt.Sprint(v.Interface())
	}
	return ""
}

// crossChecks are the rules that span fields or need context.
func (c *Config) crossChecks(o validateOptions, ps *Problems) {
	c.lifecycleChecks(ps)
	if c.Reconcile.Lease.D() < 2*c.Reconcile.Interval.D() {
		ps.add("reconcile.lease", fmt.Sprintf("%s is shorter than twice reconcile.interval (%s): the holder would give the reconciler role up between passes", c.Reconcile.Lease, c.Reconcile.Interval), hints["reconcile.lease"])
	}
	if o.serve && len(c.SCIM.Tokens) == 0 {
		ps.add("scim.tokens", "no token is configured, so no SCIM client can authenticate", hints["scim.tokens"])
	}
	names, hashes := map[string]int{}, map[string]int{}
	for i, t := range c.SCIM.Tokens {
		if t.Name != "" {
			if j, dup := names[t.Name]; dup {
				ps.add(fmt.Sprintf("scim.tokens[%d].name", i),
					fmt.Sprintf("%q is already the name of scim.tokens[%d]", t.Name, j), "give each token a distinct name")
			} else {
				names[t.Name] = i
			}
		}
		checkScopes(i, t, ps)
		if t.SHA256 != "" {
			if j, dup := hashes[t.SHA256]; dup {
				ps.add(fmt.Sprintf("scim.tokens[%d].sha256", i),
					fmt.Sprintf("is the same token as scim.tokens[%d]", j),
					`give each client its own token: run "passbridge token new" again`)
			} else {
				hashes[t.SHA256] = i
			}
		}
	}

	adminNames, adminHashes := map[string]int{}, map[string]int{}
	for i, t := range c.Admin.Tokens {
		if j, dup := adminNames[t.Name]; dup && t.Name != "" {
			ps.add(fmt.Sprintf("admin.tokens[%d].name", i),
				fmt.Sprintf("%q is already the name of admin.tokens[%d]", t.Name, j), "give each admin a distinct name")
		}
		adminNames[t.Name] = i
		if j, dup := adminHashes[t.SHA256]; dup && t.SHA256 != "" {
			ps.add(fmt.Sprintf("admin.tokens[%d].sha256", i),
				fmt.Sprintf("is the same token as admin.tokens[%d]", j), `give each admin their own token: run "passbridge token new" again`)
		}
		if j, dup := hashes[t.SHA256]; dup && t.SHA256 != "" {
			ps.add(fmt.Sprintf("admin.tokens[%d].sha256", i),
				fmt.Sprintf("is the same token as scim.tokens[%d]", j), `an admin token must not be a SCIM client's: run "passbridge token new" again`)
		}
		adminHashes[t.SHA256] = i
	}

	if c.Server.ReadTimeout > 0 && c.Server.ReadHeaderTimeout > c.Server.ReadTimeout {
		ps.add("server.readHeaderTimeout",
			fmt.Sprintf("is %s, longer than server.readTimeout (%s), which covers the headers too", c.Server.ReadHeaderTimeout, c.Server.ReadTimeout),
			"make it shorter than server.readTimeout")
	}

	if checkURL(c.Graph.Endpoint, true, true) == nil {
		p := strings.TrimRight(c.Graph.Endpoint, "/")
		for _, ver := range []string{"/v1.0", "/beta"} {
			if strings.HasSuffix(p, ver) {
				ps.add("graph.endpoint", fmt.Sprintf("ends with the API version %q", ver),
					fmt.Sprintf("remove %q; passbridge appends /v1.0", ver))
			}
		}
	}

	cred := c.Azure.Credential
	switch cred {
	case CredentialSecret, CredentialCertificate, CredentialWorkload:
		if c.Azure.TenantID == "" {
			ps.add("azure.tenantID", fmt.Sprintf("is required when azure.credential is %q", cred), hints["azure.tenantID"])
		}
		if c.Azure.ClientID == "" {
			ps.add("azure.clientID", fmt.Sprintf("is required when azure.credential is %q", cred), hints["azure.clientID"])
		}
	}
	if cred == CredentialSecret && c.Azure.ClientSecret == "" {
		ps.add("azure.clientSecret", `is required when azure.credential is "secret"`, hints["azure.clientSecret"])
	}
	if cred == CredentialCertificate && c.Azure.CertificatePath == "" {
		ps.add("azure.certificatePath", `is required when azure.credential is "certificate"`, hints["azure.certificatePath"])
	}

	allowed := map[string]bool{}
	for _, d := range c.Policy.AllowedDomains {
		allowed[strings.ToLower(d)] = true
	}
	for i, d := range c.Policy.BlockedDomains {
		if allowed[strings.ToLower(d)] {
			ps.add(fmt.Sprintf("policy.blockedDomains[%d]", i),
				fmt.Sprintf("%q is also in policy.allowedDomains", d), "remove it from one of the two lists")
		}
	}

	agNames, agIDs := map[string]int{}, map[string]int{}
	needSeedGroup := false
	for i, a := range c.Agreements {
		if a.Name != "" {
			if j, dup := agNames[a.Name]; dup {
				ps.add(fmt.Sprintf("agreements[%d].name", i),
					fmt.Sprintf("%q is already the name of agreements[%d]", a.Name, j), "give each agreement a distinct name")
			} else {
				agNames[a.Name] = i
			}
		}
		if a.ID != "" {
			id := strings.ToLower(a.ID)
			if j, dup := agIDs[id]; dup {
				ps.add(fmt.Sprintf("agreements[%d].id", i),
					fmt.Sprintf("is already the id of agreements[%d]", j), "list each Entra agreement once")
			} else {
				agIDs[id] = i
			}
		}
		if a.RequiredWhen == RequiredSeed {
			needSeedGroup = true
		}
	}
	if needSeedGroup && c.Seed.GroupID == "" {
		ps.add("seed.groupID", `is required when an agreement has requiredWhen "seed"`, hints["seed.groupID"])
	}
	c.checkServerEdge(ps)
	c.checkWebhooks(ps)
	c.checkMail(ps)

	// groups.map[name].clients name SCIM clients: scim.tokens names.
	tokens := map[string]bool{}
	for _, t := range c.SCIM.Tokens {
		tokens[t.Name] = true
	}
	groupNames := make([]string, 0, len(c.Groups.Clients))
	for name := range c.Groups.Clients {
		groupNames = append(groupNames, name)
	}
	sort.Strings(groupNames)
	for _, name := range groupNames {
		for i, client := range c.Groups.Clients[name] {
			if !tokens[client] {
				ps.add(fmt.Sprintf("groups.map[%s].clients[%d]", name, i),
					fmt.Sprintf("%q is not the name of a scim.tokens entry", client),
					"name the SCIM clients (scim.tokens[].name) allowed to use this group")
			}
		}
	}
}

// Warnings returns what is allowed but probably not meant: things an
// administrator should see in `config validate` without failing it.
func (c *Config) Warnings() []Problem {
	var ws []Problem
	add := func(key, msg, hint string) { ws = append(ws, Problem{Key: key, Message: msg, Hint: hint}) }
	if len(c.SCIM.Tokens) == 0 {
		add("scim.tokens", "no token is configured; serve refuses to start without one", hints["scim.tokens"])
	}
	if c.Azure.ClientSecret != "" && c.Azure.Credential != CredentialSecret {
		add("azure.clientSecret", fmt.Sprintf("is set but ignored, since azure.credential is %q", c.Azure.Credential),
			`set azure.credential to "secret", or remove the secret`)
	}
	if c.Azure.CertificatePath != "" && c.Azure.Credential != CredentialCertificate {
		add("azure.certificatePath", fmt.Sprintf("is set but ignored, since azure.credential is %q", c.Azure.Credential),
			`set azure.credential to "certificate", or remove the path`)
	}
	if len(c.Policy.AllowedDomains) == 0 {
		add("policy.allowedDomains", "is empty, so an address at any domain that is not blocked can sign up",
			`list the organisational domains, e.g. ["gov.sg", "*.gov.sg"]`)
	}
	ws = append(ws, c.serverEdgeWarnings()...)
	ws = append(ws, c.webhookWarnings()...)
	ws = append(ws, c.mailWarnings()...)
	return ws
}

// checkScopes checks scim.tokens[i].scopes: known names, not an empty list.
func checkScopes(i int, t Token, ps *Problems) {
	key := fmt.Sprintf("scim.tokens[%d].scopes", i)
	if t.Scopes != nil && len(t.Scopes) == 0 {
		ps.add(key, "is an empty list, so the client could do nothing but read the server's configuration", hints["scim.tokens[].scopes"])
	}
	all := AllScopes()
	for j, sc := range t.Scopes {
		if slices.Contains(all, sc) {
			continue
		}
		msg := fmt.Sprintf("%q is not a scope", sc)
		if s := suggest(sc, all); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		ps.add(fmt.Sprintf("%s[%d]", key, j), msg, hints["scim.tokens[].scopes"])
	}
}
