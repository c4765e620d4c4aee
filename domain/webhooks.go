package domain

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// A webhook is an endpoint of an organization that the service POSTs the
// organization's events to (issue 16). It is an aggregate of its own
// (webhooks.<org>.<webhook>.<event>), so that its changes are audited like
// everything else; its signing secrets are never in its events: they are
// kept, wrapped, in a key-value bucket beside the stream, by generation.
const (
	TypeWebhookCreated       = "webhook.created"
	TypeWebhookUpdated       = "webhook.updated"
	TypeWebhookSecretRotated = "webhook.secret_rotated"
	TypeWebhookDisabled      = "webhook.disabled"
	TypeWebhookDeleted       = "webhook.deleted"
)

// WebhookEventTypes are the event types an endpoint may subscribe to:
// those of the organization's audit feed after its registration, and
// erasures (a downstream copy of an address can be erased on it). Guard
// records and the webhooks' own events are not sent.
var WebhookEventTypes = []string{
	TypeOrganizationRenamed,
	TypeInvitationCreated, TypeInvitationResent, TypeInvitationAccepted, TypeInvitationCancelled, TypeInvitationExpired,
	TypeMembershipAdded, TypeMembershipRemoved,
	TypeEmailErased,
}

// AllWebhookEvents subscribes an endpoint to every type of WebhookEventTypes.
const AllWebhookEvents = "*"

// Why an endpoint was disabled by the service.
const (
	DisabledGone    = "gone"    // it answered 410 Gone
	DisabledFailing = "failing" // no delivery succeeded for too long
)

// WebhookCreated records a new endpoint and names its signing secret.
// Secrets are named by random ids, never derived: a secret stored by a
// command that then lost its append can never be taken for another's.
type WebhookCreated struct {
	OrganizationID string   `json:"organization_id"`
	WebhookID      string   `json:"webhook_id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Description    string   `json:"description"`
	SecretID       string   `json:"secret_id"`
	Actor          string   `json:"actor"`
}

// WebhookUpdated records an endpoint's settings after a change, all of them.
type WebhookUpdated struct {
	OrganizationID string   `json:"organization_id"`
	WebhookID      string   `json:"webhook_id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Description    string   `json:"description"`
	Enabled        bool     `json:"enabled"`
	Actor          string   `json:"actor"`
}

// WebhookSecretRotated records a new signing secret, SecretID; the one
// before it, PreviousSecretID, signs too until PreviousExpiresAt.
type WebhookSecretRotated struct {
	OrganizationID    string    `json:"organization_id"`
	WebhookID         string    `json:"webhook_id"`
	SecretID          string    `json:"secret_id"`
	PreviousSecretID  string    `json:"previous_secret_id"`
	PreviousExpiresAt time.Time `json:"previous_expires_at"`
	Actor             string    `json:"actor"`
}

// WebhookDisabled records that the service stopped delivering to an
// endpoint, and why (DisabledGone, DisabledFailing).
type WebhookDisabled struct {
	OrganizationID string `json:"organization_id"`
	WebhookID      string `json:"webhook_id"`
	Reason         string `json:"reason"`
	Detail         string `json:"detail"`
	Actor          string `json:"actor"`
}

// WebhookDeleted records that an endpoint was removed; its secrets are
// destroyed after it is recorded.
type WebhookDeleted struct {
	OrganizationID string `json:"organization_id"`
	WebhookID      string `json:"webhook_id"`
	Actor          string `json:"actor"`
}

func (WebhookCreated) EventType() string       { return TypeWebhookCreated }
func (WebhookUpdated) EventType() string       { return TypeWebhookUpdated }
func (WebhookSecretRotated) EventType() string { return TypeWebhookSecretRotated }
func (WebhookDisabled) EventType() string      { return TypeWebhookDisabled }
func (WebhookDeleted) EventType() string       { return TypeWebhookDeleted }

func (e WebhookCreated) ActedBy() string       { return e.Actor }
func (e WebhookUpdated) ActedBy() string       { return e.Actor }
func (e WebhookSecretRotated) ActedBy() string { return e.Actor }
func (e WebhookDisabled) ActedBy() string      { return e.Actor }
func (e WebhookDeleted) ActedBy() string       { return e.Actor }

