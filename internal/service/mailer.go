package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/accepturl"
	"github.com/invitesvc/invitesvc/transport/consumer"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/mailer"
	"github.com/invitesvc/invitesvc/transport/tokenseal"
)

// delivery is how this process takes part in getting invitations to
// people (README "How invitations reach people"): the tokens it seals, and
// the identity that opens them for its mailer.
type delivery struct {
	links  accepturl.Template
	sealer *tokenseal.Sealer // nil: tokens are not sealed, no email is sent
	opener *tokenseal.Opener // nil: this process runs no mailer
}

// DevIdentityFile is where dev mode keeps its delivery identity, in the
// data directory.
const DevIdentityFile = "delivery-identity"

// openDelivery reads the delivery settings: the tokens are sealed to the
// recipients given, or to the identity's own public key; the mailer runs
// with the identity.
func (c Config) openDelivery() (delivery, error) {
	var d delivery
	var err error
	if d.links, err = accepturl.Parse(c.AcceptURL); err != nil {
		return d, fmt.Errorf("--accept-url: %w", err)
	}
	switch {
	case c.DeliveryIdentityFile != "" && c.CreateDeliveryIdentity:
		d.opener, err = tokenseal.LoadOrCreateIdentity(c.DeliveryIdentityFile)
	case c.DeliveryIdentityFile != "":
		d.opener, err = tokenseal.LoadIdentity(c.DeliveryIdentityFile)
	}
	if err != nil {
		return d, err
	}
	switch {
	case c.DeliveryRecipients != "":
		if d.sealer, err = tokenseal.ParseRecipients(c.DeliveryRecipients); err != nil {
			return d, err
		}
		if d.opener != nil && d.opener.Recipient() != "" && !slices.Contains(d.sealer.Recipients(), d.opener.Recipient()) {
			return d, fmt.Errorf("--delivery-identity-file's public key %s is not among --delivery-recipient: the mailer could open none of the tokens sealed", d.opener.Recipient())
		}
	case d.opener != nil:
		if d.sealer, err = d.opener.Sealer(); err != nil {
			return d, err
		}
	}
	if d.opener != nil && !d.links.Set() {
		return d, errors.New("the mailer needs --accept-url (such as https://app.example.com/invite?token={token}) to make the links of its emails")
	}
	return d, nil
}

// sender is the mailer's way out: SMTP, or the outbox in the data
// directory when no --smtp-url is given.
func (c Config) sender() (mailer.Sender, string, error) {
	if c.SMTPURL == "" {
		o, err := mailer.NewOutbox(filepath.Join(c.DataDir, "outbox"))
		if err != nil {
			return nil, "", err
		}
		abs, _ := filepath.Abs(o.Dir())
		return o, abs, nil
	}
	if c.MailFrom == "" {
		return nil, "", errors.New("--smtp-url needs --mail-from, the From of the emails")
	}
	s, err := mailer.NewSMTP(c.SMTPURL, c.SMTPTLSConfig)
	if err != nil {
		return nil, "", err
	}
	return s, s.String(), nil
}

// startMailer runs the mailer when this process holds the delivery
// identity; without one, the tokens (if sealed) are for another to deliver.
func (s *Service) startMailer(deliveries mailer.Deliveries) error {
	d := s.delivery
	switch {
	case d.sealer == nil:
		s.cfg.Logger.Info("delivery: no delivery key (--delivery-recipient): tokens are not sealed in the events, and no email is sent")
		return nil
	case d.opener == nil:
		s.cfg.Logger.Info("delivery: tokens are sealed to the delivery recipients; this process holds no identity and sends no email", "recipients", d.sealer.Recipients())
		return nil
	}
	tpl, err := mailer.LoadTemplates(s.cfg.MailTemplates)
	if err != nil {
		return err
	}
	sender, where, err := s.cfg.sender()
	if err != nil {
		return err
	}
	from := s.cfg.MailFrom
	if from == "" {
		from = devMailFrom
	}
	if s.cfg.SMTPURL == "" {
		s.Outbox = where
		s.cfg.Logger.Warn("mailer: no --smtp-url: each email is written to the outbox instead of being sent", "outbox", where)
	}
	s.mailer, err = StartMailer(MailerConfig{JetStream: s.events.JetStream(), Keyring: s.keys.Keyring, Logger: s.cfg.Logger,
		Mailer: mailer.Config{Deliveries: deliveries, Opener: d.opener, Sender: sender, Templates: tpl, AcceptURL: d.links, From: from,
			Observer: s.mails, Logger: s.cfg.Logger, Now: s.cfg.Now, Backoff: s.cfg.MailRetryBackoff}})
	if err != nil {
		return err
	}
	s.cfg.Logger.Info("mailer: sending the invitations' emails", "via", where, "from", from, "recipient", d.opener.Recipient())
	return nil
}

