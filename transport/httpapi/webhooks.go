package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/auth"
	"github.com/invitesvc/invitesvc/transport/webhooks"
)

// Webhooks are what the webhooks routes serve from (issue 16);
// *webhooks.API is one.
type Webhooks interface {
	Create(ctx context.Context, cmd commands.CreateWebhook) (domain.Webhook, string, error)
	List(ctx context.Context, organizationID string) ([]domain.Webhook, error)
	Get(ctx context.Context, organizationID, id string) (domain.Webhook, error)
	Update(ctx context.Context, cmd commands.UpdateWebhook) (domain.Webhook, error)
	Delete(ctx context.Context, cmd commands.DeleteWebhook) error
	RotateSecret(ctx context.Context, cmd commands.RotateWebhookSecret) (domain.Webhook, string, error)
	Deliveries(ctx context.Context, organizationID, id string) ([]webhooks.Attempt, error)
	Replay(ctx context.Context, organizationID, id, deliveryID string) (webhooks.Replayed, error)
}

// webhookRoutes adds the routes of webhook endpoints; every one needs
// org.admin in the organization.
func (s *server) webhookRoutes(route func(string, map[string]handlerFunc)) {
	const base = "/organizations/{organization_id}/webhooks"
	// The answers of create and rotate-secret hold a secret.
	route(base, map[string]handlerFunc{http.MethodPost: noStore(s.createWebhook), http.MethodGet: private(s.listWebhooks)})
	route(base+"/{webhook_id}", map[string]handlerFunc{http.MethodGet: private(s.getWebhook), http.MethodPatch: private(s.updateWebhook), http.MethodDelete: private(s.deleteWebhook)})
	route(base+"/{webhook_id}/rotate-secret", map[string]handlerFunc{http.MethodPost: noStore(s.rotateWebhookSecret)})
	route(base+"/{webhook_id}/deliveries", map[string]handlerFunc{http.MethodGet: private(s.listDeliveries)})
	route(base+"/{webhook_id}/deliveries/{delivery_id}/replay", map[string]handlerFunc{http.MethodPost: private(s.replayDelivery)})
}

type webhookResource struct {
	ID             string   `json:"id"`
	OrganizationID string   `json:"organization_id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Description    string   `json:"description"`
	Enabled        bool     `json:"enabled"`
	DisabledReason string   `json:"disabled_reason,omitempty"`
	DisabledDetail string   `json:"disabled_detail,omitempty"`
	// PreviousSecretExpiresAt is shown while the secret before the
	// current one still signs.
	PreviousSecretExpiresAt *timestamp `json:"previous_secret_expires_at,omitempty"`
	CreatedAt               timestamp  `json:"created_at"`
	UpdatedAt               timestamp  `json:"updated_at"`
	Version                 int        `json:"version"`
	// Secret is in the answers of create and rotate-secret only.
	Secret string `json:"secret,omitempty"`
}

func newWebhookResource(w domain.Webhook, now time.Time) webhookResource {
	res := webhookResource{ID: w.ID, OrganizationID: w.OrganizationID, URL: w.URL, Events: w.Events, Description: w.Description,
		Enabled: w.Enabled, DisabledReason: w.DisabledReason, DisabledDetail: w.DisabledDetail,
		CreatedAt: timestamp(w.CreatedAt), UpdatedAt: timestamp(w.UpdatedAt), Version: w.Version}
	if len(w.SigningSecrets(now)) > 1 {
		res.PreviousSecretExpiresAt = optionalTime(w.PreviousSecretExpiresAt)
	}
	return res
}

type deliveryResource struct {
	DeliveryID    string     `json:"delivery_id"`
	Attempt       int        `json:"attempt"`
	AttemptedAt   timestamp  `json:"attempted_at"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	EventSequence uint64     `json:"event_sequence"`
	Status        *int       `json:"status"` // null when no answer came
	LatencyMS     int64      `json:"latency_ms"`
	Error         string     `json:"error,omitempty"`
	Outcome       string     `json:"outcome"`
	Final         bool       `json:"final"`
	NextAttemptAt *timestamp `json:"next_attempt_at,omitempty"`
}