// Webhook is the state of one endpoint aggregate.
type Webhook struct {
	ID             string
	OrganizationID string
	URL            string
	Events         []string
	Description    string
	Enabled        bool
	// DisabledReason is why the service disabled it (empty when an admin
	// did, or it is enabled).
	DisabledReason string
	DisabledDetail string
	// SecretID names the secret that signs; PreviousSecretID the one
	// before it, which signs too until PreviousSecretExpiresAt.
	SecretID                string
	PreviousSecretID        string
	PreviousSecretExpiresAt time.Time
	CreatedAt               time.Time
	CreatedBy               string
	UpdatedAt               time.Time
	Deleted                 bool
	Version                 int
}

// Live reports whether the endpoint exists and is not deleted.
func (w Webhook) Live() bool { return w.Version > 0 && !w.Deleted }

// Wants reports whether the endpoint is to receive events of eventType.
func (w Webhook) Wants(eventType string) bool {
	if !w.Live() || !w.Enabled || !slices.Contains(WebhookEventTypes, eventType) {
		return false
	}
	return slices.Contains(w.Events, AllWebhookEvents) || slices.Contains(w.Events, eventType)
}

// SigningSecrets are the secrets that sign a delivery made at now: the
// current one, and the one before while it has not expired.
func (w Webhook) SigningSecrets(now time.Time) []string {
	if w.PreviousSecretID != "" && now.Before(w.PreviousSecretExpiresAt) {
		return []string{w.SecretID, w.PreviousSecretID}
	}
	return []string{w.SecretID}
}

// Apply evolves the endpoint by one of its events.
func (w *Webhook) Apply(e Event) {
	switch d := e.Data.(type) {
	case WebhookCreated:
		*w = Webhook{ID: d.WebhookID, OrganizationID: d.OrganizationID, URL: d.URL, Events: d.Events, Description: d.Description,
			Enabled: true, SecretID: d.SecretID, CreatedAt: e.Time, CreatedBy: d.Actor, UpdatedAt: e.Time}
	case WebhookUpdated:
		w.URL, w.Events, w.Description, w.Enabled, w.UpdatedAt = d.URL, d.Events, d.Description, d.Enabled, e.Time
		if d.Enabled {
			w.DisabledReason, w.DisabledDetail = "", ""
		}
	case WebhookSecretRotated:
		w.SecretID, w.PreviousSecretID, w.PreviousSecretExpiresAt, w.UpdatedAt = d.SecretID, d.PreviousSecretID, d.PreviousExpiresAt, e.Time
	case WebhookDisabled:
		w.Enabled, w.DisabledReason, w.DisabledDetail, w.UpdatedAt = false, d.Reason, d.Detail, e.Time
	case WebhookDeleted:
		w.Deleted, w.UpdatedAt = true, e.Time
	default:
		return
	}
	w.Version++
}

// Errors of webhooks.
const (
	CodeWebhookNotFound  Code = "organization.webhook_not_found"
	CodeDeliveryNotFound Code = "organization.webhook_delivery_not_found"
	CodeWebhookDisabled  Code = "organization.webhook_disabled"
)

var (
	ErrWebhookNotFound  = &Error{Code: CodeWebhookNotFound, Message: "Webhook endpoint not found."}
	ErrDeliveryNotFound = &Error{Code: CodeDeliveryNotFound, Message: "No such delivery of this webhook endpoint among its recent ones."}
	ErrWebhookDisabled  = &Error{Code: CodeWebhookDisabled, Message: "The webhook endpoint is disabled: enable it (PATCH enabled) first."}
)

// ValidWebhookID reports whether id can name a webhook: a canonical UUID,
// as an invitation id, so that no other text reaches a NATS subject.
func ValidWebhookID(id string) bool { return ValidInvitationID(id) }

// Bounds of an endpoint's settings.
const (
	MaxWebhookURLBytes     = 2048
	MaxWebhookDescription  = 500
	webhookURLShapeMessage = "url must be an absolute https URL (http only when the service allows insecure endpoints) with a host, " +
		"no user name or password and no fragment, at most 2048 bytes."
)

