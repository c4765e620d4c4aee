package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event types are dotted strings fixed by the contract; they are never derived
// from Go type names, so renaming a struct cannot break the history.
const (
	TypeOrganizationRegistered = "organization.registered"
	TypeOrganizationRenamed    = "organization.renamed"
	TypeInvitationCreated      = "invitation.created"
	TypeInvitationResent       = "invitation.resent"
	TypeInvitationAccepted     = "invitation.accepted"
	TypeInvitationCancelled    = "invitation.cancelled"
	TypeInvitationExpired      = "invitation.expired"
	TypeMembershipAdded        = "membership.added"
	TypeMembershipRemoved      = "membership.removed"
	// Guard records make invariants that span aggregates as strict as the
	// aggregates' own: they are written in the same atomic batch.
	TypeEmailReserved       = "email.reserved"
	TypeIdempotencyRecorded = "idempotency.recorded"
	// TypeEmailErased records an erasure of an address (issue 14).
	TypeEmailErased = "email.erased"
	// The outcome of an invitation's email (issue 15), on the invitation.
	TypeInvitationDelivered      = "invitation.delivered"
	TypeInvitationDeliveryFailed = "invitation.delivery_failed"
)

// Payload is the data of one event.
type Payload interface {
	EventType() string
	// ActedBy is the user (or "system") who caused the event.
	ActedBy() string
}

// Event is a fact, as decided. The store adds its position when recorded.
type Event struct {
	ID       string // CloudEvents id, also the Nats-Msg-Id
	Type     string
	Revision int
	Time     time.Time
	Data     Payload
	// PrevSHA256 is the SHA-256 of the stored bytes of the previous event of
	// the same aggregate, empty for its first: the tamper-evidence chain.
	PrevSHA256 string
}

// Recorded is an event read back from the store.
type Recorded struct {
	Event
	Sequence uint64
	Subject  string
	SHA256   string // of the stored bytes, which the next event chains to
}

// NewEvent wraps a payload with its type and schema revision: the current
// one, or 1 for a payload in the form of revision 1 (an address in clear).
func NewEvent(id string, now time.Time, data Payload) Event {
	return Event{ID: id, Type: data.EventType(), Revision: revisionOf(data), Time: now.UTC(), Data: data}
}

// Sealed is an email address encrypted under the data key of its data
// subject, the address within its organization (transport/keystore holds
// the keys). Generation names that key: 1, plus one for each erasure of the
// address before. Ciphertext is the nonce and the AEAD ciphertext; it stays
// empty from the decision until the commands seal the event, just before
// it is appended.
type Sealed struct {
	Generation int    `json:"generation"`
	Ciphertext []byte `json:"ciphertext"`
}

// generation is the data key an address sealed so is under; 1 for one in
// clear (revision 1), which no erasure preceded.
func (s *Sealed) generation() int {
	if s == nil {
		return 1
	}
	return s.Generation
}

// An invitation.created or invitation.resent may carry its token sealed
// for delivery (TokenSealed: see transport/tokenseal), or say that no email
// is to be sent for it (SkipEmail); invitation.created may name a Locale
// for its emails. These fields are optional and were added without a new
// revision: a reader that does not know them reads every field it knew as
// before, and an event without them is what the service writes with no
// delivery key. A revision changes when the form or the meaning of a field
// it had changes, as the address's did in revision 2.

// An event carrying an email address stores it, from revision 2 on, as its
// EmailHMAC (the keyed identifier: HMAC-SHA256 of the normalized address
// under its organization's key) and EmailSealed. Email is then the address
// in memory only, once opened, and EmailErased says it could not be opened:
// its data key was erased. Revision 1 stored Email in clear.

type OrganizationRegistered struct {
	OrganizationID string `json:"organization_id"`
	Name           string `json:"name"`
	Actor          string `json:"actor"`
}

type OrganizationRenamed struct {
	OrganizationID string `json:"organization_id"`
	Name           string `json:"name"`
	Actor          string `json:"actor"`
}

type InvitationCreated struct {
	OrganizationID string    `json:"organization_id"`
	InvitationID   string    `json:"invitation_id"`
	Email          string    `json:"email,omitempty"`
	EmailHMAC      string    `json:"email_hmac,omitempty"`
	EmailSealed    *Sealed   `json:"email_sealed,omitempty"`
	EmailErased    bool      `json:"-"`
	Role           Role      `json:"role"`
	TokenSHA256    string    `json:"token_sha256"`
	TokenSealed    string    `json:"token_sealed,omitempty"`
	SkipEmail      bool      `json:"skip_email,omitempty"`
	Locale         string    `json:"locale,omitempty"`
	ExpiresAt      time.Time `json:"expires_at"`
	Actor          string    `json:"actor"`
}

