package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
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

// Registration is what RegisterOrganization decided: at most one of its
// events, nil when not decided.
type Registration struct {
	Registered *OrganizationRegistered
	Renamed    *OrganizationRenamed
}

// Payloads lists the decided event, if any.
func (r Registration) Payloads() []Payload {
	return append(Optional(r.Registered), Optional(r.Renamed)...)
}

// RegisterOrganization registers the organization or renames it. It decides
// nothing when the name is unchanged. The id must be valid and the name as
// NormalizeName gives it, whichever layer asks.
func RegisterOrganization(o Organization, id, name, actor string) (Registration, error) {
	if !ValidOrganizationID(id) {
		return Registration{}, ErrInvalidOrganizationID
	}
	if normal, ok := NormalizeName(name); !ok || normal != name {
		return Registration{}, ErrInvalidName
	}
	switch {
	case !o.Registered():
		return Registration{Registered: &OrganizationRegistered{OrganizationID: id, Name: name, Actor: actor}}, nil
	case o.Name == name:
		return Registration{}, nil
	}
	return Registration{Renamed: &OrganizationRenamed{OrganizationID: id, Name: name, Actor: actor}}, nil
}

// Optional lists an event a decider may leave undecided (nil): what to
// append, nothing when it decided nothing.
func Optional[P Payload](p *P) []Payload {
	if p == nil {
		return nil
	}
	return []Payload{*p}
}

