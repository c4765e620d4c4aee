package commands

import (
	"context"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// RegisterOrganization registers an organization, or renames it.
type RegisterOrganization struct {
	OrganizationID string
	Name           string
	Actor          string
	// Precondition is checked against the organization's OrganizationTag
	// ("" while it is not registered).
	Precondition domain.Precondition
}

type RegisterOrganizationHandler struct{ base }

// Handle returns the organization as it now stands and whether it was created.
func (h *RegisterOrganizationHandler) Handle(ctx context.Context, cmd RegisterOrganization) (org domain.Organization, created bool, err error) {
	organization := organizationStream(cmd.OrganizationID)
	err = h.execute(ctx, "register_organization", []domain.StreamID{organization}, func(ctx context.Context, now time.Time) (decision, error) {
		current, seq, err := h.organization(ctx, cmd.OrganizationID)
		if err != nil {
			return decision{}, err
		}
		tag := ""
		if current.Registered() {
			tag = domain.OrganizationTag(current.Version)
		}
		if !cmd.Precondition.Holds(tag) {
			return decision{}, domain.ErrPreconditionFailed
		}
		registration, err := domain.RegisterOrganization(current, cmd.OrganizationID, cmd.Name, cmd.Actor)
		if err != nil {
			return decision{}, err
		}
		created = registration.Registered != nil
		payloads := registration.Payloads()
		org = evolve(current, now, payloads...)
		return decision{payloads: payloads, expected: map[domain.StreamID]domain.Position{organization: seq}}, nil
	})
	return org, created, err
}
