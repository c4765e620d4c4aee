package commands

import (
	"context"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// ResendInvitation gives a pending or expired invitation a new token and
// expiry; the old token stops working.
type ResendInvitation struct {
	OrganizationID      string
	InvitationID        string
	ExpiresIn           time.Duration
	Actor               string
	MayManagePrivileged bool
	// Precondition is checked against the invitation's InvitationTag, once
	// it is known to exist and be the actor's to resend.
	Precondition domain.Precondition
}

// ResendInvitationResult is the invitation as it now stands, with its new token.
type ResendInvitationResult struct {
	Organization domain.Organization
	Invitation   CreatedInvitation
}

type ResendInvitationHandler struct{ base }

func (h *ResendInvitationHandler) Handle(ctx context.Context, cmd ResendInvitation) (res ResendInvitationResult, err error) {
	// The email slot it writes too is named by the invitation's email, known
	// only once loaded: a resend racing a create of the same address there
	// is rare, and the retries settle it.
	invitation := invitationStream(cmd.OrganizationID, cmd.InvitationID)
	err = h.execute(ctx, "resend_invitation", []domain.StreamID{invitation}, func(ctx context.Context, now time.Time) (decision, error) {
		inv, invSeq, err := h.invitation(ctx, cmd.OrganizationID, cmd.InvitationID)
		if err != nil {
			return decision{}, err
		}
		if !inv.Exists() {
			return decision{}, domain.ErrInvitationNotFound
		}
		if inv.Role.Privileged() && !cmd.MayManagePrivileged {
			return decision{}, domain.ErrForbidden
		}
		if err := h.checkInvitation(ctx, cmd.Precondition, inv, now); err != nil {
			return decision{}, err
		}
		slot, slotID, slotSeq, err := h.invitee(ctx, cmd.OrganizationID, inv.Email, inv.EmailHMAC)
		if err != nil {
			return decision{}, err
		}
		token := NewToken()
		resent, err := domain.Resend(inv, slot, domain.SHA256(token), now.Add(cmd.ExpiresIn).Truncate(time.Second).UTC(), cmd.Actor, now)
		if err != nil {
			return decision{}, err
		}
		if res.Organization, _, err = h.organization(ctx, cmd.OrganizationID); err != nil {
			return decision{}, err
		}
		res.Invitation = CreatedInvitation{Invitation: evolve(inv, now, resent.Invitation), Token: token}
		return decision{payloads: resent.Payloads(), expected: map[domain.StreamID]domain.Position{invitation: invSeq, slotID: slotSeq}}, nil
	})
	return res, err
}
