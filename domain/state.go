package domain

import (
	"slices"
	"time"
)

// Role is what a member may do in an organization.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
	RoleViewer Role = "viewer"
)

// Privileged roles need org.admin to be granted.
func (r Role) Privileged() bool { return r == RoleOwner || r == RoleAdmin }

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleAdmin, RoleMember, RoleViewer:
		return true
	}
	return false
}

// Status of an invitation as the API reports it.
type Status string

const (
	StatusPending   Status = "pending"
	StatusAccepted  Status = "accepted"
	StatusCancelled Status = "cancelled"
	StatusExpired   Status = "expired"
)

// Organization is the state of one organization aggregate.
type Organization struct {
	ID        string
	Name      string
	CreatedAt time.Time
	Version   int
}

// Registered reports whether the organization exists.
func (o Organization) Registered() bool { return o.Version > 0 }

// Apply evolves the organization by one of its events.
func (o *Organization) Apply(e Event) {
	switch d := e.Data.(type) {
	case OrganizationRegistered:
		o.ID, o.Name, o.CreatedAt = d.OrganizationID, d.Name, e.Time
	case OrganizationRenamed:
		o.Name = d.Name
	default:
		return
	}
	o.Version++
}

// Invitation is the state of one invitation aggregate.
type Invitation struct {
	ID             string
	OrganizationID string
	// Email is the address, empty once erased (EmailErased); EmailHMAC its
	// keyed identifier, which outlives it; KeyGeneration the data key it is
	// sealed under (see Sealed).
	Email         string
	EmailHMAC     string
	EmailErased   bool
	KeyGeneration int
	Role          Role
	TokenSHA256   string
	CreatedAt     time.Time
	CreatedBy     string
	ExpiresAt     time.Time
	AcceptedAt    time.Time
	AcceptedBy    string
	CancelledAt   time.Time
	CancelledBy   string
	ExpiredEvent  bool // an invitation.expired event was recorded
	Version       int
}

// Exists reports whether the invitation was ever created.
func (i Invitation) Exists() bool { return i.Version > 0 }

// StatusAt is the status at time now: a pending invitation past its expiry is
// expired whether or not the expiry event has been written.
func (i Invitation) StatusAt(now time.Time) Status {
	switch {
	case !i.AcceptedAt.IsZero():
		return StatusAccepted
	case !i.CancelledAt.IsZero():
		return StatusCancelled
	case i.ExpiredEvent || !now.Before(i.ExpiresAt):
		return StatusExpired
	}
	return StatusPending
}

// Apply evolves the invitation by one of its events.
func (i *Invitation) Apply(e Event) {
	switch d := e.Data.(type) {
	case InvitationCreated:
		*i = Invitation{ID: d.InvitationID, OrganizationID: d.OrganizationID, Email: d.Email, EmailHMAC: d.EmailHMAC,
			EmailErased: d.EmailErased, KeyGeneration: d.EmailSealed.generation(), Role: d.Role,
			TokenSHA256: d.TokenSHA256, CreatedAt: e.Time, CreatedBy: d.Actor, ExpiresAt: d.ExpiresAt}
	case InvitationResent:
		i.TokenSHA256, i.ExpiresAt, i.ExpiredEvent = d.TokenSHA256, d.ExpiresAt, false
	case InvitationAccepted:
		i.AcceptedAt, i.AcceptedBy = e.Time, d.UserID
	case InvitationCancelled:
		i.CancelledAt, i.CancelledBy = e.Time, d.Actor
	case InvitationExpired:
		i.ExpiredEvent = true
	default:
		return
	}
	i.Version++
}

// Membership is the state of one (organization, user) membership aggregate.
type Membership struct {
	OrganizationID string
	UserID         string
	Email          string // empty once erased, as Invitation's
	EmailHMAC      string
	EmailErased    bool
	KeyGeneration  int
	Role           Role
	JoinedAt       time.Time
	InvitationID   string
	Active         bool
	Version        int
}

// Apply evolves the membership by one of its events.
func (m *Membership) Apply(e Event) {
	switch d := e.Data.(type) {
	case MembershipAdded:
		*m = Membership{OrganizationID: d.OrganizationID, UserID: d.UserID, Email: d.Email, EmailHMAC: d.EmailHMAC,
			EmailErased: d.EmailErased, KeyGeneration: d.EmailSealed.generation(), Role: d.Role,
			JoinedAt: e.Time, InvitationID: d.InvitationID, Active: true, Version: m.Version}
	case MembershipRemoved:
		m.Active = false
	default:
		return
	}
	m.Version++
}

// EmailSlot is the (organization, email) guard: which invitation holds it,
// every invitation that held it since the address was last erased, and how
// many times it was.
type EmailSlot struct {
	InvitationID string // the holder; empty when none
	Invitations  []string
	// Erased is the generation of the data key erased last (0: never
	// erased); the address is sealed under the next one.
	Erased int
	// ErasedLast says the slot's last record is an erasure: there is
	// nothing left to erase.
	ErasedLast bool
	Version    int
}

// Generation is the data key an address invited now is sealed under.
func (s EmailSlot) Generation() int { return s.Erased + 1 }

// Apply evolves the slot by one of its records.
func (s *EmailSlot) Apply(e Event) {
	switch d := e.Data.(type) {
	case EmailReserved:
		s.InvitationID, s.ErasedLast = d.InvitationID, false
		if !slices.Contains(s.Invitations, d.InvitationID) {
			s.Invitations = append(s.Invitations, d.InvitationID)
		}
	case EmailErased:
		s.InvitationID, s.Invitations, s.Erased, s.ErasedLast = "", nil, d.Generation, true
	default:
		return
	}
	s.Version++
}

// IdempotencyRecord is the last answer recorded under an Idempotency-Key.
type IdempotencyRecord struct {
	RequestSHA256 string
	Status        int
	InvitationIDs []string
	RecordedAt    time.Time
	Version       int
}

// Apply evolves the record by one of its events.
func (r *IdempotencyRecord) Apply(e Event) {
	if d, ok := e.Data.(IdempotencyRecorded); ok {
		*r = IdempotencyRecord{RequestSHA256: d.RequestSHA256, Status: d.Status, InvitationIDs: d.InvitationIDs,
			RecordedAt: e.Time, Version: r.Version + 1}
	}
}

// IdempotencyTTL is how long a recorded answer is replayed.
const IdempotencyTTL = 24 * time.Hour

// LiveAt reports whether the record still answers repeats at time now.
func (r IdempotencyRecord) LiveAt(now time.Time) bool {
	return r.Version > 0 && now.Sub(r.RecordedAt) < IdempotencyTTL
}
