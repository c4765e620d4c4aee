package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/accepturl"
	"github.com/invitesvc/invitesvc/transport/tokenseal"
)

// Deliveries is the invitations' side of a delivery (commands.DeliveryHandler).
type Deliveries interface {
	Due(ctx context.Context, organizationID, invitationID, eventID string) (commands.Due, error)
	Record(ctx context.Context, cmd commands.RecordDelivery) error
}

// Opener opens sealed tokens (tokenseal.Opener).
type Opener interface {
	Open(sealed, invitationID, tokenSHA256 string) (tokenseal.Envelope, error)
}

// Sender sends one email: SMTP, or the Outbox.
type Sender interface {
	Send(ctx context.Context, l Letter) (reply string, err error)
}

// Observer hears each outcome, for metrics: lag is from the event that
// asked for the email to the server's acceptance.
type Observer interface {
	Sent(lag time.Duration)
	Failed()
	Retried()
}

// Config is a mailer's dependencies and settings.
type Config struct {
	Deliveries Deliveries
	Opener     Opener
	Sender     Sender
	Templates  *Templates
	AcceptURL  accepturl.Template
	From       string // the From address, "Name <address>" or an address
	Observer   Observer
	Logger     *slog.Logger
	Now        func() time.Time
	// MaxAttempts bounds the attempts at an email the server answers with
	// a temporary failure; 0 is DefaultMaxAttempts.
	MaxAttempts int
	// Backoff is the first wait before a retry, doubled at each (with
	// jitter) up to MaxBackoff; 0 are the defaults.
	Backoff, MaxBackoff time.Duration
	// Concurrency is how many emails of a batch are sent at once; 0 is
	// DefaultConcurrency.
	Concurrency int
}

const (
	DefaultMaxAttempts = 8
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = time.Minute
	DefaultConcurrency = 8
	// maxReply bounds the SMTP reply kept in an event.
	maxReply = 300
)

// Mailer is the process manager. Handle is its consumer.Handler.
type Mailer struct{ cfg Config }

