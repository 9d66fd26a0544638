// Package mail sends passbridge's own mails (invitations with their redeem
// link, reminders, notices) over SMTP, rendered from embedded text and HTML
// templates that a folder may override (config: mail.*).
//
// It knows nothing of users or jobs: connector decides what to send and
// when (as durable outbox jobs) and calls a Mailer; this package renders and
// delivers one message. A message's body may carry a redeem link, a bearer
// link: nothing here logs a body, and errors never quote one.
package mail

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one mail to send: which template, to whom, for which event,
// and the values the template shows. Its fields are those of
// connector.MailMessage, so that one converts to the other.
type Message struct {
	Template string
	To       string
	ToName   string
	// UserID and Event name the occasion (a user's invitation, the third
	// reminder): the Message-ID is derived from them, so a mail sent again
	// for the same occasion carries the same Message-ID and a receiving
	// client can drop the copy.
	UserID string
	Event  string
	Data   map[string]string
}

// MessageID returns the Message-ID (without angle brackets) of the mail for
// event of userID, from domain: the same for every attempt.
func MessageID(userID, event, domain string) string {
	sum := sha256.Sum256([]byte(userID + "\x00" + event))
	if domain == "" {
		domain = "passbridge.invalid"
	}
	return "passbridge." + hex.EncodeToString(sum[:16]) + "@" + domain
}

// Defaults of the SMTP options (config: mail.smtp.*).
const (
	DefaultPort    = 587
	DefaultTimeout = 30 * time.Second
)

// Options configure a Sender.
type Options struct {
	// From is the sender, "Name <address>" or an address (config: mail.from).
	From string
	// Host and Port are the SMTP server (mail.smtp.host, mail.smtp.port).
	Host string
	Port int
	// Username and Password authenticate when Username is set (the
	// server's best mechanism: PLAIN, LOGIN, CRAM-MD5, SCRAM…).
	Username string
	Password string
	// NoStartTLS sends without STARTTLS (config: mail.smtp.starttls false):
	// only for a relay on the same host or network. By default STARTTLS is
	// mandatory: a server that does not offer it gets no mail.
	NoStartTLS bool
	// Timeout bounds connecting and each SMTP command (default 30s).
	Timeout time.Duration
	// TLSConfig, when set, replaces the default TLS settings (tests trust
	// their own certificate with it). ServerName defaults to Host.
	TLSConfig *tls.Config
	// Templates are the templates to render (nil: the embedded ones).
	Templates *Templates
	Logger    *slog.Logger
}

// Sender sends mails over SMTP. It is safe for concurrent use; each Send
// opens its own connection (mails are few, and a connection kept open
// would outlive a relay's idle timeout).
type Sender struct {
	opts   Options
	from   *netmail.Address
	domain string
	tpl    *Templates
	log    *slog.Logger
}

