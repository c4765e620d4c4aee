package projections

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/invitesvc/invitesvc/domain"
)

var tracer = otel.Tracer("github.com/invitesvc/invitesvc/projections")

// Projector maps events to read-store writes and applies them in stream
// order. The service runs it behind a stream consumer; the tools call it
// with the events they read (a single event is a batch of one).
type Projector struct {
	store    Store
	personal PersonalData
	logger   *slog.Logger
}

// PersonalData opens the email addresses of events (see transport/keystore).
type PersonalData interface {
	// Open decrypts a payload's address, or marks it erased.
	Open(ctx context.Context, p domain.Payload) (domain.Payload, error)
	// Forget drops what the process keeps of an address's data keys up to
	// generation: an erasure the projector reads may be another replica's.
	Forget(organizationID, emailHMAC string, generation int)
}

// KeepSealed opens no address: an event in clear (revision 1's form)
// projects as it is, a sealed address stays sealed and the read models
// get none of it. It is for what projects without the key-encryption key
// to measure (invitebench), and for tests of events in clear.
type KeepSealed struct{}

func (KeepSealed) Open(_ context.Context, p domain.Payload) (domain.Payload, error) {
	return p, nil
}
func (KeepSealed) Forget(string, string, int) {}

// NewProjector returns a projector writing to store what it opens with personal.
func NewProjector(store Store, personal PersonalData, logger *slog.Logger) *Projector {
	if store == nil || personal == nil || logger == nil {
		panic("projections.NewProjector: nil dependency")
	}
	return &Projector{store: store, personal: personal, logger: logger}
}

// Project applies consecutive events of the stream in as few store round
// trips as it can. Events at or below the store's checkpoint are stepped
// over: another replica, or this one before a redelivery, applied them. An
// event this build cannot decode is logged and stepped over too, so that it
// cannot stall the read models. A refused write (ErrGap, or a conflict with
// another replica) and store failures are returned for the batch to be
// delivered again. applied is the highest position the store is known to
// hold afterwards, error or not.
func (p *Projector) Project(ctx context.Context, events []domain.Delivered) (applied uint64, err error) {
	if len(events) == 0 {
		return 0, nil
	}
	ctx, span := tracer.Start(ctx, "project events", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.Int64("stream.sequence", int64(events[0].Sequence)), attribute.Int("events", len(events))))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	checkpoint, err := p.store.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	reads := &batchReads{Store: p.store}
	writes := make([]Write, 0, len(events))
	for _, e := range events {
		if e.Sequence <= checkpoint {
			continue
		}
		w := Write{Position: e.Sequence}
		if e.Err != nil {
			p.logger.Error("read models skip an event they cannot decode", "sequence", e.Sequence, "error", e.Err)
		} else {
			ev := e.Event
			if ev.Data, err = p.personal.Open(ctx, ev.Data); err != nil {
				return checkpoint, err
			}
			if d, ok := ev.Data.(domain.EmailErased); ok {
				p.personal.Forget(d.OrganizationID, d.EmailHMAC, d.Generation)
			}
			if err := fill(ctx, reads, &w, ev); err != nil {
				return checkpoint, err
			}
		}
		reads.remember(w)
		writes = append(writes, w)
	}
	n, err := p.store.ApplyBatch(ctx, writes)
	if n > 0 {
		checkpoint = writes[n-1].Position
	}
	if err != nil {
		return checkpoint, fmt.Errorf("event %d: %w", writes[n].Position, err)
	}
	return checkpoint, nil
}

// reader is what fill reads: the store, or a batch's view of it.
type reader interface {
	Organization(ctx context.Context, id string) (Organization, bool, error)
	Invitation(ctx context.Context, organizationID, id string) (Invitation, bool, error)
}

// fill computes the write for e from the stored state it changes.
func fill(ctx context.Context, reads reader, w *Write, e domain.Event) error {
	switch d := e.Data.(type) {
	case domain.OrganizationRegistered:
		w.Organization = &Organization{ID: d.OrganizationID, Name: d.Name, CreatedAt: e.Time, Version: 1}
	case domain.OrganizationRenamed:
		org, _, err := reads.Organization(ctx, d.OrganizationID)
		if err != nil {
			return err
		}
		org.ID, org.Name = d.OrganizationID, d.Name
		org.Version++
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
		w.Member = &Member{OrganizationID: d.OrganizationID, UserID: d.UserID, Email: d.Email, EmailErased: d.EmailErased,
			Role: d.Role, JoinedAt: e.Time, InvitationID: d.InvitationID, Position: w.Position}
	case domain.MembershipRemoved:
		w.RemovedMember = &MemberKey{OrganizationID: d.OrganizationID, UserID: d.UserID}
	case domain.EmailErased:
		// The memberships it names were ended before it: the read models
		// keep active ones only.
		for _, id := range d.InvitationIDs {
			inv, found, err := reads.Invitation(ctx, d.OrganizationID, id)
			if err != nil {
				return err
			}
			if found {
				inv.Email, inv.EmailErased = "", true
				w.ErasedInvitations = append(w.ErasedInvitations, inv)
			}
		}
	}
	return nil
}