// New checks the configuration.
func New(cfg Config) (*Mailer, error) {
	if cfg.Deliveries == nil || cfg.Opener == nil || cfg.Sender == nil || cfg.Templates == nil || cfg.Observer == nil || cfg.Logger == nil || cfg.Now == nil {
		panic("mailer.New: nil dependency")
	}
	if !cfg.AcceptURL.Set() {
		return nil, errors.New("the mailer needs --accept-url to make the links of its emails")
	}
	if err := gomail.NewMsg().From(cfg.From); err != nil {
		return nil, fmt.Errorf("--mail-from %q: %w", cfg.From, err)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	return &Mailer{cfg: cfg}, nil
}

// request is an email an event asks for.
type request struct {
	eventID, org, invitation, sealed, tokenSHA256 string
	at                                            time.Time
}

func requestOf(e domain.Delivered) (request, bool) {
	if e.Err != nil {
		return request{}, false // not decodable by this build: not an email it knows
	}
	r := request{eventID: e.ID, at: e.Time}
	switch d := e.Event.Data.(type) {
	case domain.InvitationCreated:
		r.org, r.invitation, r.sealed, r.tokenSHA256 = d.OrganizationID, d.InvitationID, d.TokenSealed, d.TokenSHA256
	case domain.InvitationResent:
		r.org, r.invitation, r.sealed, r.tokenSHA256 = d.OrganizationID, d.InvitationID, d.TokenSealed, d.TokenSHA256
	}
	return r, r.sealed != ""
}

// Handle sends the emails a batch of events asks for, some at once, and
// returns once each has its outcome recorded, or with the first error that
// leaves one without (the batch is then delivered again).
func (m *Mailer) Handle(ctx context.Context, events []domain.Delivered) error {
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, m.cfg.Concurrency)
		mu    sync.Mutex
		errs  []error
	)
	for _, e := range events {
		r, ok := requestOf(e)
		if !ok {
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := m.deliver(ctx, r); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("email of event %s: %w", r.eventID, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deliver sends one email if it is still due and records how it went.
func (m *Mailer) deliver(ctx context.Context, r request) error {
	log := m.cfg.Logger.With("organization_id", r.org, "invitation_id", r.invitation, "event_id", r.eventID)
	due, err := m.cfg.Deliveries.Due(ctx, r.org, r.invitation, r.eventID)
	if err != nil || !due.Send {
		log.Debug("mailer: no email due", "delivery", due.Invitation.DeliveryStatus, "for", due.Invitation.DeliveryEventID, "version", due.Invitation.Version, "error", err)
		return err
	}
	id := messageID(r.eventID, m.cfg.From)
	report := domain.DeliveryReport{EventID: r.eventID, MessageID: "<" + id + ">"}
	letter, err := m.letter(due, r, id)
	if err != nil {
		// Nothing will make this email sendable: record why.
		report.Reply = err.Error()
		log.Error("mailer: the email cannot be made", "error", err)
		return m.record(ctx, r, report, false)
	}
	for {
		report.Attempts++
		reply, err := m.cfg.Sender.Send(ctx, letter)
		if ctx.Err() != nil {
			return ctx.Err() // stopping: the next mailer sends it
		}
		report.Reply = scrub(reply, due.Invitation.Email)
		kind := classify(err)
		if err != nil {
			report.Reply = scrub(err.Error(), due.Invitation.Email)
		}
		switch {
		case kind == sent:
			m.cfg.Observer.Sent(m.cfg.Now().Sub(r.at))
			log.Info("mailer: email sent", "attempts", report.Attempts, "reply", report.Reply)
			return m.record(ctx, r, report, true)
		case kind == permanent || kind == temporary && report.Attempts >= m.cfg.MaxAttempts:
			m.cfg.Observer.Failed()
			log.Warn("mailer: email failed for good", "attempts", report.Attempts, "reply", report.Reply)
			return m.record(ctx, r, report, false)
		}
		m.cfg.Observer.Retried()
		wait := m.backoff(report.Attempts)
		log.Warn("mailer: will retry the email", "attempts", report.Attempts, "retry_in", wait, "error", report.Reply)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		// It may have been cancelled, accepted or resent meanwhile.
		if due, err = m.cfg.Deliveries.Due(ctx, r.org, r.invitation, r.eventID); err != nil || !due.Send {
			return err
		}
	}
}

// letter opens the token and renders the email.
func (m *Mailer) letter(due commands.Due, r request, id string) (Letter, error) {
	env, err := m.cfg.Opener.Open(r.sealed, r.invitation, r.tokenSHA256)
	if err != nil {
		return Letter{}, fmt.Errorf("the token does not open with the delivery identity: %w", err)
	}
	inv := due.Invitation
	subject, text, html, err := m.cfg.Templates.Render(Data{OrganizationName: due.Organization.Name, Role: inv.Role, InviterName: env.InviterName,
		Email: inv.Email, ExpiresAt: inv.ExpiresAt, AcceptURL: m.cfg.AcceptURL.For(env.Token), Locale: inv.Locale})
	if err != nil {
		return Letter{}, fmt.Errorf("render the templates: %w", err)
	}
	msg, err := compose(m.cfg.From, inv.Email, id, subject, text, html, m.cfg.Now())
	if err != nil {
		return Letter{}, err
	}
	return Letter{Msg: msg, InvitationID: r.invitation, EventID: r.eventID}, nil
}

// record writes the outcome, retrying until it is written or the mailer
// stops: sending again because a record failed would duplicate the email.
func (m *Mailer) record(ctx context.Context, r request, report domain.DeliveryReport, sent bool) error {
	cmd := commands.RecordDelivery{OrganizationID: r.org, InvitationID: r.invitation, Report: report, Sent: sent}
	for try := 1; ; try++ {
		err := m.cfg.Deliveries.Record(ctx, cmd)
		if err == nil || len(domain.Violations(err)) > 0 {
			return err
		}
		m.cfg.Logger.Warn("mailer: will retry recording the outcome", "invitation_id", r.invitation, "event_id", r.eventID, "error", err)
		if err := sleep(ctx, m.backoff(try)); err != nil {
			return err
		}
	}
}

// outcome is how an attempt went.
type outcome int

const (
	sent        outcome = iota
	permanent           // a 5xx reply: final
	temporary           // a 4xx reply: retried up to MaxAttempts
	unreachable         // no reply: retried while it lasts
)

func classify(err error) outcome {
	if err == nil {
		return sent
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch code := se.ErrorCode(); {
		case code >= 500:
			return permanent
		case code >= 400:
			return temporary
		}
	}
	return unreachable
}

// backoff is the wait after attempt (1 for the first): doubled each time,
// capped, with full jitter over its upper half.
func (m *Mailer) backoff(attempt int) time.Duration {
	d := m.cfg.MaxBackoff
	if attempt < 30 {
		d = min(d, m.cfg.Backoff<<(attempt-1))
	}
	return d/2 + mathrand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scrub makes a reply fit for the record: the invitee's address out of it
// (the record outlives an erasure of the address, which is sealed
// elsewhere), one line, bounded.
func scrub(reply, email string) string {
	if email != "" {
		reply = regexp.MustCompile("(?i)"+regexp.QuoteMeta(email)).ReplaceAllLiteralString(reply, "<recipient>")
	}
	reply = strings.Join(strings.FieldsFunc(reply, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if len(reply) > maxReply {
		reply = strings.ToValidUTF8(reply[:maxReply], "") + "…"
	}
	return reply
}
