package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/invitesvc/invitesvc/domain"
)

var tracer = otel.Tracer("github.com/invitesvc/invitesvc/projections")

// Projector applies events to the read store in stream order, one at a time
// (Project) or in batches (ProjectBatch, what the service's router runs).
type Projector struct {
	store  Store
	logger *slog.Logger

	mu      sync.Mutex
	applied uint64        // highest position known applied
	changed chan struct{} // closed and replaced whenever applied grows
	waiters int           // WaitFor calls waiting
	polling bool          // a goroutine polls the store's checkpoint for them
}

// NewProjector returns a projector writing to store.
func NewProjector(store Store, logger *slog.Logger) *Projector {
	if store == nil || logger == nil {
		panic("projections.NewProjector: nil dependency")
	}
	return &Projector{store: store, logger: logger, changed: make(chan struct{})}
}

// Project applies the event stored at stream position seq.
func (p *Projector) Project(ctx context.Context, seq uint64, raw []byte) error {
	e, err := domain.UnmarshalCloudEvent(raw)
	return p.ProjectDecoded(ctx, seq, e, err)
}

// ProjectDecoded applies an event already decoded (for a caller that decodes
// anyway); decodeErr says why it could not be. An event this build cannot
// decode is logged and stepped over, so that it cannot stall the read models;
// ErrGap and store errors are returned for the event to be redelivered.
func (p *Projector) ProjectDecoded(ctx context.Context, seq uint64, e domain.Event, decodeErr error) (err error) {
	ctx, span := tracer.Start(ctx, "project event", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.Int64("stream.sequence", int64(seq))))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	w := Write{Position: seq}
	if decodeErr != nil {
		p.logger.Error("read models skip an event they cannot decode", "sequence", seq, "error", decodeErr)
	} else if err := p.fill(ctx, p.store, &w, e); err != nil {
		return err
	}
	if err := p.store.Apply(ctx, w); err != nil && !errors.Is(err, ErrAlreadyApplied) {
		return err
	}
	p.advance(seq)
	return nil
}

// reader is what fill reads: the store, or a batch's view of it.
type reader interface {
	Organization(ctx context.Context, id string) (Organization, bool, error)
	Invitation(ctx context.Context, organizationID, id string) (Invitation, bool, error)
}

// fill computes the write for e from the stored state it changes.
func (p *Projector) fill(ctx context.Context, reads reader, w *Write, e domain.Event) error {
	switch d := e.Data.(type) {
	case domain.OrganizationRegistered:
		w.Organization = &Organization{ID: d.OrganizationID, Name: d.Name, CreatedAt: e.Time}
	case domain.OrganizationRenamed:
		org, _, err := reads.Organization(ctx, d.OrganizationID)
		if err != nil {
			return err
		}
		org.ID, org.Name = d.OrganizationID, d.Name
		w.Organization = &org
	case domain.InvitationCreated:
		inv := Invitation{Position: w.Position}
		inv.Apply(e)
		w.Invitation = &inv
	case domain.InvitationResent, domain.InvitationAccepted, domain.InvitationCancelled, domain.InvitationExpired:
		id := domain.StreamOf(d)
		inv, found, err := reads.Invitation(ctx, id.OrganizationID, id.Key)
		if err != nil {
			return err
		}
		if !found {
			inv.Position = w.Position
		}
		inv.Apply(e)
		w.Invitation = &inv
	case domain.MembershipAdded:
		w.Member = &Member{OrganizationID: d.OrganizationID, UserID: d.UserID, Email: d.Email, Role: d.Role,
			JoinedAt: e.Time, InvitationID: d.InvitationID, Position: w.Position}
	case domain.MembershipRemoved:
		w.RemovedMember = &MemberKey{OrganizationID: d.OrganizationID, UserID: d.UserID}
	}
	return nil
}

