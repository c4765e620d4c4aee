package commands

import (
	"context"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// RecordDelivery records the outcome of the email that an
// invitation.created or invitation.resent asked for (Report.EventID).
type RecordDelivery struct {
	OrganizationID string
	InvitationID   string
	Report         domain.DeliveryReport
	// Sent: the SMTP server took it; else it failed for good.
	Sent bool
}

// DeliveryHandler is what a mailer reads and writes: whether an email is
// still due, from the invitation's own events rather than a read model
// that may lag a cancel, and its outcome, appended with the invitation's
// expected sequence like every other event of it.
type DeliveryHandler struct{ base }

// Due is the email an event asked for as it stands now: the invitation,
// its address opened, and its organization, and whether it is still to
// be sent (see domain.Invitation.EmailDue).
type Due struct {
	Invitation   domain.Invitation
	Organization domain.Organization
	Send         bool
}

// Due loads the invitation and its organization. What it loads is
// checked fresh, as a decision that writes nothing is: an email must not go
// out on a cached state that another replica's cancel or resend has moved.
func (h *DeliveryHandler) Due(ctx context.Context, org, invitationID, eventID string) (due Due, err error) {
	attempts := 0
	_, _, err = h.decide(ctx, []domain.StreamID{invitationStream(org, invitationID)}, &attempts, func(ctx context.Context, now time.Time) (decision, error) {
		due = Due{}
		if due.Invitation, _, err = h.invitation(ctx, org, invitationID); err != nil {
			return decision{}, err
		}
		if !due.Invitation.EmailDue(eventID, now) {
			return decision{}, nil
		}
		if due.Organization, _, err = h.organization(ctx, org); err != nil {
			return decision{}, err
		}
		due.Send = true
		return decision{}, nil
	})
	return due, err
}

// Record appends the outcome, once: an outcome recorded already (by a
// mailer that restarted, or raced another) writes nothing.
func (h *DeliveryHandler) Record(ctx context.Context, cmd RecordDelivery) error {
	invitation := invitationStream(cmd.OrganizationID, cmd.InvitationID)
	return h.execute(ctx, "record_delivery", []domain.StreamID{invitation}, func(ctx context.Context, _ time.Time) (decision, error) {
		inv, pos, err := h.invitation(ctx, cmd.OrganizationID, cmd.InvitationID)
		if err != nil {
			return decision{}, err
		}
		p, err := domain.RecordDelivery(inv, cmd.Report, cmd.Sent)
		if err != nil || p == nil {
			return decision{expected: map[domain.StreamID]domain.Position{invitation: pos}}, err
		}
		return decision{payloads: []domain.Payload{p}, expected: map[domain.StreamID]domain.Position{invitation: pos}}, nil
	})
}
