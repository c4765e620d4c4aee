package commands

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// WebhookSecrets keeps the signing secrets of webhook endpoints outside the
// stream, by the ids the events name them by (transport/webhooks keeps
// them wrapped in a key-value bucket of their own).
type WebhookSecrets interface {
	// Put stores an endpoint's secret under secretID.
	Put(ctx context.Context, organizationID, webhookID, secretID string, secret []byte) error
	// Destroy erases every secret of the endpoint but those of keep.
	Destroy(ctx context.Context, organizationID, webhookID string, keep ...string) error
}

// WebhookHandlers groups the handlers of webhook endpoints (issue 16).
type WebhookHandlers struct {
	CreateWebhook       *CreateWebhookHandler
	UpdateWebhook       *UpdateWebhookHandler
	RotateWebhookSecret *RotateWebhookSecretHandler
	DeleteWebhook       *DeleteWebhookHandler
	DisableWebhook      *DisableWebhookHandler
}

// NewWebhooks builds the webhook handlers; overlap is how long a rotated
// secret keeps signing beside its successor. Webhook events carry no
// address, so they need no sealing; they share nothing with the other
// handlers but the stores. It panics on a nil dependency.
func NewWebhooks(events EventStore, secrets WebhookSecrets, reads Projection, now func() time.Time, observer Observer, overlap time.Duration) *WebhookHandlers {
	if events == nil || secrets == nil || reads == nil || now == nil || observer == nil {
		panic("commands.NewWebhooks: nil dependency")
	}
	b := webhookBase{base: base{events: events, reads: reads, now: now, observer: observer, locks: newStreamLocks()}, secrets: secrets}
	return &WebhookHandlers{
		CreateWebhook:       &CreateWebhookHandler{b},
		UpdateWebhook:       &UpdateWebhookHandler{b},
		RotateWebhookSecret: &RotateWebhookSecretHandler{b, overlap},
		DeleteWebhook:       &DeleteWebhookHandler{b},
		DisableWebhook:      &DisableWebhookHandler{b},
	}
}

type webhookBase struct {
	base
	secrets WebhookSecrets
}

func webhookStream(org, id string) domain.StreamID {
	return domain.StreamID{Kind: domain.KindWebhook, OrganizationID: org, Key: id}
}

func (b webhookBase) webhook(ctx context.Context, org, id string) (domain.Webhook, domain.Position, error) {
	return load[domain.Webhook](ctx, b.events, webhookStream(org, id))
}

// SecretPrefix starts a signing secret as Standard Webhooks writes them.
const SecretPrefix = "whsec_"

// secretBytes is the size of a signing secret: Standard Webhooks asks 24
// to 64 random bytes.
const secretBytes = 32

// newSecret draws a signing secret: the id it is stored under, its bytes,
// and its text (whsec_ and the bytes in standard base64), shown once.
func newSecret() (id string, raw []byte, text string) {
	raw = make([]byte, secretBytes)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails
	return newID(), raw, SecretPrefix + base64.StdEncoding.EncodeToString(raw)
}

// CreateWebhook adds an endpoint to an organization.
type CreateWebhook struct {
	OrganizationID string
	Settings       domain.WebhookSettings // Enabled is ignored: a new endpoint is enabled
	Actor          string
}

type CreateWebhookHandler struct{ webhookBase }

// Handle answers the endpoint and its signing secret, which is never
// shown again. The secret is stored before the endpoint is recorded; a
// create that fails after it leaves it to be destroyed.
func (h *CreateWebhookHandler) Handle(ctx context.Context, cmd CreateWebhook) (w domain.Webhook, secret string, err error) {
	id := newID()
	secretID, raw, text := newSecret()
	stored := false
	// The endpoint is new, under an id no one else has: nothing to lock.
	err = h.execute(ctx, "create_webhook", nil, func(ctx context.Context, now time.Time) (decision, error) {
		org, _, err := h.organization(ctx, cmd.OrganizationID)
		if err != nil {
			return decision{}, err
		}
		created, err := domain.CreateWebhook(org, id, secretID, cmd.Settings, cmd.Actor)
		if err != nil {
			return decision{}, err
		}
		if !stored {
			if err := h.secrets.Put(ctx, org.ID, id, secretID, raw); err != nil {
				return decision{}, err
			}
			stored = true
		}
		w = evolve(domain.Webhook{}, now, created)
		return decision{payloads: []domain.Payload{created}, expected: map[domain.StreamID]domain.Position{webhookStream(org.ID, id): {}}}, nil
	})
	if err != nil {
		if stored {
			_ = h.secrets.Destroy(context.WithoutCancel(ctx), cmd.OrganizationID, id)
		}
		return domain.Webhook{}, "", err
	}
	return w, text, nil
}

// UpdateWebhook changes an endpoint's settings; nil fields stay as they are.
type UpdateWebhook struct {
	OrganizationID string
	WebhookID      string
	URL            *string
	Events         []string // nil: unchanged
	Description    *string
	Enabled        *bool
	Actor          string
}

type UpdateWebhookHandler struct{ webhookBase }

