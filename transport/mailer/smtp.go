package mailer

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Letter is one email to send, with what names it.
type Letter struct {
	Msg          *gomail.Msg
	InvitationID string
	EventID      string
}

// SMTP sends over SMTP with go-mail, one connection per email.
type SMTP struct {
	host     string
	opts     []gomail.Option
	redacted string
}

// sendTimeout bounds one attempt: connect, TLS, authentication and data.
const sendTimeout = 30 * time.Second

// NewSMTP reads --smtp-url: smtp://[user:password@]host[:port] sends with
// STARTTLS, required (port 587 by default; ?tls=opportunistic uses it when
// offered, ?tls=none never, for a relay on a trusted network), and
// smtps:// with implicit TLS (port 465). With a user, it authenticates with
// the strongest mechanism the server offers (SCRAM, then CRAM-MD5, then
// PLAIN, which go-mail sends over TLS only). tlsConfig, when set, replaces
// the system's roots (tests).
func NewSMTP(rawURL string, tlsConfig *tls.Config) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("--smtp-url: %w", err)
	}
	s := &SMTP{host: u.Hostname(), redacted: u.Redacted()}
	if s.host == "" || u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("--smtp-url %s: want smtp://[user:password@]host[:port] or smtps://...", s.redacted)
	}
	port := 587
	switch u.Scheme {
	case "smtp":
		policy := gomail.TLSMandatory
		switch mode := u.Query().Get("tls"); mode {
		case "", "starttls":
		case "opportunistic":
			policy = gomail.TLSOpportunistic
		case "none":
			policy = gomail.NoTLS
		default:
			return nil, fmt.Errorf("--smtp-url %s: tls=%s: want starttls, opportunistic or none", s.redacted, mode)
		}
		s.opts = append(s.opts, gomail.WithTLSPolicy(policy))
	case "smtps":
		port = 465
		s.opts = append(s.opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("--smtp-url %s: the scheme must be smtp or smtps", s.redacted)
	}
	for k := range u.Query() {
		if k != "tls" || u.Scheme == "smtps" {
			return nil, fmt.Errorf("--smtp-url %s: unknown parameter %q", s.redacted, k)
		}
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("--smtp-url %s: bad port", s.redacted)
		}
	}
	s.opts = append(s.opts, gomail.WithPort(port), gomail.WithTimeout(sendTimeout))
	if host, err := os.Hostname(); err == nil {
		s.opts = append(s.opts, gomail.WithHELO(host))
	}
	if u.User != nil {
		password, _ := u.User.Password()
		s.opts = append(s.opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(u.User.Username()), gomail.WithPassword(password))
	}
	if tlsConfig != nil {
		tlsConfig = tlsConfig.Clone()
		tlsConfig.ServerName = s.host
		s.opts = append(s.opts, gomail.WithTLSConfig(tlsConfig))
	}
	return s, nil
}

// String is the URL without its password, for logs.
func (s *SMTP) String() string { return s.redacted }

// Send delivers one email; the reply is the server's to its data.
func (s *SMTP) Send(ctx context.Context, l Letter) (string, error) {
	c, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return "", err
	}
	if err := c.DialAndSendWithContext(ctx, l.Msg); err != nil {
		return "", err
	}
	return l.Msg.ServerResponse(), nil
}

// Outbox writes each email as a file instead of sending it: dev mode's
// mailer without --smtp-url. A file is named after its invitation and the
// event that asked for it, and appears whole (written aside, then renamed).
type Outbox struct{ dir string }

// NewOutbox makes the directory, readable by its owner only: the emails
// hold live tokens.
func NewOutbox(dir string) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return &Outbox{dir: dir}, nil
}

// Dir is where the emails are written.
func (o *Outbox) Dir() string { return o.dir }

// String names the outbox in logs.
func (o *Outbox) String() string { return "outbox " + o.dir }

// Path is the file of the email of one event.
func (o *Outbox) Path(invitationID, eventID string) string {
	return filepath.Join(o.dir, invitationID+"."+eventID+".eml")
}

func (o *Outbox) Send(_ context.Context, l Letter) (string, error) {
	path := o.Path(l.InvitationID, l.EventID)
	f, err := os.CreateTemp(o.dir, ".writing-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name()) // once renamed, there is nothing to remove
	if _, err := l.Msg.WriteTo(f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return "", err
	}
	return "written to the outbox as " + filepath.Base(path), nil
}