// devMailFrom is the From of the outbox's emails when none is given.
const devMailFrom = "invitesvc <invitations@invitesvc.localhost>"

// MailerConfig is the mailer's pipeline.
type MailerConfig struct {
	JetStream jetstream.JetStream
	Mailer    mailer.Config
	// Keyring verifies each event: one that does not verify sends nothing.
	Keyring *signing.Keyring
	Logger  *slog.Logger
}

// Mailer is a running mailer: the stream consumer feeding the process
// manager. This is its one construction site.
type Mailer struct{ runner *consumer.Runner }

// StartMailer starts the mailer on the durable consumer that every
// replica shares, pinned to one of them at a time: the consumer's acks are
// its checkpoint, so a replica that stops leaves what it had not recorded
// to the next, which sends it.
func StartMailer(cfg MailerConfig) (*Mailer, error) {
	m, err := mailer.New(cfg.Mailer)
	if err != nil {
		return nil, err
	}
	runner, err := consumer.Start(consumer.Config{
		JetStream:   cfg.JetStream,
		Name:        "mailer",
		Durable:     eventstore.MailerDurable,
		KeepDurable: true,
		Resume: func(ctx context.Context) (uint64, error) {
			c, err := cfg.JetStream.Consumer(ctx, eventstore.StreamName, eventstore.MailerDurable)
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				return 1, nil
			}
			if err != nil {
				return 0, err
			}
			return c.CachedInfo().AckFloor.Stream + 1, nil
		},
		Handle: func(ctx context.Context, events []domain.Delivered) error {
			kept := events[:0:0]
			for _, e := range events {
				if err := cfg.Keyring.Verify(e.Subject, e.Data, e.KeyID, e.Signature); err != nil {
					cfg.Logger.Error("mailer: an event does not verify; no email is sent for it", "sequence", e.Sequence, "subject", e.Subject, "error", err)
					continue
				}
				kept = append(kept, e)
			}
			return m.Handle(ctx, kept)
		},
		Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Mailer{runner: runner}, nil
}

// Close stops the mailer after the batch in hand; its emails not recorded
// yet are sent by the next mailer.
func (m *Mailer) Close() error {
	if m == nil {
		return nil
	}
	return m.runner.Close()
}

// mailMetrics counts the emails, and their lag from the event that asked
// for them to the SMTP server's acceptance.
type mailMetrics struct {
	sent, failed, retried prometheus.Counter
	lag                   prometheus.Histogram
}

func newMailMetrics() mailMetrics {
	return mailMetrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "invitesvc_emails_sent_total",
			Help: "Invitation emails the SMTP server (or dev mode's outbox) took."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "invitesvc_emails_failed_total",
			Help: "Invitation emails refused for good (5xx) or out of attempts (4xx), recorded as invitation.delivery_failed."}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{Name: "invitesvc_email_retries_total",
			Help: "Attempts at an email repeated after a temporary failure or an unreachable SMTP server."}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "invitesvc_email_delivery_lag_seconds",
			Help:    "From the invitation.created or invitation.resent to the SMTP server's acceptance of its email.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}}),
	}
}

func (m mailMetrics) Sent(lag time.Duration) { m.sent.Inc(); m.lag.Observe(lag.Seconds()) }
func (m mailMetrics) Failed()                { m.failed.Inc() }
func (m mailMetrics) Retried()               { m.retried.Inc() }
