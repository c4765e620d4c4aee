package httpapi

import (
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
)

// timestamp is a time as the contract writes it: RFC 3339 in UTC.
type timestamp time.Time

func (t timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(time.RFC3339) + `"`), nil
}

func optionalTime(t time.Time) *timestamp {
	if t.IsZero() {
		return nil
	}
	ts := timestamp(t)
	return &ts
}

type organizationRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type organizationResource struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt timestamp `json:"created_at"`
}

func newOrganizationResource(id, name string, createdAt time.Time) organizationResource {
	return organizationResource{ID: id, Name: name, CreatedAt: timestamp(createdAt)}
}

type invitationResource struct {
	ID           string          `json:"id"`
	Organization organizationRef `json:"organization"`
	Email        *string         `json:"email"` // null once erased
	EmailErased  bool            `json:"email_erased,omitempty"`
	Role         domain.Role     `json:"role"`
	Status       domain.Status   `json:"status"`
	CreatedAt    timestamp       `json:"created_at"`
	CreatedBy    string          `json:"created_by"`
	ExpiresAt    timestamp       `json:"expires_at"`
	Expired      bool            `json:"expired"`
	AcceptedAt   *timestamp      `json:"accepted_at,omitempty"`
	AcceptedBy   string          `json:"accepted_by,omitempty"`
	CancelledAt  *timestamp      `json:"cancelled_at,omitempty"`
	CancelledBy  string          `json:"cancelled_by,omitempty"`
	Version      int             `json:"version"`
	Token        string          `json:"token,omitempty"`
}

func newInvitationResource(inv domain.Invitation, orgName string, now time.Time) invitationResource {
	status := inv.StatusAt(now)
	return invitationResource{
		ID: inv.ID, Organization: organizationRef{ID: inv.OrganizationID, Name: orgName},
		Email: address(inv.Email, inv.EmailErased), EmailErased: inv.EmailErased, Role: inv.Role, Status: status,
		CreatedAt: timestamp(inv.CreatedAt), CreatedBy: inv.CreatedBy, ExpiresAt: timestamp(inv.ExpiresAt),
		Expired:    status == domain.StatusExpired,
		AcceptedAt: optionalTime(inv.AcceptedAt), AcceptedBy: inv.AcceptedBy,
		CancelledAt: optionalTime(inv.CancelledAt), CancelledBy: inv.CancelledBy,
		Version: inv.Version,
	}
}

// address is an address as the resources carry it: null once erased.
func address(email string, erased bool) *string {
	if erased {
		return nil
	}
	return &email
}

type memberResource struct {
	UserID       string      `json:"user_id"`
	Email        *string     `json:"email"` // null once erased
	EmailErased  bool        `json:"email_erased,omitempty"`
	Role         domain.Role `json:"role"`
	JoinedAt     timestamp   `json:"joined_at"`
	InvitationID string      `json:"invitation_id"`
}

func newMemberResource(m projections.Member) memberResource {
	return memberResource{UserID: m.UserID, Email: address(m.Email, m.EmailErased), EmailErased: m.EmailErased, Role: m.Role,
		JoinedAt: timestamp(m.JoinedAt), InvitationID: m.InvitationID}
}

type eventResource struct {
	Sequence uint64         `json:"sequence"`
	Type     string         `json:"type"`
	Time     timestamp      `json:"time"`
	Actor    string         `json:"actor"`
	Data     domain.Payload `json:"data"`
}

func newEventResource(e domain.Recorded) eventResource {
	return eventResource{Sequence: e.Sequence, Type: e.Type, Time: timestamp(e.Time), Actor: e.Data.ActedBy(), Data: domain.Shown(e.Data)}
}