func (h *UpdateWebhookHandler) Handle(ctx context.Context, cmd UpdateWebhook) (w domain.Webhook, err error) {
	stream := webhookStream(cmd.OrganizationID, cmd.WebhookID)
	err = h.execute(ctx, "update_webhook", []domain.StreamID{stream}, func(ctx context.Context, now time.Time) (decision, error) {
		current, pos, err := h.webhook(ctx, cmd.OrganizationID, cmd.WebhookID)
		if err != nil {
			return decision{}, err
		}
		s := domain.WebhookSettings{URL: current.URL, Events: current.Events, Description: current.Description, Enabled: current.Enabled}
		if cmd.URL != nil {
			s.URL = *cmd.URL
		}
		if cmd.Events != nil {
			s.Events = cmd.Events
		}
		if cmd.Description != nil {
			s.Description = *cmd.Description
		}
		if cmd.Enabled != nil {
			s.Enabled = *cmd.Enabled
		}
		updated, err := domain.UpdateWebhook(current, s, cmd.Actor)
		if err != nil {
			return decision{}, err
		}
		payloads := domain.Optional(updated)
		w = evolve(current, now, payloads...)
		return decision{payloads: payloads, expected: map[domain.StreamID]domain.Position{stream: pos}}, nil
	})
	return w, err
}

// RotateWebhookSecret gives an endpoint a new signing secret.
type RotateWebhookSecret struct {
	OrganizationID string
	WebhookID      string
	Actor          string
}

type RotateWebhookSecretHandler struct {
	webhookBase
	overlap time.Duration
}

// Handle answers the endpoint and its new secret, shown this once. The
// secret before keeps signing for the overlap; any other is destroyed
// (the one before that, and those of creates or rotations that failed).
func (h *RotateWebhookSecretHandler) Handle(ctx context.Context, cmd RotateWebhookSecret) (w domain.Webhook, secret string, err error) {
	stream := webhookStream(cmd.OrganizationID, cmd.WebhookID)
	secretID, raw, text := newSecret()
	stored := false
	err = h.execute(ctx, "rotate_webhook_secret", []domain.StreamID{stream}, func(ctx context.Context, now time.Time) (decision, error) {
		current, pos, err := h.webhook(ctx, cmd.OrganizationID, cmd.WebhookID)
		if err != nil {
			return decision{}, err
		}
		rotated, err := domain.RotateWebhookSecret(current, secretID, h.overlap, cmd.Actor, now)
		if err != nil {
			return decision{}, err
		}
		if !stored {
			if err := h.secrets.Put(ctx, cmd.OrganizationID, cmd.WebhookID, secretID, raw); err != nil {
				return decision{}, err
			}
			stored = true
		}
		w = evolve(current, now, rotated)
		return decision{payloads: []domain.Payload{rotated}, expected: map[domain.StreamID]domain.Position{stream: pos}}, nil
	})
	if err != nil {
		// A secret stored for nothing goes with the next rotation or the
		// deletion, which keep only the ones the endpoint names.
		return domain.Webhook{}, "", err
	}
	if err := h.secrets.Destroy(ctx, cmd.OrganizationID, cmd.WebhookID, w.SecretID, w.PreviousSecretID); err != nil {
		return domain.Webhook{}, "", err
	}
	return w, text, nil
}

// DeleteWebhook removes an endpoint and destroys its secrets.
type DeleteWebhook struct {
	OrganizationID string
	WebhookID      string
	Actor          string
}

type DeleteWebhookHandler struct{ webhookBase }

// Handle records the deletion, then destroys the secrets; deleting again
// destroys them again, which finishes a deletion stopped between the two.
func (h *DeleteWebhookHandler) Handle(ctx context.Context, cmd DeleteWebhook) error {
	stream := webhookStream(cmd.OrganizationID, cmd.WebhookID)
	err := h.execute(ctx, "delete_webhook", []domain.StreamID{stream}, func(ctx context.Context, _ time.Time) (decision, error) {
		current, pos, err := h.webhook(ctx, cmd.OrganizationID, cmd.WebhookID)
		if err != nil {
			return decision{}, err
		}
		deleted, err := domain.DeleteWebhook(current, cmd.Actor)
		return decision{payloads: domain.Optional(deleted), expected: map[domain.StreamID]domain.Position{stream: pos}}, err
	})
	if err != nil {
		return err
	}
	return h.secrets.Destroy(ctx, cmd.OrganizationID, cmd.WebhookID)
}

// DisableWebhook records that the dispatcher stopped delivering to an
// endpoint (it answered 410 Gone, or kept failing).
type DisableWebhook struct {
	OrganizationID string
	WebhookID      string
	Reason         string
	Detail         string
}

type DisableWebhookHandler struct{ webhookBase }

// Handle answers the endpoint as it now stands; disabling one disabled or
// deleted decides nothing.
func (h *DisableWebhookHandler) Handle(ctx context.Context, cmd DisableWebhook) (w domain.Webhook, err error) {
	stream := webhookStream(cmd.OrganizationID, cmd.WebhookID)
	err = h.execute(ctx, "disable_webhook", []domain.StreamID{stream}, func(ctx context.Context, now time.Time) (decision, error) {
		current, pos, err := h.webhook(ctx, cmd.OrganizationID, cmd.WebhookID)
		if err != nil {
			return decision{}, err
		}
		if current.Version == 0 {
			return decision{}, domain.ErrWebhookNotFound
		}
		payloads := domain.Optional(domain.DisableWebhook(current, cmd.Reason, cmd.Detail))
		w = evolve(current, now, payloads...)
		return decision{payloads: payloads, expected: map[domain.StreamID]domain.Position{stream: pos}}, nil
	})
	return w, err
}
