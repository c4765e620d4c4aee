package webhooks

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// model is the endpoints as they stood at one position of the stream:
// what the fan-out decides on, so that an event goes to the endpoints that
// wanted it when it was stored (one created after it gets none, one
// disabled before it none), however late the dispatcher reads it.
type model struct {
	js      jetstream.JetStream
	keyring *signing.Keyring
	pos     uint64 // every webhook event up to pos is applied, none after
	hooks   map[string]domain.Webhook
	byOrg   map[string][]string // live endpoints' ids by organization
}

func newModel(js jetstream.JetStream, keyring *signing.Keyring) *model {
	return &model{js: js, keyring: keyring, hooks: map[string]domain.Webhook{}, byOrg: map[string][]string{}}
}

// webhookEvents matches the endpoints' events in the stream.
const webhookEvents = "webhooks.*.*.*"

// at brings the model to position seq: it reads the webhook events after
// its position up to seq, or starts again from nothing when it is past
// seq (a batch fed again from further back).
func (m *model) at(ctx context.Context, seq uint64) error {
	if m.pos > seq {
		*m = *newModel(m.js, m.keyring)
	}
	if m.pos == seq {
		return nil
	}
	stream, err := m.js.Stream(ctx, eventstore.StreamName)
	if err != nil {
		return unavailable(err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{webhookEvents},
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: m.pos + 1})
	if err != nil {
		return unavailable(err)
	}
	// Ordered consumers outlive their reader by minutes: leave none behind.
	defer func() {
		if info := cons.CachedInfo(); info != nil {
			_ = stream.DeleteConsumer(context.WithoutCancel(ctx), info.Name)
		}
	}()
	for {
		batch, err := cons.FetchNoWait(256)
		if err != nil {
			return unavailable(err)
		}
		n, last := 0, uint64(0)
		var left uint64
		for msg := range batch.Messages() {
			md, err := msg.Metadata()
			if err != nil {
				return unavailable(err)
			}
			n, left = n+1, md.NumPending
			if md.Sequence.Stream > seq {
				m.pos = seq
				return nil
			}
			last = md.Sequence.Stream
			if err := m.keyring.Verify(msg.Subject(), msg.Data(), msg.Headers().Get(signing.KeyIDHeader),
				signing.DecodeSignature(msg.Headers().Get(signing.SignatureHeader))); err != nil {
				continue // never applied, as the projection applies none
			}
			if e, err := domain.UnmarshalCloudEvent(msg.Data()); err == nil {
				m.apply(e)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return unavailable(fmt.Errorf("read webhook events: %w", err))
		}
		if n == 0 || left == 0 || last >= seq {
			m.pos = seq
			return nil
		}
	}
}

// apply evolves the endpoint an event belongs to.
func (m *model) apply(e domain.Event) {
	id := domain.StreamOf(e.Data)
	if id.Kind != domain.KindWebhook {
		return
	}
	w := m.hooks[id.Key]
	w.Apply(e)
	ids := m.byOrg[id.OrganizationID]
	switch {
	case w.Live() && !slices.Contains(ids, id.Key):
		m.byOrg[id.OrganizationID] = append(ids, id.Key)
	case !w.Live():
		m.byOrg[id.OrganizationID] = slices.DeleteFunc(ids, func(s string) bool { return s == id.Key })
		delete(m.hooks, id.Key)
		return
	}
	m.hooks[id.Key] = w
}

// wanting are the endpoints of org that want events of eventType.
func (m *model) wanting(org, eventType string) []domain.Webhook {
	var out []domain.Webhook
	for _, id := range m.byOrg[org] {
		if w := m.hooks[id]; w.Wants(eventType) {
			out = append(out, w)
		}
	}
	return out
}