// CheckWebhookURL checks the shape of an endpoint's URL: absolute, http or
// https, a host, no userinfo (it would travel in clear in every event) and
// no fragment. Which schemes and addresses deliveries may reach is the
// dispatcher's policy, checked on top of this one.
func CheckWebhookURL(raw string) *Error {
	u, err := url.Parse(raw)
	if len(raw) > MaxWebhookURLBytes || !utf8.ValidString(raw) || err != nil || !u.IsAbs() || u.Opaque != "" ||
		(u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil || u.Fragment != "" || strings.ContainsAny(raw, " \t\r\n") {
		return &Error{Code: CodeInvalidParameter, Fields: []string{"url"}, Message: webhookURLShapeMessage}
	}
	return nil
}

// CheckWebhookEvents checks an endpoint's subscription: one type or more
// of WebhookEventTypes, each once, or AllWebhookEvents alone.
func CheckWebhookEvents(events []string) *Error {
	bad := len(events) == 0 || (slices.Contains(events, AllWebhookEvents) && len(events) > 1)
	for i, e := range events {
		if slices.Contains(events[:i], e) || (e != AllWebhookEvents && !slices.Contains(WebhookEventTypes, e)) {
			bad = true
		}
	}
	if bad {
		return &Error{Code: CodeInvalidParameter, Fields: []string{"events"}, Message: fmt.Sprintf(
			"events must list one event type or more, each once, of %s; or be [\"*\"] for all of them.", strings.Join(WebhookEventTypes, ", "))}
	}
	return nil
}

// CheckWebhookDescription checks an endpoint's description: at most 500
// characters, none that could hide or reorder text (as a name).
func CheckWebhookDescription(d string) *Error {
	if !utf8.ValidString(d) || utf8.RuneCountInString(d) > MaxWebhookDescription || strings.ContainsFunc(d, hiddenInName) {
		return &Error{Code: CodeInvalidParameter, Fields: []string{"description"},
			Message: "description must have at most 500 characters, and no control, format, line or paragraph separator or private-use character."}
	}
	return nil
}

// WebhookSettings are an endpoint's settings as a create or an update
// gives them.
type WebhookSettings struct {
	URL         string
	Events      []string
	Description string
	Enabled     bool
}

func (s WebhookSettings) check() error {
	var errs Errors
	for _, e := range []*Error{CheckWebhookURL(s.URL), CheckWebhookEvents(s.Events), CheckWebhookDescription(s.Description)} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// CreateWebhook decides a new endpoint of a registered organization, with
// the secret secretID names.
func CreateWebhook(org Organization, id, secretID string, s WebhookSettings, actor string) (WebhookCreated, error) {
	if !org.Registered() {
		return WebhookCreated{}, ErrOrganizationNotFound
	}
	if err := s.check(); err != nil {
		return WebhookCreated{}, err
	}
	return WebhookCreated{OrganizationID: org.ID, WebhookID: id, URL: s.URL, Events: s.Events, Description: s.Description,
		SecretID: secretID, Actor: actor}, nil
}

// UpdateWebhook decides an endpoint's new settings; nothing (nil) when they
// are the ones it has.
func UpdateWebhook(w Webhook, s WebhookSettings, actor string) (*WebhookUpdated, error) {
	if !w.Live() {
		return nil, ErrWebhookNotFound
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	if s.URL == w.URL && slices.Equal(s.Events, w.Events) && s.Description == w.Description && s.Enabled == w.Enabled {
		return nil, nil
	}
	return &WebhookUpdated{OrganizationID: w.OrganizationID, WebhookID: w.ID, URL: s.URL, Events: s.Events,
		Description: s.Description, Enabled: s.Enabled, Actor: actor}, nil
}

// RotateWebhookSecret decides the endpoint's new secret, secretID; the
// current one keeps signing for overlap after now, and the one before it,
// if still signing, stops.
func RotateWebhookSecret(w Webhook, secretID string, overlap time.Duration, actor string, now time.Time) (WebhookSecretRotated, error) {
	if !w.Live() {
		return WebhookSecretRotated{}, ErrWebhookNotFound
	}
	return WebhookSecretRotated{OrganizationID: w.OrganizationID, WebhookID: w.ID, SecretID: secretID, PreviousSecretID: w.SecretID,
		PreviousExpiresAt: now.Add(overlap).UTC(), Actor: actor}, nil
}

// DisableWebhook records that the service stopped delivering to an enabled
// endpoint; nothing (nil) for one deleted or disabled already.
func DisableWebhook(w Webhook, reason, detail string) *WebhookDisabled {
	if !w.Live() || !w.Enabled {
		return nil
	}
	return &WebhookDisabled{OrganizationID: w.OrganizationID, WebhookID: w.ID, Reason: reason, Detail: detail, Actor: SystemActor}
}

// DeleteWebhook removes an endpoint; deleting one deleted already decides
// nothing (nil), so that a repeat may finish destroying its secrets.
func DeleteWebhook(w Webhook, actor string) (*WebhookDeleted, error) {
	switch {
	case w.Version == 0:
		return nil, ErrWebhookNotFound
	case w.Deleted:
		return nil, nil
	}
	return &WebhookDeleted{OrganizationID: w.OrganizationID, WebhookID: w.ID, Actor: actor}, nil
}
