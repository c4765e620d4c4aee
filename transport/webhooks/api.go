package webhooks

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// History reads endpoints from the stream, past any cache, verified:
// eventstore.History is one.
type History interface {
	EventLog
	Lasts(ctx context.Context, filter string) ([]domain.Recorded, error)
}

// API is what the webhooks routes serve from: the commands, with the
// delivery policy checked first, and reads of the stream, the outbox and
// the attempts.
type API struct {
	handlers *commands.WebhookHandlers
	history  History
	stores   *Stores
	policy   Policy
}

// NewAPI serves the routes from handlers, the stream's history and stores.
func NewAPI(handlers *commands.WebhookHandlers, history History, stores *Stores, policy Policy) *API {
	if handlers == nil || history == nil || stores == nil {
		panic("webhooks.NewAPI: nil dependency")
	}
	return &API{handlers: handlers, history: history, stores: stores, policy: policy}
}

// Create adds an endpoint; it answers its signing secret this once.
func (a *API) Create(ctx context.Context, cmd commands.CreateWebhook) (domain.Webhook, string, error) {
	if err := a.policy.CheckURL(cmd.Settings.URL); err != nil {
		return domain.Webhook{}, "", err
	}
	return a.handlers.CreateWebhook.Handle(ctx, cmd)
}

// Update changes an endpoint's settings.
func (a *API) Update(ctx context.Context, cmd commands.UpdateWebhook) (domain.Webhook, error) {
	if cmd.URL != nil {
		if err := a.policy.CheckURL(*cmd.URL); err != nil {
			return domain.Webhook{}, err
		}
	}
	return a.handlers.UpdateWebhook.Handle(ctx, cmd)
}

// RotateSecret gives an endpoint a new secret, answered this once.
func (a *API) RotateSecret(ctx context.Context, cmd commands.RotateWebhookSecret) (domain.Webhook, string, error) {
	return a.handlers.RotateWebhookSecret.Handle(ctx, cmd)
}

// Delete removes an endpoint, destroys its secrets and drops what it had
// pending and its attempts.
func (a *API) Delete(ctx context.Context, cmd commands.DeleteWebhook) error {
	if err := a.handlers.DeleteWebhook.Handle(ctx, cmd); err != nil {
		return err
	}
	if err := a.stores.outbox.drop(ctx, cmd.WebhookID); err != nil {
		return err
	}
	return a.stores.attempts.forget(ctx, cmd.WebhookID)
}

// Get is an endpoint as the stream says it stands.
func (a *API) Get(ctx context.Context, org, id string) (domain.Webhook, error) {
	w, err := loadWebhook(ctx, a.history, org, id)
	if err != nil {
		return domain.Webhook{}, err
	}
	if !w.Live() {
		return domain.Webhook{}, domain.ErrWebhookNotFound
	}
	return w, nil
}

// List is an organization's endpoints, oldest first: one found by the
// index of its webhook.created event each, then loaded.
func (a *API) List(ctx context.Context, org string) ([]domain.Webhook, error) {
	// webhooks.<org>.*.created: every endpoint's first event.
	every := eventstore.Filter(domain.StreamID{Kind: domain.KindWebhook, OrganizationID: org, Key: "*"})
	created, err := a.history.Lasts(ctx, strings.TrimSuffix(every, "*")+verbCreated)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Webhook, 0, len(created))
	for _, c := range created {
		w, err := loadWebhook(ctx, a.history, org, domain.StreamOf(c.Event.Data).Key)
		if err != nil {
			return nil, err
		}
		if w.Live() {
			out = append(out, w)
		}
	}
	return out, nil
}

// verbCreated is the last token of a webhook.created event's subject.
const verbCreated = "created"

// Deliveries are an endpoint's recent attempts, newest first.
func (a *API) Deliveries(ctx context.Context, org, id string) ([]Attempt, error) {
	if _, err := a.Get(ctx, org, id); err != nil {
		return nil, err
	}
	return a.stores.attempts.list(ctx, id)
}

// Replayed is a delivery queued again.
type Replayed struct {
	DeliveryID    string
	EventID       string
	EventType     string
	EventSequence uint64
}

// Replay queues again the event of one of an endpoint's recent
// deliveries, as a new delivery at the end of its queue; it carries the
// same webhook-id, so that a receiver that has it already sees a repeat.
func (a *API) Replay(ctx context.Context, org, id, deliveryID string) (Replayed, error) {
	w, err := a.Get(ctx, org, id)
	if err != nil {
		return Replayed{}, err
	}
	if !w.Enabled {
		return Replayed{}, domain.ErrWebhookDisabled
	}
	recent, err := a.stores.attempts.list(ctx, id)
	if err != nil {
		return Replayed{}, err
	}
	for _, at := range recent {
		if at.DeliveryID != deliveryID {
			continue
		}
		p := pending{DeliveryID: uuid.Must(uuid.NewV7()).String(), OrganizationID: org, WebhookID: id, EventSequence: at.EventSequence,
			EventID: at.EventID, EventType: at.EventType, EnqueuedAt: time.Now().UTC()}
		if err := a.stores.outbox.enqueue(ctx, p); err != nil {
			return Replayed{}, err
		}
		return Replayed{DeliveryID: p.DeliveryID, EventID: p.EventID, EventType: p.EventType, EventSequence: p.EventSequence}, nil
	}
	return Replayed{}, domain.ErrDeliveryNotFound
}
