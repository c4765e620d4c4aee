package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// pending is a delivery waiting in the outbox: which event of the stream
// goes to which endpoint. The event itself is read from the stream when
// it is sent: the outbox holds references, not copies.
type pending struct {
	DeliveryID     string    `json:"delivery_id"`
	OrganizationID string    `json:"organization_id"`
	WebhookID      string    `json:"webhook_id"`
	EventSequence  uint64    `json:"event_sequence"`
	EventID        string    `json:"event_id"`
	EventType      string    `json:"event_type"`
	EnqueuedAt     time.Time `json:"enqueued_at"`
	// seq is its position in the outbox, once read.
	seq uint64
}

// outboxDuplicates is the outbox's duplicate window: an event fed again
// to the dispatcher within it (a replica that died before acknowledging
// it) is not queued twice. Later, a delivery may be queued again under the
// same id, and a receiver sees the same webhook-id twice: at least once.
const outboxDuplicates = 10 * time.Minute

func outboxConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:         eventstore.WebhookOutboxStream,
		Description:  "Invitations service webhook deliveries pending, one subject per endpoint",
		Subjects:     []string{eventstore.WebhookOutboxPrefix + "*"},
		Storage:      jetstream.FileStorage,
		Retention:    jetstream.LimitsPolicy,
		Discard:      jetstream.DiscardNew,
		MaxMsgs:      -1,
		MaxBytes:     -1,
		MaxConsumers: -1,
		MaxAge:       0,
		Duplicates:   outboxDuplicates,
		AllowDirect:  true,
		Replicas:     replicas,
	}
}

// outbox is the pending deliveries, by endpoint, in order.
type outbox struct {
	js     jetstream.JetStream
	stream jetstream.Stream
}

func openOutbox(ctx context.Context, js jetstream.JetStream, replicas int) (*outbox, error) {
	stream, err := eventstore.EnsureStreamConfig(ctx, js, outboxConfig(replicas))
	if err != nil {
		return nil, err
	}
	return &outbox{js: js, stream: stream}, nil
}

func outboxSubject(webhookID string) string { return eventstore.WebhookOutboxPrefix + webhookID }

// enqueue appends a delivery to its endpoint's queue, once per id within
// the duplicate window.
func (o *outbox) enqueue(ctx context.Context, p pending) error {
	data, _ := json.Marshal(p)
	if _, err := o.js.Publish(ctx, outboxSubject(p.WebhookID), data, jetstream.WithMsgID(p.DeliveryID)); err != nil {
		return unavailable(fmt.Errorf("queue delivery %s: %w", p.DeliveryID, err))
	}
	return nil
}

// head is an endpoint's first pending delivery at or after outbox sequence
// from; ok is false when none is pending.
func (o *outbox) head(ctx context.Context, webhookID string, from uint64) (p pending, ok bool, err error) {
	m, err := o.stream.GetMsg(ctx, max(from, 1), jetstream.WithGetMsgSubject(outboxSubject(webhookID)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return pending{}, false, nil
	}
	if err != nil {
		return pending{}, false, unavailable(err)
	}
	if err := json.Unmarshal(m.Data, &p); err != nil {
		return pending{}, false, fmt.Errorf("outbox message %d: %w", m.Sequence, err)
	}
	p.seq = m.Sequence
	return p, true, nil
}

// done removes a delivery from the outbox.
func (o *outbox) done(ctx context.Context, seq uint64) error {
	if err := o.stream.DeleteMsg(ctx, seq); err != nil {
		if _, getErr := o.stream.GetMsg(ctx, seq); errors.Is(getErr, jetstream.ErrMsgNotFound) {
			return nil // removed meanwhile (a purge)
		}
		return unavailable(err)
	}
	return nil
}

// drop removes every delivery pending for an endpoint.
func (o *outbox) drop(ctx context.Context, webhookID string) error {
	if err := o.stream.Purge(ctx, jetstream.WithPurgeSubject(outboxSubject(webhookID))); err != nil {
		return unavailable(err)
	}
	return nil
}

// waiting is how many deliveries each endpoint has pending, for those that
// have any, and how many in all.
func (o *outbox) waiting(ctx context.Context) (map[string]uint64, uint64, error) {
	info, err := o.stream.Info(ctx, jetstream.WithSubjectFilter(eventstore.WebhookOutboxPrefix+"*"))
	if err != nil {
		return nil, 0, unavailable(err)
	}
	byEndpoint := make(map[string]uint64, len(info.State.Subjects))
	for subject, n := range info.State.Subjects {
		byEndpoint[strings.TrimPrefix(subject, eventstore.WebhookOutboxPrefix)] = n
	}
	return byEndpoint, info.State.Msgs, nil
}
