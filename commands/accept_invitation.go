package commands

import (
	"context"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// AcceptInvitation makes the caller a member through an invitation, named
// either by its id within an organization or by its token.
type AcceptInvitation struct {
	OrganizationID string // with InvitationID
	InvitationID   string
	Token          string // or the token alone
	Caller         domain.Caller
}

// AcceptInvitationResult is the membership the invitation gave.
type AcceptInvitationResult struct {
	Organization domain.Organization
	Membership   domain.Membership
}

type AcceptInvitationHandler struct{ base }

func (h *AcceptInvitationHandler) Handle(ctx context.Context, cmd AcceptInvitation) (res AcceptInvitationResult, err error) {
	byToken := cmd.Token != ""
	if byToken {
		found := false
		cmd.OrganizationID, cmd.InvitationID, found, err = h.reads.InvitationIDByToken(ctx, domain.SHA256(cmd.Token))
		if err != nil {
			return res, err
		}
		if !found {
			return res, domain.ErrInvitationNotFound
		}
	}
	invitation, membership := invitationStream(cmd.OrganizationID, cmd.InvitationID), membershipStream(cmd.OrganizationID, cmd.Caller.UserID)
	err = h.execute(ctx, "accept_invitation", []domain.StreamID{invitation, membership}, func(ctx context.Context, now time.Time) (decision, error) {
		inv, invSeq, err := h.invitation(ctx, cmd.OrganizationID, cmd.InvitationID)
		if err != nil {
			return decision{}, err
		}
		// A rotated or cancelled token is no credential at all.
		if byToken && (inv.TokenSHA256 != domain.SHA256(cmd.Token) || !inv.CancelledAt.IsZero()) {
			return decision{}, domain.ErrInvitationNotFound
		}
		member, memberSeq, err := h.membership(ctx, cmd.OrganizationID, cmd.Caller.UserID)
		if err != nil {
			return decision{}, err
		}
		caller := cmd.Caller
		// Only an invitation that exists says its organization does, whose
		// HMAC key the caller's address is compared under.
		if email, ok := domain.NormalizeEmail(caller.Email); ok && inv.Exists() {
			if caller.EmailHMAC, err = h.personal.EmailHMAC(ctx, cmd.OrganizationID, email); err != nil {
				return decision{}, err
			}
		}
		acceptance, err := domain.Accept(inv, member, caller, now)
		if err != nil {
			return decision{}, err
		}
		if res.Organization, _, err = h.organization(ctx, cmd.OrganizationID); err != nil {
			return decision{}, err
		}
		var payloads []domain.Payload
		switch {
		case acceptance != nil:
			payloads = acceptance.Payloads()
			res.Membership = evolve(member, now, acceptance.Membership)
		case member.Active:
			res.Membership = member
		default:
			// Accepted before, by this caller, who has since been removed.
			res.Membership = domain.Membership{OrganizationID: inv.OrganizationID, UserID: inv.AcceptedBy,
				Email: inv.Email, EmailHMAC: inv.EmailHMAC, EmailErased: inv.EmailErased, KeyGeneration: inv.KeyGeneration,
				Role: inv.Role, JoinedAt: inv.AcceptedAt, InvitationID: inv.ID}
		}
		return decision{payloads: payloads, expected: map[domain.StreamID]domain.Position{invitation: invSeq, membership: memberSeq}}, nil
	})
	return res, err
}