type InvitationResent struct {
	OrganizationID string    `json:"organization_id"`
	InvitationID   string    `json:"invitation_id"`
	TokenSHA256    string    `json:"token_sha256"`
	TokenSealed    string    `json:"token_sealed,omitempty"`
	SkipEmail      bool      `json:"skip_email,omitempty"`
	ExpiresAt      time.Time `json:"expires_at"`
	Actor          string    `json:"actor"`
}

type InvitationAccepted struct {
	OrganizationID string `json:"organization_id"`
	InvitationID   string `json:"invitation_id"`
	UserID         string `json:"user_id"`
	Actor          string `json:"actor"`
}

type InvitationCancelled struct {
	OrganizationID string `json:"organization_id"`
	InvitationID   string `json:"invitation_id"`
	Actor          string `json:"actor"`
}

type InvitationExpired struct {
	OrganizationID string `json:"organization_id"`
	InvitationID   string `json:"invitation_id"`
	Actor          string `json:"actor"`
}

type MembershipAdded struct {
	OrganizationID string  `json:"organization_id"`
	UserID         string  `json:"user_id"`
	Email          string  `json:"email,omitempty"`
	EmailHMAC      string  `json:"email_hmac,omitempty"`
	EmailSealed    *Sealed `json:"email_sealed,omitempty"`
	EmailErased    bool    `json:"-"`
	Role           Role    `json:"role"`
	InvitationID   string  `json:"invitation_id"`
	Actor          string  `json:"actor"`
}

type MembershipRemoved struct {
	OrganizationID string `json:"organization_id"`
	UserID         string `json:"user_id"`
	InvitationID   string `json:"invitation_id"`
	Actor          string `json:"actor"`
}

// EmailReserved records which invitation holds an (organization, email) slot:
// the one that may be pending for that address. The slot is named by the
// address's EmailHMAC; revision 1 named it by its plain EmailSHA256, which
// anyone can compute from a guessed address.
type EmailReserved struct {
	OrganizationID string `json:"organization_id"`
	EmailSHA256    string `json:"email_sha256,omitempty"`
	EmailHMAC      string `json:"email_hmac,omitempty"`
	InvitationID   string `json:"invitation_id"`
	Actor          string `json:"actor"`
}

// EmailErased records that an address was erased from an organization, on
// the address's email slot: the data keys of Generation and before are
// deleted, so no event sealed under them opens again. InvitationIDs and
// UserIDs are the invitations and memberships whose read models held the
// address (the batch that erases cancels those pending and ends those
// active). It names the address by its keyed identifier only.
type EmailErased struct {
	OrganizationID string   `json:"organization_id"`
	EmailHMAC      string   `json:"email_hmac"`
	Generation     int      `json:"generation"`
	InvitationIDs  []string `json:"invitation_ids"`
	UserIDs        []string `json:"user_ids"`
	Actor          string   `json:"actor"`
}

// DeliveryReport is the outcome of the email of one invitation.created or
// invitation.resent (EventID): how many attempts it took, the SMTP server's
// last reply and the email's Message-ID. It never holds the token.
type DeliveryReport struct {
	OrganizationID string `json:"organization_id"`
	InvitationID   string `json:"invitation_id"`
	EventID        string `json:"event_id"`
	MessageID      string `json:"message_id"`
	Attempts       int    `json:"attempts"`
	Reply          string `json:"reply"`
	Actor          string `json:"actor"`
}

// InvitationDelivered records that the SMTP server (or dev mode's outbox)
// took the email.
type InvitationDelivered struct{ DeliveryReport }

// InvitationDeliveryFailed records that the email was refused for good, or
// its attempts ran out.
type InvitationDeliveryFailed struct{ DeliveryReport }

// IdempotencyRecorded remembers the answer to a create made with an
// Idempotency-Key, so that a repeat gets the same answer.
type IdempotencyRecorded struct {
	OrganizationID string   `json:"organization_id"`
	KeySHA256      string   `json:"key_sha256"`
	RequestSHA256  string   `json:"request_sha256"`
	Status         int      `json:"status"`
	InvitationIDs  []string `json:"invitation_ids"`
	Actor          string   `json:"actor"`
}