func (p *Projector) advance(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq > p.applied {
		p.applied = seq
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

func (p *Projector) state() (uint64, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied, p.changed
}

// waitLimit bounds how long a command waits for its events to show. It
// outlasts a consumer's failover in a cluster (election, then redelivery
// after ackWait), and stays under the HTTP server's write timeout.
const waitLimit = 20 * time.Second

// WaitFor returns once the read store has applied seq. Another replica may
// apply it to a shared store, so the store's checkpoint is polled as well:
// by one goroutine for all waiters, since a read per waiter every few
// milliseconds starved the projector they wait for.
func (p *Projector) WaitFor(ctx context.Context, seq uint64) {
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	p.wait(+1)
	defer p.wait(-1)
	for {
		applied, changed := p.state()
		if applied >= seq {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			p.logger.Warn("read models lag behind a command's events", "sequence", seq, "applied", applied)
			return // the events are durable; the answer stays true
		}
	}
}

// checkpointPoll is how often the checkpoint is read while commands wait.
const checkpointPoll = 2 * time.Millisecond

// wait counts a waiter in or out, and starts the poller for the first.
func (p *Projector) wait(delta int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiters += delta
	if p.waiters > 0 && !p.polling {
		p.polling = true
		go p.pollCheckpoint()
	}
}

// pollCheckpoint reads the store's checkpoint until no one waits.
func (p *Projector) pollCheckpoint() {
	tick := time.NewTicker(checkpointPoll)
	defer tick.Stop()
	for range tick.C {
		p.mu.Lock()
		if p.waiters == 0 {
			p.polling = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cp, err := p.store.Checkpoint(ctx)
		cancel()
		if err == nil {
			p.advance(cp)
		}
	}
}

// Ready reports whether the read store answers.
func (p *Projector) Ready(ctx context.Context) error { return unavailable(p.store.Ping(ctx)) }

// InvitationIDByToken resolves a token hash through the token index.
func (p *Projector) InvitationIDByToken(ctx context.Context, tokenSHA256 string) (string, string, bool, error) {
	m, err := p.store.InvitationByToken(ctx, tokenSHA256)
	return m.Invitation.OrganizationID, m.Invitation.ID, m.Found, unavailable(err)
}

// Applied is the highest position this process knows the read store holds.
func (p *Projector) Applied() uint64 {
	applied, _ := p.state()
	return applied
}

// handle is the watermill handler: one message, a batch of consecutive
// events (see EncodeBatch).
func (p *Projector) handle(msg *message.Message) error {
	events, err := DecodeBatch(msg.Payload)
	if err != nil {
		return fmt.Errorf("message %s: %w", msg.UUID, err)
	}
	return p.ProjectBatch(msg.Context(), events)
}

// NewRouter runs the projector behind watermill's router: panics become
// errors, failed batches are retried with backoff, and a batch still failing
// is nacked so that the subscriber feeds the store again from its checkpoint.
// A gap is not retried: only that refeed mends it.
func (p *Projector) NewRouter(sub message.Subscriber) (*message.Router, error) {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NewSlogLogger(p.logger))
	if err != nil {
		return nil, err
	}
	r.AddMiddleware(
		middleware.Retry{
			MaxRetries:      5,
			InitialInterval: 20 * time.Millisecond,
			MaxInterval:     time.Second,
			Multiplier:      2,
			ShouldRetry:     func(params middleware.RetryParams) bool { return !errors.Is(params.Err, ErrGap) },
		}.Middleware,
		middleware.Recoverer,
	)
	r.AddConsumerHandler("read-models", "INVITATIONS", sub, p.handle)
	return r, nil
}

// Reset lowers what this process believes applied, after the store was
// found to have lost events, so that waiting commands wait for the rebuild.
func (p *Projector) Reset(checkpoint uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applied = checkpoint
}

// WaitCaughtUp reports whether the store reaches seq within limit.
func (p *Projector) WaitCaughtUp(ctx context.Context, seq uint64, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		cp, err := p.store.Checkpoint(ctx)
		if err != nil {
			return unavailable(err)
		}
		if cp >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("read models at event %d of %d", cp, seq)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
