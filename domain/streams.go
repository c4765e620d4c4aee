package domain

// StreamKind is a kind of aggregate: a unit of consistency in the event store.
type StreamKind int

const (
	KindOrganization StreamKind = iota + 1
	KindInvitation
	KindMembership
	KindEmailSlot
	KindIdempotency
	KindWebhook
)

func (k StreamKind) String() string {
	switch k {
	case KindOrganization:
		return "organizations"
	case KindInvitation:
		return "invitations"
	case KindMembership:
		return "members"
	case KindEmailSlot:
		return "email-slots"
	case KindIdempotency:
		return "idempotency-keys"
	case KindWebhook:
		return "webhooks"
	}
	return "unknown"
}

// StreamID names one aggregate's events. Key is the invitation id, the user
// id, the email's keyed identifier (EmailHMAC; its SHA-256 in revision 1
// events), the idempotency key's SHA-256 or the webhook id; empty for the
// organization itself.
type StreamID struct {
	Kind           StreamKind
	OrganizationID string
	Key            string
}

// StreamOf is the aggregate an event belongs to.
func StreamOf(p Payload) StreamID {
	switch d := p.(type) {
	case OrganizationRegistered:
		return StreamID{KindOrganization, d.OrganizationID, ""}
	case OrganizationRenamed:
		return StreamID{KindOrganization, d.OrganizationID, ""}
	case InvitationCreated:
		return StreamID{KindInvitation, d.OrganizationID, d.InvitationID}
	case InvitationResent:
		return StreamID{KindInvitation, d.OrganizationID, d.InvitationID}
	case InvitationAccepted:
		return StreamID{KindInvitation, d.OrganizationID, d.InvitationID}
	case InvitationCancelled:
		return StreamID{KindInvitation, d.OrganizationID, d.InvitationID}
	case InvitationExpired:
		return StreamID{KindInvitation, d.OrganizationID, d.InvitationID}
	case InvitationDelivered:
		return StreamID{KindInvitation, d.OrganizationID, d.InvitationID}
	case InvitationDeliveryFailed:
		return StreamID{KindInvitation, d.OrganizationID, d.InvitationID}
	case MembershipAdded:
		return StreamID{KindMembership, d.OrganizationID, d.UserID}
	case MembershipRemoved:
		return StreamID{KindMembership, d.OrganizationID, d.UserID}
	case EmailReserved:
		if d.EmailHMAC == "" {
			return StreamID{KindEmailSlot, d.OrganizationID, d.EmailSHA256}
		}
		return StreamID{KindEmailSlot, d.OrganizationID, d.EmailHMAC}
	case EmailErased:
		return StreamID{KindEmailSlot, d.OrganizationID, d.EmailHMAC}
	case IdempotencyRecorded:
		return StreamID{KindIdempotency, d.OrganizationID, d.KeySHA256}
	case WebhookCreated:
		return StreamID{KindWebhook, d.OrganizationID, d.WebhookID}
	case WebhookUpdated:
		return StreamID{KindWebhook, d.OrganizationID, d.WebhookID}
	case WebhookSecretRotated:
		return StreamID{KindWebhook, d.OrganizationID, d.WebhookID}
	case WebhookDisabled:
		return StreamID{KindWebhook, d.OrganizationID, d.WebhookID}
	case WebhookDeleted:
		return StreamID{KindWebhook, d.OrganizationID, d.WebhookID}
	}
	panic("domain.StreamOf: unknown payload " + p.EventType())
}

// Position is where an aggregate stands in the store: the sequence of its
// last event and that event's SHA-256, which the next event carries so that
// a changed, removed or inserted event breaks the chain.
type Position struct {
	Seq    uint64
	SHA256 string
}
