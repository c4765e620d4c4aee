package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors is several rule violations reported together (one per bad email).
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap lets errors.Is and errors.As see each violation.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// Violations lists the rule violations err carries: the members of an
// Errors, a single *Error, or none for any other failure. It is the one
// place errors are told apart from failures of the stores.
func Violations(err error) []*Error {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}

// SHA256 is the hex SHA-256 of s: how tokens, emails and keys are kept.
func SHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// RegisterOrganization registers the organization or renames it. It decides
// nothing when the name is unchanged.
func RegisterOrganization(o Organization, id, name, actor string) (events []Payload, created bool) {
	switch {
	case !o.Registered():
		return []Payload{OrganizationRegistered{OrganizationID: id, Name: name, Actor: actor}}, true
	case o.Name == name:
		return nil, false
	}
	return []Payload{OrganizationRenamed{OrganizationID: id, Name: name, Actor: actor}}, false
}

// Invitee is what decides whether an email may be invited: the invitation
// holding its slot, if any, and that invitation's membership.
type Invitee struct {
	Email        string
	Holder       Invitation // zero if the slot was never taken
	HolderMember Membership // the membership of Holder.AcceptedBy, if accepted
}

// CheckInvitable says why an email may not get a new pending invitation.
func CheckInvitable(in Invitee, now time.Time) *Error {
	if !in.Holder.Exists() {
		return nil
	}
	switch in.Holder.StatusAt(now) {
	case StatusPending:
		return ErrInvitationAlreadyExists
	case StatusAccepted:
		if in.HolderMember.Active && in.HolderMember.Email == in.Email {
			return ErrAlreadyMember
		}
	}
	return nil
}

// NewInvitation is one invitation about to be created, with what the caller drew for it.
type NewInvitation struct {
	InvitationID string
	Email        string
	Role         Role
	TokenSHA256  string
	ExpiresAt    time.Time
}

// Invite creates invitations for every invitee, or none: each email that may
// not be invited is reported with its index in the request.
func Invite(org Organization, invitees []Invitee, news []NewInvitation, actor string, now time.Time) ([]Payload, error) {
	if !org.Registered() {
		return nil, ErrOrganizationNotFound
	}
	if len(invitees) != len(news) {
		panic(fmt.Sprintf("domain.Invite: %d invitees for %d invitations", len(invitees), len(news)))
	}
	byCode := map[Code]*Error{}
	var errs Errors
	for i, in := range invitees {
		if err := CheckInvitable(in, now); err != nil {
			e, seen := byCode[err.Code]
			if !seen {
				e = err.WithFields()
				byCode[err.Code] = e
				errs = append(errs, e)
			}
			e.Fields = append(e.Fields, fmt.Sprintf("emails[%d]", i))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	events := make([]Payload, 0, 2*len(news))
	for _, n := range news {
		events = append(events,
			InvitationCreated{OrganizationID: org.ID, InvitationID: n.InvitationID, Email: n.Email, Role: n.Role,
				TokenSHA256: n.TokenSHA256, ExpiresAt: n.ExpiresAt, Actor: actor},
			EmailReserved{OrganizationID: org.ID, EmailSHA256: SHA256(n.Email), InvitationID: n.InvitationID, Actor: actor})
	}
	return events, nil
}

// Caller is the authenticated user acting on an invitation.
type Caller struct {
	UserID        string
	Email         string
	EmailVerified *bool // nil when the token does not say
}

// Accept turns the invitation into a membership for the caller. It decides
// nothing when the caller already accepted this very invitation.
func Accept(inv Invitation, member Membership, caller Caller, now time.Time) ([]Payload, error) {
	if !inv.Exists() {
		return nil, ErrInvitationNotFound
	}
	if !strings.EqualFold(caller.Email, inv.Email) || (caller.EmailVerified != nil && !*caller.EmailVerified) {
		return nil, ErrEmailMismatch
	}
	// The membership may be read after the invitation it came from was
	// accepted: it proves the acceptance as well as the invitation would.
	if member.Active && member.InvitationID == inv.ID {
		return nil, nil
	}
	switch inv.StatusAt(now) {
	case StatusAccepted:
		if inv.AcceptedBy == caller.UserID {
			return nil, nil
		}
		return nil, ErrInvitationAlreadyAccepted
	case StatusCancelled:
		return nil, ErrInvitationCancelled
	case StatusExpired:
		return nil, ErrInvitationExpired
	}
	if member.Active {
		return nil, ErrAlreadyMember
	}
	return []Payload{
		InvitationAccepted{OrganizationID: inv.OrganizationID, InvitationID: inv.ID, UserID: caller.UserID, Actor: caller.UserID},
		MembershipAdded{OrganizationID: inv.OrganizationID, UserID: caller.UserID, Email: inv.Email, Role: inv.Role,
			InvitationID: inv.ID, Actor: caller.UserID},
	}, nil
}

// Cancel withdraws the invitation. Cancelling twice decides nothing.
func Cancel(inv Invitation, actor string) ([]Payload, error) {
	switch {
	case !inv.Exists():
		return nil, ErrInvitationNotFound
	case !inv.AcceptedAt.IsZero():
		return nil, ErrInvitationAlreadyAccepted
	case !inv.CancelledAt.IsZero():
		return nil, nil
	}
	return []Payload{InvitationCancelled{OrganizationID: inv.OrganizationID, InvitationID: inv.ID, Actor: actor}}, nil
}

// Resend gives a pending or expired invitation a new token and expiry, and
// takes its email slot back. slot is the invitee seen through the slot, which
// may be held by another invitation since this one expired.
func Resend(inv Invitation, slot Invitee, tokenSHA256 string, expiresAt time.Time, actor string, now time.Time) ([]Payload, error) {
	switch {
	case !inv.Exists():
		return nil, ErrInvitationNotFound
	case !inv.AcceptedAt.IsZero():
		return nil, ErrInvitationAlreadyAccepted
	case !inv.CancelledAt.IsZero():
		return nil, ErrInvitationCancelled
	}
	if slot.Holder.ID != inv.ID {
		if err := CheckInvitable(slot, now); err != nil {
			return nil, err
		}
	}
	return []Payload{
		InvitationResent{OrganizationID: inv.OrganizationID, InvitationID: inv.ID, TokenSHA256: tokenSHA256, ExpiresAt: expiresAt, Actor: actor},
		EmailReserved{OrganizationID: inv.OrganizationID, EmailSHA256: SHA256(inv.Email), InvitationID: inv.ID, Actor: actor},
	}, nil
}

// Expire records that a pending invitation ran out of time. It decides
// nothing for one that is not expired, or whose expiry is already recorded.
func Expire(inv Invitation, now time.Time) []Payload {
	if !inv.Exists() || inv.ExpiredEvent || inv.StatusAt(now) != StatusExpired {
		return nil
	}
	return []Payload{InvitationExpired{OrganizationID: inv.OrganizationID, InvitationID: inv.ID, Actor: SystemActor}}
}

// SystemActor acts for events no user caused.
const SystemActor = "system"

// RemoveMember ends a membership.
func RemoveMember(m Membership, actor string) ([]Payload, error) {
	if !m.Active {
		return nil, ErrMemberNotFound
	}
	return []Payload{MembershipRemoved{OrganizationID: m.OrganizationID, UserID: m.UserID, InvitationID: m.InvitationID, Actor: actor}}, nil
}
