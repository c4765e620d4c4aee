package httpapi

import (
	"errors"
	"net/http"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
)

type acceptResponse struct {
	Organization organizationRef `json:"organization"`
	Membership   memberResource  `json:"membership"`
}

func (s *server) writeAccepted(w http.ResponseWriter, res commands.AcceptInvitationResult) {
	m := res.Membership
	writeJSON(w, http.StatusOK, acceptResponse{
		Organization: organizationRef{ID: res.Organization.ID, Name: res.Organization.Name},
		Membership: newMemberResource(projections.Member{UserID: m.UserID, Email: m.Email, EmailErased: m.EmailErased, Role: m.Role,
			JoinedAt: m.JoinedAt, InvitationID: m.InvitationID}),
	})
}

func (s *server) acceptByID(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticate(r)
	if err != nil {
		return err
	}
	org, err := organizationID(r)
	if err != nil {
		return err
	}
	return s.limited(r, func() error {
		id, err := invitationID(r)
		if err != nil {
			return err
		}
		res, err := s.Commands.AcceptInvitation(r.Context(), commands.AcceptInvitation{OrganizationID: org, InvitationID: id, Caller: caller(p)})
		if err != nil {
			return err
		}
		s.writeAccepted(w, res)
		return nil
	})
}

func (s *server) acceptByToken(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticate(r)
	if err != nil {
		return err
	}
	return s.limited(r, func() error {
		token, err := invitationToken(r)
		if err != nil {
			return err
		}
		res, err := s.Commands.AcceptInvitation(r.Context(), commands.AcceptInvitation{Token: token, Caller: caller(p)})
		if errors.Is(err, domain.ErrInvitationNotFound) {
			return errTokenNotFound
		}
		if err != nil {
			return err
		}
		s.writeAccepted(w, res)
		return nil
	})
}
