package commands

import (
	"context"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// CancelInvitation withdraws a pending or expired invitation.
type CancelInvitation struct {
	OrganizationID string
	InvitationID   string
	Actor          string
	// MayManagePrivileged says the actor may act on admin and owner invitations.
	MayManagePrivileged bool
	// Precondition is checked against the invitation's InvitationTag, once
	// it is known to exist and be the actor's to cancel.
	Precondition domain.Precondition
}

type CancelInvitationHandler struct{ base }

func (h *CancelInvitationHandler) Handle(ctx context.Context, cmd CancelInvitation) error {
	invitation := invitationStream(cmd.OrganizationID, cmd.InvitationID)
	return h.execute(ctx, "cancel_invitation", []domain.StreamID{invitation}, func(ctx context.Context, now time.Time) (decision, error) {
		inv, seq, err := h.invitation(ctx, cmd.OrganizationID, cmd.InvitationID)
		if err != nil {
			return decision{}, err
		}
		if inv.Exists() && inv.Role.Privileged() && !cmd.MayManagePrivileged {
			return decision{}, domain.ErrForbidden
		}
		if inv.Exists() {
			if err := h.checkInvitation(ctx, cmd.Precondition, inv, now); err != nil {
				return decision{}, err
			}
		}
		cancelled, err := domain.Cancel(inv, cmd.Actor)
		return decision{payloads: domain.Optional(cancelled), expected: map[domain.StreamID]domain.Position{invitation: seq}}, err
	})
}