// Invitee is what decides whether an email may be invited: its keyed
// identifier, the generation of the data key it is sealed under now (its
// slot's), the invitation holding its slot, if any, and that invitation's
// membership.
type Invitee struct {
	EmailHMAC     string
	KeyGeneration int
	Holder        Invitation // zero if the slot was never taken
	HolderMember  Membership // the membership of Holder.AcceptedBy, if accepted
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
		if in.HolderMember.Active && in.HolderMember.EmailHMAC == in.EmailHMAC {
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

// Invited is what Invite decided for one email: the invitation's event and
// its email slot's.
type Invited struct {
	Invitation InvitationCreated
	Slot       EmailReserved
}

// Payloads lists the events in the order they are appended.
func (d Invited) Payloads() []Payload { return []Payload{d.Invitation, d.Slot} }

// Invite creates invitations for every invitee, or none: each email that may
// not be invited is reported with its index in the request. The decisions
// are in the order of news.
func Invite(org Organization, invitees []Invitee, news []NewInvitation, actor string, now time.Time) ([]Invited, error) {
	if !org.Registered() {
		return nil, ErrOrganizationNotFound
	}
	if len(invitees) != len(news) {
		panic(fmt.Sprintf("domain.Invite: %d invitees for %d invitations", len(invitees), len(news)))
	}
	byCode := map[Code]*Error{}
	var errs Errors
	for i, in := range invitees {
		err := CheckInvitable(in, now)
		if email, ok := NormalizeEmail(news[i].Email); !ok || email != news[i].Email {
			// Only what the rule gives is stored and keys the email slot.
			err = ErrInvalidEmail
		}
		if err != nil {
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
	decided := make([]Invited, len(news))
	for i, n := range news {
		in := invitees[i]
		decided[i] = Invited{
			Invitation: InvitationCreated{OrganizationID: org.ID, InvitationID: n.InvitationID, Email: n.Email, EmailHMAC: in.EmailHMAC,
				EmailSealed: &Sealed{Generation: in.KeyGeneration}, Role: n.Role, TokenSHA256: n.TokenSHA256, ExpiresAt: n.ExpiresAt, Actor: actor},
			Slot: EmailReserved{OrganizationID: org.ID, EmailHMAC: in.EmailHMAC, InvitationID: n.InvitationID, Actor: actor},
		}
	}
	return decided, nil
}

// Caller is the authenticated user acting on an invitation.
type Caller struct {
	UserID        string
	Email         string
	EmailVerified *bool // nil when the token does not say
	// EmailHMAC is the keyed identifier of Email as NormalizeEmail gives
	// it, in the invitation's organization: the commands compute it.
	EmailHMAC string
}

// Acceptance is what Accept decided: the invitation's event and the
// membership's.
type Acceptance struct {
	Invitation InvitationAccepted
	Membership MembershipAdded
}

// Payloads lists the events in the order they are appended.
func (a Acceptance) Payloads() []Payload { return []Payload{a.Invitation, a.Membership} }

// Accept turns the invitation into a membership for the caller. It decides
// nothing (nil) when the caller already accepted this very invitation.
func Accept(inv Invitation, member Membership, caller Caller, now time.Time) (*Acceptance, error) {
	if !inv.Exists() {
		return nil, ErrInvitationNotFound
	}
	// The claim is compared by the rule the invitation's address was stored
	// by, and exactly: no other folding makes a lookalike the same address.
	// Keyed identifiers stand for the addresses: they compare the same
	// once an address is erased.
	if _, ok := NormalizeEmail(caller.Email); !ok || caller.EmailHMAC == "" || caller.EmailHMAC != inv.EmailHMAC ||
		(caller.EmailVerified != nil && !*caller.EmailVerified) {
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
	if inv.EmailErased {
		// Erasure cancels what it erases: a pending one is a stale read.
		return nil, ErrInvitationCancelled
	}
	return &Acceptance{
		Invitation: InvitationAccepted{OrganizationID: inv.OrganizationID, InvitationID: inv.ID, UserID: caller.UserID, Actor: caller.UserID},
		Membership: MembershipAdded{OrganizationID: inv.OrganizationID, UserID: caller.UserID, Email: inv.Email, EmailHMAC: inv.EmailHMAC,
			EmailSealed: &Sealed{Generation: inv.KeyGeneration}, Role: inv.Role, InvitationID: inv.ID, Actor: caller.UserID},
	}, nil
}

// Cancel withdraws the invitation. Cancelling twice decides nothing (nil).
func Cancel(inv Invitation, actor string) (*InvitationCancelled, error) {
	switch {
	case !inv.Exists():
		return nil, ErrInvitationNotFound
	case !inv.AcceptedAt.IsZero():
		return nil, ErrInvitationAlreadyAccepted
	case !inv.CancelledAt.IsZero():
		return nil, nil
	}
	return &InvitationCancelled{OrganizationID: inv.OrganizationID, InvitationID: inv.ID, Actor: actor}, nil
}

// Resent is what Resend decided: the invitation's event and its email slot's.
type Resent struct {
	Invitation InvitationResent
	Slot       EmailReserved
}

// Payloads lists the events in the order they are appended.
func (r Resent) Payloads() []Payload { return []Payload{r.Invitation, r.Slot} }

// Resend gives a pending or expired invitation a new token and expiry, and
// takes its email slot back. slot is the invitee seen through the slot, which
// may be held by another invitation since this one expired.
func Resend(inv Invitation, slot Invitee, tokenSHA256 string, expiresAt time.Time, actor string, now time.Time) (Resent, error) {
	switch {
	case !inv.Exists():
		return Resent{}, ErrInvitationNotFound
	case !inv.AcceptedAt.IsZero():
		return Resent{}, ErrInvitationAlreadyAccepted
	case !inv.CancelledAt.IsZero(), inv.EmailErased:
		return Resent{}, ErrInvitationCancelled
	}
	if slot.Holder.ID != inv.ID {
		if err := CheckInvitable(slot, now); err != nil {
			return Resent{}, err
		}
	}
	return Resent{
		Invitation: InvitationResent{OrganizationID: inv.OrganizationID, InvitationID: inv.ID, TokenSHA256: tokenSHA256, ExpiresAt: expiresAt, Actor: actor},
		Slot:       EmailReserved{OrganizationID: inv.OrganizationID, EmailHMAC: inv.EmailHMAC, InvitationID: inv.ID, Actor: actor},
	}, nil
}

// Expire records that a pending invitation ran out of time. It decides
// nothing (nil) for one that is not expired, or whose expiry is already recorded.
func Expire(inv Invitation, now time.Time) *InvitationExpired {
	if !inv.Exists() || inv.ExpiredEvent || inv.StatusAt(now) != StatusExpired {
		return nil
	}
	return &InvitationExpired{OrganizationID: inv.OrganizationID, InvitationID: inv.ID, Actor: SystemActor}
}

// SystemActor acts for events no user caused.
const SystemActor = "system"

// RemoveMember ends a membership.
func RemoveMember(m Membership, actor string) (MembershipRemoved, error) {
	if !m.Active {
		return MembershipRemoved{}, ErrMemberNotFound
	}
	return MembershipRemoved{OrganizationID: m.OrganizationID, UserID: m.UserID, InvitationID: m.InvitationID, Actor: actor}, nil
}

// Erasable is what an erasure of an address decides on: its keyed
// identifier, its email slot, every invitation of the address since it was
// last erased (those named by the slot, and those of revision 1 events,
// whose slot was named by the address's SHA-256, until a first erasure)
// and the memberships their acceptances made, by user id.
type Erasable struct {
	EmailHMAC   string
	Slot        EmailSlot
	Invitations []Invitation
	Members     map[string]Membership
}

// Erasure is what Erase decided: the invitations it cancels, the
// membership it ends, and the record of the erasure; nothing when the
// address has nothing left to erase.
type Erasure struct {
	Cancelled []InvitationCancelled
	Removed   []MembershipRemoved
	Erased    *EmailErased
}

// Payloads lists the events in the order they are appended: the record
// last, so that whatever reads it has seen what it ends.
func (e Erasure) Payloads() []Payload {
	var ps []Payload
	for _, c := range e.Cancelled {
		ps = append(ps, c)
	}
	for _, r := range e.Removed {
		ps = append(ps, r)
	}
	return append(ps, Optional(e.Erased)...)
}

// Erase erases an address from an organization: every invitation of it
// that is neither accepted nor cancelled is cancelled (an expired one could
// be resent), a membership it made that is still active is ended, and the
// erasure is recorded with the data key generation to delete. Erasing again
// decides nothing.
func Erase(org Organization, x Erasable, actor string) (Erasure, error) {
	if !org.Registered() {
		return Erasure{}, ErrOrganizationNotFound
	}
	if len(x.Invitations) == 0 {
		return Erasure{}, nil
	}
	erased := EmailErased{OrganizationID: org.ID, EmailHMAC: x.EmailHMAC, Generation: x.Slot.Generation(),
		InvitationIDs: []string{}, UserIDs: []string{}, Actor: actor}
	var d Erasure
	for _, inv := range x.Invitations {
		erased.InvitationIDs = append(erased.InvitationIDs, inv.ID)
		if inv.AcceptedAt.IsZero() {
			if inv.CancelledAt.IsZero() {
				d.Cancelled = append(d.Cancelled, InvitationCancelled{OrganizationID: org.ID, InvitationID: inv.ID, Actor: actor})
			}
			continue
		}
		m, ok := x.Members[inv.AcceptedBy]
		if !ok || m.InvitationID != inv.ID || slices.Contains(erased.UserIDs, m.UserID) {
			continue
		}
		erased.UserIDs = append(erased.UserIDs, m.UserID)
		if m.Active {
			d.Removed = append(d.Removed, MembershipRemoved{OrganizationID: org.ID, UserID: m.UserID, InvitationID: m.InvitationID, Actor: actor})
		}
	}
	d.Erased = &erased
	return d, nil
}