func (OrganizationRegistered) EventType() string { return TypeOrganizationRegistered }
func (OrganizationRenamed) EventType() string    { return TypeOrganizationRenamed }
func (InvitationCreated) EventType() string      { return TypeInvitationCreated }
func (InvitationResent) EventType() string       { return TypeInvitationResent }
func (InvitationAccepted) EventType() string     { return TypeInvitationAccepted }
func (InvitationCancelled) EventType() string    { return TypeInvitationCancelled }
func (InvitationExpired) EventType() string      { return TypeInvitationExpired }
func (MembershipAdded) EventType() string        { return TypeMembershipAdded }
func (MembershipRemoved) EventType() string      { return TypeMembershipRemoved }
func (EmailReserved) EventType() string          { return TypeEmailReserved }
func (IdempotencyRecorded) EventType() string    { return TypeIdempotencyRecorded }
func (EmailErased) EventType() string            { return TypeEmailErased }
func (InvitationDelivered) EventType() string    { return TypeInvitationDelivered }
func (InvitationDeliveryFailed) EventType() string {
	return TypeInvitationDeliveryFailed
}

func (e OrganizationRegistered) ActedBy() string { return e.Actor }
func (e OrganizationRenamed) ActedBy() string    { return e.Actor }
func (e InvitationCreated) ActedBy() string      { return e.Actor }
func (e InvitationResent) ActedBy() string       { return e.Actor }
func (e InvitationAccepted) ActedBy() string     { return e.Actor }
func (e InvitationCancelled) ActedBy() string    { return e.Actor }
func (e InvitationExpired) ActedBy() string      { return e.Actor }
func (e MembershipAdded) ActedBy() string        { return e.Actor }
func (e MembershipRemoved) ActedBy() string      { return e.Actor }
func (e EmailReserved) ActedBy() string          { return e.Actor }
func (e IdempotencyRecorded) ActedBy() string    { return e.Actor }
func (e EmailErased) ActedBy() string            { return e.Actor }
func (e DeliveryReport) ActedBy() string         { return e.Actor }

type schema struct {
	revision int
	decode   func([]byte) (Payload, error)
	kind     StreamKind
}

func schemaOf[T Payload](revision int) schema {
	var zero T
	return schema{revision: revision, kind: StreamOf(zero).Kind, decode: func(raw []byte) (Payload, error) {
		var p T
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		return p, nil
	}}
}

// revisions lists every known event type with its current schema revision.
var revisions = map[string]schema{
	TypeOrganizationRegistered:   schemaOf[OrganizationRegistered](1),
	TypeOrganizationRenamed:      schemaOf[OrganizationRenamed](1),
	TypeInvitationCreated:        schemaOf[InvitationCreated](2),
	TypeInvitationResent:         schemaOf[InvitationResent](1),
	TypeInvitationAccepted:       schemaOf[InvitationAccepted](1),
	TypeInvitationCancelled:      schemaOf[InvitationCancelled](1),
	TypeInvitationExpired:        schemaOf[InvitationExpired](1),
	TypeMembershipAdded:          schemaOf[MembershipAdded](2),
	TypeMembershipRemoved:        schemaOf[MembershipRemoved](1),
	TypeEmailReserved:            schemaOf[EmailReserved](2),
	TypeIdempotencyRecorded:      schemaOf[IdempotencyRecorded](1),
	TypeEmailErased:              schemaOf[EmailErased](1),
	TypeInvitationDelivered:      schemaOf[InvitationDelivered](1),
	TypeInvitationDeliveryFailed: schemaOf[InvitationDeliveryFailed](1),
	TypeWebhookCreated:           schemaOf[WebhookCreated](1),
	TypeWebhookUpdated:           schemaOf[WebhookUpdated](1),
	TypeWebhookSecretRotated:     schemaOf[WebhookSecretRotated](1),
	TypeWebhookDisabled:          schemaOf[WebhookDisabled](1),
	TypeWebhookDeleted:           schemaOf[WebhookDeleted](1),
}

// KindOfType is the kind of aggregate the events of a type belong to.
func KindOfType(eventType string) (StreamKind, bool) {
	s, ok := revisions[eventType]
	return s.kind, ok
}

// Markers an address is shown as where it cannot be: its data key was
// erased, or the reader has no key to open it.
const (
	ErasedMark = "[erased]"
	SealedMark = "[sealed]"
)