func newDeliveryResource(a webhooks.Attempt) deliveryResource {
	d := deliveryResource{DeliveryID: a.DeliveryID, Attempt: a.Attempt, AttemptedAt: timestamp(a.AttemptedAt), EventID: a.EventID,
		EventType: a.EventType, EventSequence: a.EventSequence, LatencyMS: a.LatencyMS, Error: a.Error, Outcome: a.Outcome, Final: a.Final}
	if a.Status != 0 {
		d.Status = &a.Status
	}
	if a.NextAttemptAt != nil {
		d.NextAttemptAt = optionalTime(*a.NextAttemptAt)
	}
	return d
}

// authorizeWebhook is authorize(org.admin) for a route naming an endpoint;
// text that cannot be an endpoint's id is none.
func (s *server) authorizeWebhook(r *http.Request) (auth.Principal, string, string, error) {
	p, org, err := s.authorize(r, auth.PermOrgAdmin)
	if err != nil {
		return p, "", "", err
	}
	id := pathVar(r, "webhook_id")
	if !domain.ValidWebhookID(id) {
		return p, "", "", domain.ErrWebhookNotFound
	}
	return p, org, id, nil
}

func (s *server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	p, org, err := s.authorize(r, auth.PermOrgAdmin)
	if err != nil {
		return err
	}
	var body struct {
		URL         string   `json:"url"`
		Events      []string `json:"events"`
		Description string   `json:"description"`
	}
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	hook, secret, err := s.Webhooks.Create(r.Context(), commands.CreateWebhook{OrganizationID: org, Actor: p.Subject,
		Settings: domain.WebhookSettings{URL: body.URL, Events: body.Events, Description: body.Description}})
	if err != nil {
		return err
	}
	res := newWebhookResource(hook, s.Now())
	res.Secret = secret
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (s *server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	_, org, err := s.authorize(r, auth.PermOrgAdmin)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	if _, err := s.registered(r, org); err != nil {
		return err
	}
	hooks, err := s.Webhooks.List(r.Context(), org)
	if err != nil {
		return err
	}
	out := make([]webhookResource, len(hooks))
	for i, h := range hooks {
		out[i] = newWebhookResource(h, s.Now())
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
	return nil
}

func (s *server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	_, org, id, err := s.authorizeWebhook(r)
	if err != nil {
		return err
	}
	hook, err := s.Webhooks.Get(r.Context(), org, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newWebhookResource(hook, s.Now()))
	return nil
}

func (s *server) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	p, org, id, err := s.authorizeWebhook(r)
	if err != nil {
		return err
	}
	var body struct {
		URL         *string  `json:"url"`
		Events      []string `json:"events"`
		Description *string  `json:"description"`
		Enabled     *bool    `json:"enabled"`
	}
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	hook, err := s.Webhooks.Update(r.Context(), commands.UpdateWebhook{OrganizationID: org, WebhookID: id, URL: body.URL,
		Events: body.Events, Description: body.Description, Enabled: body.Enabled, Actor: p.Subject})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newWebhookResource(hook, s.Now()))
	return nil
}

func (s *server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	p, org, id, err := s.authorizeWebhook(r)
	if err != nil {
		return err
	}
	if err := s.Webhooks.Delete(r.Context(), commands.DeleteWebhook{OrganizationID: org, WebhookID: id, Actor: p.Subject}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	p, org, id, err := s.authorizeWebhook(r)
	if err != nil {
		return err
	}
	hook, secret, err := s.Webhooks.RotateSecret(r.Context(), commands.RotateWebhookSecret{OrganizationID: org, WebhookID: id, Actor: p.Subject})
	if err != nil {
		return err
	}
	res := newWebhookResource(hook, s.Now())
	res.Secret = secret
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	_, org, id, err := s.authorizeWebhook(r)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	attempts, err := s.Webhooks.Deliveries(r.Context(), org, id)
	if err != nil {
		return err
	}
	out := make([]deliveryResource, len(attempts))
	for i, a := range attempts {
		out[i] = newDeliveryResource(a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
	return nil
}

func (s *server) replayDelivery(w http.ResponseWriter, r *http.Request) error {
	_, org, id, err := s.authorizeWebhook(r)
	if err != nil {
		return err
	}
	delivery := pathVar(r, "delivery_id")
	if !domain.ValidWebhookID(delivery) {
		return domain.ErrDeliveryNotFound
	}
	replayed, err := s.Webhooks.Replay(r.Context(), org, id, delivery)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"delivery_id": replayed.DeliveryID, "event_id": replayed.EventID,
		"event_type": replayed.EventType, "event_sequence": replayed.EventSequence})
	return nil
}
