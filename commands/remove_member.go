package commands

import (
	"context"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// RemoveMember ends a user's membership; the email may then be invited again.
type RemoveMember struct {
	OrganizationID string
	UserID         string
	Actor          string
	// Precondition is checked against the membership's MembershipTag, once
	// it is known to be active.
	Precondition domain.Precondition
}

type RemoveMemberHandler struct{ base }

func (h *RemoveMemberHandler) Handle(ctx context.Context, cmd RemoveMember) error {
	membership := membershipStream(cmd.OrganizationID, cmd.UserID)
	return h.execute(ctx, "remove_member", []domain.StreamID{membership}, func(ctx context.Context, _ time.Time) (decision, error) {
		m, seq, err := h.membership(ctx, cmd.OrganizationID, cmd.UserID)
		if err != nil {
			return decision{}, err
		}
		if m.Active && !cmd.Precondition.Holds(domain.MembershipTag(m.InvitationID)) {
			return decision{}, domain.ErrPreconditionFailed
		}
		removed, err := domain.RemoveMember(m, cmd.Actor)
		if err != nil {
			return decision{}, err
		}
		return decision{payloads: []domain.Payload{removed}, expected: map[domain.StreamID]domain.Position{membership: seq}}, nil
	})
}