// Shown is p as audit views print it (the API's event feeds, invitectl):
// its address opened, or a marker, and neither its sealed form nor its
// keyed identifier.
func Shown(p Payload) Payload {
	mark := func(email string, sealed *Sealed, erased bool) string {
		switch {
		case erased:
			return ErasedMark
		case email == "" && sealed != nil:
			return SealedMark
		}
		return email
	}
	switch d := p.(type) {
	case InvitationCreated:
		d.Email, d.EmailHMAC, d.EmailSealed = mark(d.Email, d.EmailSealed, d.EmailErased), "", nil
		return d
	case MembershipAdded:
		d.Email, d.EmailHMAC, d.EmailSealed = mark(d.Email, d.EmailSealed, d.EmailErased), "", nil
		return d
	}
	return p
}

// clearForm is a payload whose revision 1 held an email address in clear
// (or its plain SHA-256).
type clearForm interface{ inClear() bool }

func (e InvitationCreated) inClear() bool { return e.EmailSealed == nil }
func (e MembershipAdded) inClear() bool   { return e.EmailSealed == nil }
func (e EmailReserved) inClear() bool     { return e.EmailHMAC == "" }

// revisionOf is the revision whose form p has.
func revisionOf(p Payload) int {
	if c, ok := p.(clearForm); ok && c.inClear() {
		return 1
	}
	return revisions[p.EventType()].revision
}

// errNotStorable is a payload that must not reach the stream as it is.
var errNotStorable = errors.New("event not in a storable form")

// checkStorable refuses a payload that would store an address in clear
// beside its sealed form, one not sealed yet, and one in neither form.
func checkStorable(p Payload) error {
	var email string
	var sealed *Sealed
	switch d := p.(type) {
	case InvitationCreated:
		email, sealed = d.Email, d.EmailSealed
		if sealed != nil && d.EmailHMAC == "" {
			return fmt.Errorf("%w: %s sealed without its email_hmac", errNotStorable, d.EventType())
		}
	case MembershipAdded:
		email, sealed = d.Email, d.EmailSealed
		if sealed != nil && d.EmailHMAC == "" {
			return fmt.Errorf("%w: %s sealed without its email_hmac", errNotStorable, d.EventType())
		}
	case EmailReserved:
		if (d.EmailHMAC == "") == (d.EmailSHA256 == "") {
			return fmt.Errorf("%w: %s names its slot by neither or both of email_hmac and email_sha256", errNotStorable, d.EventType())
		}
		return nil
	case InvitationResent:
		return checkDelivery(d.EventType(), d.TokenSealed, d.SkipEmail)
	default:
		return nil
	}
	if d, ok := p.(InvitationCreated); ok {
		if err := checkDelivery(d.EventType(), d.TokenSealed, d.SkipEmail); err != nil {
			return err
		}
	}
	switch {
	case sealed != nil && email != "":
		return fmt.Errorf("%w: %s holds its address in clear beside its sealed form", errNotStorable, p.EventType())
	case sealed != nil && len(sealed.Ciphertext) == 0:
		return fmt.Errorf("%w: %s not sealed", errNotStorable, p.EventType())
	case sealed == nil && email == "":
		return fmt.Errorf("%w: %s without an address", errNotStorable, p.EventType())
	}
	return nil
}

// checkDelivery refuses a token sealed for an email that is not to be sent.
func checkDelivery(eventType, tokenSealed string, skip bool) error {
	if skip && tokenSealed != "" {
		return fmt.Errorf("%w: %s seals its token for an email it skips", errNotStorable, eventType)
	}
	return nil
}

// ErrUnknownEvent is returned for an event type or revision this build does not know.
var ErrUnknownEvent = fmt.Errorf("unknown event type or revision")

// DecodePayload turns stored data back into its typed payload.
func DecodePayload(eventType string, revision int, raw []byte) (Payload, error) {
	s, ok := revisions[eventType]
	if !ok || revision < 1 || revision > s.revision {
		return nil, fmt.Errorf("%w: %s revision %d", ErrUnknownEvent, eventType, revision)
	}
	p, err := s.decode(raw)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	// A revision says what the bytes hold: a sealed address in a revision
	// 1 event, or one in clear in a later one, is misread by every reader.
	if form := revisionOf(p); form != revision {
		return nil, fmt.Errorf("decode %s: revision %d in the form of revision %d", eventType, revision, form)
	}
	if err := checkStorable(p); err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return p, nil
}