// NewSender checks the options and returns a Sender.
func NewSender(o Options) (*Sender, error) {
	if o.Host == "" {
		return nil, errors.New("mail: no SMTP host (mail.smtp.host)")
	}
	from, err := netmail.ParseAddress(o.From)
	if err != nil {
		return nil, fmt.Errorf("mail: mail.from %q: %w", o.From, err)
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	tpl := o.Templates
	if tpl == nil {
		if tpl, err = LoadTemplates(""); err != nil {
			return nil, err
		}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	return &Sender{opts: o, from: from, domain: domain, tpl: tpl, log: log.With("component", "mail")}, nil
}

// SendError is a failed delivery. Permanent reports a 5xx answer (the
// server refused the mail for good: an unknown recipient, a policy); a
// connection, TLS or 4xx failure is worth retrying.
type SendError struct {
	Server string
	Perm   bool
	Err    error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("smtp %s: %v", e.Server, e.Err)
}
func (e *SendError) Unwrap() error   { return e.Err }
func (e *SendError) Permanent() bool { return e.Perm }

// Send renders m and delivers it. It does not log the body.
func (s *Sender) Send(ctx context.Context, m Message) error {
	r, err := s.tpl.Render(m)
	if err != nil {
		return err
	}
	r.MessageID = MessageID(m.UserID, m.Event, s.domain)
	msg := gomail.NewMsg()
	msg.FromMailAddress(s.from)
	if err := msg.AddToFormat(r.ToName, r.To); err != nil {
		return &SendError{Server: s.server(), Perm: true, Err: fmt.Errorf("recipient %q: %w", r.To, err)}
	}
	msg.Subject(r.Subject)
	msg.SetMessageIDWithValue(r.MessageID)
	msg.SetDate()
	msg.SetBulk() // no out-of-office replies to an automated sender
	msg.SetBodyString(gomail.TypeTextPlain, r.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, r.HTML)

	opts := []gomail.Option{
		gomail.WithPort(s.opts.Port),
		gomail.WithTimeout(s.opts.Timeout),
		gomail.WithTLSPortPolicy(gomail.TLSMandatory),
	}
	if s.opts.NoStartTLS {
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	tc := &tls.Config{ServerName: s.opts.Host, MinVersion: tls.VersionTLS12}
	if s.opts.TLSConfig != nil {
		tc = s.opts.TLSConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = s.opts.Host
		}
	}
	opts = append(opts, gomail.WithTLSConfig(tc))
	if s.opts.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.opts.Username), gomail.WithPassword(s.opts.Password))
	}
	c, err := gomail.NewClient(s.opts.Host, opts...)
	if err != nil {
		return &SendError{Server: s.server(), Err: err}
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return s.sendError(err)
	}
	s.log.InfoContext(ctx, "mail sent", "template", m.Template, "user", m.UserID, "event", m.Event, "messageId", r.MessageID)
	return nil
}

func (s *Sender) server() string { return net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port)) }

// sendError classifies a go-mail error and says plainly when STARTTLS was
// the problem.
func (s *Sender) sendError(err error) error {
	se := &SendError{Server: s.server(), Err: err}
	var ge *gomail.SendError
	if errors.As(err, &ge) {
		se.Perm = !ge.IsTemp() && ge.ErrorCode() >= 500
	}
	if !s.opts.NoStartTLS && strings.Contains(strings.ToLower(err.Error()), "starttls") {
		se.Err = fmt.Errorf("the server does not offer STARTTLS, which mail.smtp.starttls (true) requires; nothing was sent: %w", err)
	}
	return se
}

// Memory is a Mailer that keeps the mails instead of sending them (the
// demo shows them; tests read them). It renders like Sender.
type Memory struct {
	tpl    *Templates
	domain string

	mu   sync.Mutex
	sent []Rendered
}

// NewMemory returns a Memory rendering with tpl (nil: the embedded
// templates); domain is the Message-ID's.
func NewMemory(tpl *Templates, domain string) (*Memory, error) {
	if tpl == nil {
		var err error
		if tpl, err = LoadTemplates(""); err != nil {
			return nil, err
		}
	}
	return &Memory{tpl: tpl, domain: domain}, nil
}

// Send renders m and keeps it.
func (m *Memory) Send(_ context.Context, msg Message) error {
	r, err := m.tpl.Render(msg)
	if err != nil {
		return err
	}
	r.MessageID = MessageID(msg.UserID, msg.Event, m.domain)
	m.mu.Lock()
	m.sent = append(m.sent, r)
	m.mu.Unlock()
	return nil
}

// Sent returns the mails kept so far, oldest first.
func (m *Memory) Sent() []Rendered {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Rendered(nil), m.sent...)
}

// RedactLinks replaces every redeem link in s (a URL at Microsoft's
// invitation or login hosts) with "https://…[redeem link]", for showing a
// mail without its bearer link.
func RedactLinks(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "https://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		rest := s[i:]
		end := strings.IndexAny(rest, " \t\r\n\"'<>")
		if end < 0 {
			end = len(rest)
		}
		u := rest[:end]
		if isRedeemLink(u) {
			b.WriteString("https://…[redeem link]")
		} else {
			b.WriteString(u)
		}
		s = rest[end:]
	}
}

func isRedeemLink(u string) bool {
	h := strings.TrimPrefix(u, "https://")
	host, _, _ := strings.Cut(h, "/")
	host = strings.ToLower(host)
	return strings.Contains(strings.ToLower(u), "redeem") &&
		(strings.HasSuffix(host, "microsoftonline.com") || strings.HasSuffix(host, "microsoft.com") || strings.HasSuffix(host, "microsoftonline.us"))
}
