package commands

import (
	"context"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// ExpireInvitation records the expiry of an invitation past its expires_at.
// Every replica may try it at once: the expected sequence lets one write.
type ExpireInvitation struct {
	OrganizationID string
	InvitationID   string
}

type ExpireInvitationHandler struct{ base }

func (h *ExpireInvitationHandler) Handle(ctx context.Context, cmd ExpireInvitation) error {
	invitation := invitationStream(cmd.OrganizationID, cmd.InvitationID)
	return h.execute(ctx, "expire_invitation", []domain.StreamID{invitation}, func(ctx context.Context, now time.Time) (decision, error) {
		inv, pos, err := h.invitation(ctx, cmd.OrganizationID, cmd.InvitationID)
		if err != nil {
			return decision{}, err
		}
		return decision{payloads: domain.Optional(domain.Expire(inv, now)), expected: map[domain.StreamID]domain.Position{invitation: pos}}, nil
	})
}
