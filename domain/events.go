package domain

import (
	"encoding/json"
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

// NewEvent wraps a payload with its type and current schema revision.
func NewEvent(id string, now time.Time, data Payload) Event {
	return Event{ID: id, Type: data.EventType(), Revision: revisions[data.EventType()].revision, Time: now.UTC(), Data: data}
}

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
	Email          string    `json:"email"`
	Role           Role      `json:"role"`
	TokenSHA256    string    `json:"token_sha256"`
	ExpiresAt      time.Time `json:"expires_at"`
	Actor          string    `json:"actor"`
}

type InvitationResent struct {
	OrganizationID string    `json:"organization_id"`
	InvitationID   string    `json:"invitation_id"`
	TokenSHA256    string    `json:"token_sha256"`
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
	OrganizationID string `json:"organization_id"`
	UserID         string `json:"user_id"`
	Email          string `json:"email"`
	Role           Role   `json:"role"`
	InvitationID   string `json:"invitation_id"`
	Actor          string `json:"actor"`
}

type MembershipRemoved struct {
	OrganizationID string `json:"organization_id"`
	UserID         string `json:"user_id"`
	InvitationID   string `json:"invitation_id"`
	Actor          string `json:"actor"`
}

// EmailReserved records which invitation holds an (organization, email) slot:
// the one that may be pending for that address.
type EmailReserved struct {
	OrganizationID string `json:"organization_id"`
	EmailSHA256    string `json:"email_sha256"`
	InvitationID   string `json:"invitation_id"`
	Actor          string `json:"actor"`
}

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

type schema struct {
	revision int
	decode   func([]byte) (Payload, error)
}

func decoder[T Payload]() func([]byte) (Payload, error) {
	return func(raw []byte) (Payload, error) {
		var p T
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		return p, nil
	}
}

// revisions lists every known event type with its current schema revision.
var revisions = map[string]schema{
	TypeOrganizationRegistered: {1, decoder[OrganizationRegistered]()},
	TypeOrganizationRenamed:    {1, decoder[OrganizationRenamed]()},
	TypeInvitationCreated:      {1, decoder[InvitationCreated]()},
	TypeInvitationResent:       {1, decoder[InvitationResent]()},
	TypeInvitationAccepted:     {1, decoder[InvitationAccepted]()},
	TypeInvitationCancelled:    {1, decoder[InvitationCancelled]()},
	TypeInvitationExpired:      {1, decoder[InvitationExpired]()},
	TypeMembershipAdded:        {1, decoder[MembershipAdded]()},
	TypeMembershipRemoved:      {1, decoder[MembershipRemoved]()},
	TypeEmailReserved:          {1, decoder[EmailReserved]()},
	TypeIdempotencyRecorded:    {1, decoder[IdempotencyRecorded]()},
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
	return p, nil
}
