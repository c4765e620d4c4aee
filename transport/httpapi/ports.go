package httpapi

import (
	"context"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// Commands are the write operations the routes run.
type Commands interface {
	RegisterOrganization(ctx context.Context, cmd commands.RegisterOrganization) (org domain.Organization, created bool, err error)
	CreateInvitations(ctx context.Context, cmd commands.CreateInvitations) (commands.CreateInvitationsResult, error)
	AcceptInvitation(ctx context.Context, cmd commands.AcceptInvitation) (commands.AcceptInvitationResult, error)
	CancelInvitation(ctx context.Context, cmd commands.CancelInvitation) error
	ResendInvitation(ctx context.Context, cmd commands.ResendInvitation) (commands.ResendInvitationResult, error)
	RemoveMember(ctx context.Context, cmd commands.RemoveMember) error
	EraseEmail(ctx context.Context, cmd commands.EraseEmail) (commands.EraseEmailResult, error)
}

// Queries read the read models. *projections.Queries is one.
type Queries interface {
	Organization(ctx context.Context, id string) (projections.Organization, bool, error)
	Invitation(ctx context.Context, organizationID, id string) (projections.Invitation, bool, error)
	InvitationByToken(ctx context.Context, tokenSHA256 string) (projections.TokenMatch, error)
	Invitations(ctx context.Context, organizationID string, status projections.StatusFilter, req projections.PageRequest) (projections.Page[projections.Invitation], error)
	Member(ctx context.Context, organizationID, userID string) (projections.Member, bool, error)
	Members(ctx context.Context, organizationID string, req projections.PageRequest) (projections.Page[projections.Member], error)
}

// EventLog reads events back from the event store.
type EventLog interface {
	Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error)
	OrganizationEvents(ctx context.Context, organizationID string) ([]domain.Recorded, error)
}

// Verifier checks bearer tokens.
type Verifier interface {
	Verify(token string) (auth.Principal, error)
}

// CommandHandlers serves Commands from the command handlers.
func CommandHandlers(h *commands.Handlers) Commands {
	if h == nil {
		panic("httpapi.CommandHandlers: nil handlers")
	}
	return handlers{h}
}

type handlers struct{ h *commands.Handlers }

func (c handlers) RegisterOrganization(ctx context.Context, cmd commands.RegisterOrganization) (domain.Organization, bool, error) {
	return c.h.RegisterOrganization.Handle(ctx, cmd)
}

func (c handlers) CreateInvitations(ctx context.Context, cmd commands.CreateInvitations) (commands.CreateInvitationsResult, error) {
	return c.h.CreateInvitations.Handle(ctx, cmd)
}

func (c handlers) AcceptInvitation(ctx context.Context, cmd commands.AcceptInvitation) (commands.AcceptInvitationResult, error) {
	return c.h.AcceptInvitation.Handle(ctx, cmd)
}

func (c handlers) CancelInvitation(ctx context.Context, cmd commands.CancelInvitation) error {
	return c.h.CancelInvitation.Handle(ctx, cmd)
}

func (c handlers) ResendInvitation(ctx context.Context, cmd commands.ResendInvitation) (commands.ResendInvitationResult, error) {
	return c.h.ResendInvitation.Handle(ctx, cmd)
}

func (c handlers) RemoveMember(ctx context.Context, cmd commands.RemoveMember) error {
	return c.h.RemoveMember.Handle(ctx, cmd)
}

func (c handlers) EraseEmail(ctx context.Context, cmd commands.EraseEmail) (commands.EraseEmailResult, error) {
	return c.h.EraseEmail.Handle(ctx, cmd)
}
