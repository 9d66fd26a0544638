package config

import (
	"log/slog"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// RedactedText is the text that replaces a secret.
const RedactedText = "[redacted]"

// Redacted returns a copy of c with secrets replaced by "[redacted]": the
// Azure client secret and certificate password, the password in the
// database URL, and webhook secrets and URL queries. Token hashes are kept (they are not secrets).
func (c Config) Redacted() Config {
	out := c
	if out.Azure.ClientSecret != "" {
		out.Azure.ClientSecret = RedactedText
	}
	if out.Azure.CertificatePassword != "" {
		out.Azure.CertificatePassword = RedactedText
	}
	out.Database.URL = redactURL(out.Database.URL)
	// Copy the reference types so that the copy can be changed safely.
	out.SCIM.Tokens = append([]Token(nil), c.SCIM.Tokens...)
	out.Agreements = append([]Agreement(nil), c.Agreements...)
	out.Invitation.CCRecipients = append([]string(nil), c.Invitation.CCRecipients...)
	out.Policy.AllowedDomains = append([]string(nil), c.Policy.AllowedDomains...)
	out.Policy.BlockedDomains = append([]string(nil), c.Policy.BlockedDomains...)
	out.Policy.BlockedMailboxTypes = append([]string(nil), c.Policy.BlockedMailboxTypes...)
	out.Seed.Holidays = append([]string(nil), c.Seed.Holidays...)
	if c.Webhooks != nil {
		out.Webhooks = make([]Webhook, len(c.Webhooks))
		for i, w := range c.Webhooks {
			w.Events = append([]string(nil), w.Events...)
			if w.Secret != "" {
				w.Secret = RedactedText
			}
			// The query of a receiver's URL may carry a token.
			if u, err := url.Parse(w.URL); err == nil && u.RawQuery != "" {
				u.RawQuery = "REDACTEDQUERY"
				w.URL = strings.Replace(u.String(), "REDACTEDQUERY", RedactedText, 1)
			}
			out.Webhooks[i] = w
		}
	}
	if c.Groups.Map != nil {
		out.Groups.Map = make(map[string]string, len(c.Groups.Map))
		for k, v := range c.Groups.Map {
			out.Groups.Map[k] = v
		}
	}
	if c.Groups.Clients != nil {
		out.Groups.Clients = make(map[string][]string, len(c.Groups.Clients))
		for k, v := range c.Groups.Clients {
			out.Groups.Clients[k] = append([]string(nil), v...)
		}
	}
	return out
}

// redactURL hides the password of a database URL (user info and a
// "password" query parameter). A URL that does not parse is hidden whole,
// since the password may be what breaks it.
func redactURL(s string) string {
	if s == "" || strings.HasPrefix(s, "sqlite:") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return RedactedText
	}
	const mark = "REDACTEDPASSWORDMARK"
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), mark)
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q.Set(k, mark)
			u.RawQuery = q.Encode()
		}
	}
	return strings.ReplaceAll(u.String(), mark, RedactedText)
}

// LogValue implements slog.LogValuer: the redacted configuration as nested
// groups named by the YAML keys.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	return logValue(reflect.ValueOf(r))
}

func logValue(v reflect.Value) slog.Value {
	if d, ok := v.Interface().(Duration); ok {
		return slog.StringValue(d.String())
	}
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		attrs := make([]slog.Attr, 0, t.NumField())
		for i := range t.NumField() {
			if n := yamlName(t.Field(i)); n != "" {
				attrs = append(attrs, slog.Attr{Key: n, Value: logValue(v.Field(i))})
			}
		}
		return slog.GroupValue(attrs...)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			attrs := make([]slog.Attr, v.Len())
			for i := range v.Len() {
				attrs[i] = slog.Attr{Key: strconv.Itoa(i), Value: logValue(v.Index(i))}
			}
			return slog.GroupValue(attrs...)
		}
	}
	return slog.AnyValue(v.Interface())
}
