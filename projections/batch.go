package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/invitesvc/invitesvc/domain"
)

// RawEvent is an event as the stream stores it, with its position.
type RawEvent struct {
	Sequence uint64
	Data     []byte
}

// EncodeBatch frames consecutive events as one message: for each, its
// sequence and length as uvarints, then its bytes.
func EncodeBatch(events []RawEvent) []byte {
	size := 0
	for _, e := range events {
		size += 2*binary.MaxVarintLen64 + len(e.Data)
	}
	b := make([]byte, 0, size)
	for _, e := range events {
		b = binary.AppendUvarint(b, e.Sequence)
		b = binary.AppendUvarint(b, uint64(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b
}

// DecodeBatch reads what EncodeBatch wrote; the events share b's memory.
func DecodeBatch(b []byte) ([]RawEvent, error) {
	var events []RawEvent
	for len(b) > 0 {
		seq, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("projections: malformed batch: sequence")
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, errors.New("projections: malformed batch: length")
		}
		b = b[n:]
		events = append(events, RawEvent{Sequence: seq, Data: b[:size:size]})
		b = b[size:]
	}
	return events, nil
}

// batchReads answers the projector's reads while it fills a batch: the
// states its earlier writes make, else the store's.
type batchReads struct {
	Store
	organizations map[string]Organization
	invitations   map[[2]string]Invitation
}

func (r *batchReads) Organization(ctx context.Context, id string) (Organization, bool, error) {
	if o, ok := r.organizations[id]; ok {
		return o, true, nil
	}
	return r.Store.Organization(ctx, id)
}

func (r *batchReads) Invitation(ctx context.Context, organizationID, id string) (Invitation, bool, error) {
	if inv, ok := r.invitations[[2]string{organizationID, id}]; ok {
		return inv, true, nil
	}
	return r.Store.Invitation(ctx, organizationID, id)
}

func (r *batchReads) remember(w Write) {
	if o := w.Organization; o != nil {
		r.organizations[o.ID] = *o
	}
	if inv := w.Invitation; inv != nil {
		r.invitations[[2]string{inv.OrganizationID, inv.ID}] = *inv
	}
}

// ProjectBatch applies consecutive events of the stream in as few store
// round trips as it can. Events at or below the store's checkpoint are
// stepped over: another replica, or this one before a redelivery, applied
// them. A refused write (a gap, or a conflict with another replica) is
// returned for the batch to be delivered again.
func (p *Projector) ProjectBatch(ctx context.Context, events []RawEvent) (err error) {
	if len(events) == 0 {
		return nil
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
		return err
	}
	reads := &batchReads{Store: p.store, organizations: map[string]Organization{}, invitations: map[[2]string]Invitation{}}
	writes := make([]Write, 0, len(events))
	for _, ev := range events {
		if ev.Sequence <= checkpoint {
			continue
		}
		w := Write{Position: ev.Sequence}
		if e, err := domain.UnmarshalCloudEvent(ev.Data); err != nil {
			p.logger.Error("read models skip an event they cannot decode", "sequence", ev.Sequence, "error", err)
		} else if err := p.fill(ctx, reads, &w, e); err != nil {
			return err
		}
		reads.remember(w)
		writes = append(writes, w)
	}
	p.advance(checkpoint)
	n, err := p.store.ApplyBatch(ctx, writes)
	if n > 0 {
		p.advance(writes[n-1].Position)
	}
	if err != nil {
		return fmt.Errorf("event %d: %w", writes[n].Position, err)
	}
	return nil
}
