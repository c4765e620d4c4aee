package httpapi

import (
	"errors"
	"net/http"
	"regexp"

	"github.com/google/uuid"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/auth"
)

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// invitationID is the invitation id of the path. Only a canonical UUID can
// name an invitation, so no other text ever reaches a NATS subject.
func invitationID(r *http.Request) (string, error) {
	id := pathVar(r, "invitation_id")
	if u, err := uuid.Parse(id); err != nil || u.String() != id {
		return "", domain.ErrInvitationNotFound
	}
	return id, nil
}

func caller(p auth.Principal) domain.Caller {
	return domain.Caller{UserID: p.Subject, Email: p.Email, EmailVerified: p.EmailVerified}
}

type acceptResponse struct {
	Organization organizationRef `json:"organization"`
	Membership   memberResource  `json:"membership"`
}

func (s *server) writeAccepted(w http.ResponseWriter, res commands.AcceptInvitationResult) {
	m := res.Membership
	writeJSON(w, http.StatusOK, acceptResponse{
		Organization: organizationRef{ID: res.Organization.ID, Name: res.Organization.Name},
		Membership:   memberResource{UserID: m.UserID, Email: m.Email, Role: m.Role, JoinedAt: timestamp(m.JoinedAt), InvitationID: m.InvitationID},
	})
}

// limited runs a token-guessable operation under the failure limiter: a
// client over its limit is refused, and each failure is charged.
func (s *server) limited(r *http.Request, op func() error) error {
	client := s.clientAddress(r)
	if err := s.Limiter.check(client, s.Now()); err != nil {
		return err
	}
	err := op()
	var de *domain.Error
	if errors.As(err, &de) {
		s.Limiter.failed(client, s.Now())
	}
	return err
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
		res, err := s.Commands.AcceptInvitation.Handle(r.Context(), commands.AcceptInvitation{OrganizationID: org, InvitationID: id, Caller: caller(p)})
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
		token := pathVar(r, "invitation_token")
		if !tokenPattern.MatchString(token) {
			return domain.ErrInvitationNotFound.WithFields("invitation_token")
		}
		res, err := s.Commands.AcceptInvitation.Handle(r.Context(), commands.AcceptInvitation{Token: token, Caller: caller(p)})
		if errors.Is(err, domain.ErrInvitationNotFound) {
			return domain.ErrInvitationNotFound.WithFields("invitation_token")
		}
		if err != nil {
			return err
		}
		s.writeAccepted(w, res)
		return nil
	})
}

func (s *server) lookupByToken(w http.ResponseWriter, r *http.Request) error {
	return s.limited(r, func() error {
		token := pathVar(r, "invitation_token")
		if !tokenPattern.MatchString(token) {
			return domain.ErrInvitationNotFound.WithFields("invitation_token")
		}
		// One read whether or not the token matches, so that both answers
		// cost the same work: the store reads the organization too.
		m, err := s.Queries.InvitationByToken(r.Context(), domain.SHA256(token))
		if err != nil {
			return err
		}
		if !m.Found {
			return domain.ErrInvitationNotFound.WithFields("invitation_token")
		}
		out := newInvitationResource(m.Invitation.Invitation, m.Organization.Name, s.Now())
		out.Token = token
		writeJSON(w, http.StatusOK, out)
		return nil
	})
}
