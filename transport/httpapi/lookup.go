package httpapi

import (
	"net/http"

	"github.com/invitesvc/invitesvc/domain"
)

func (s *server) lookupByToken(w http.ResponseWriter, r *http.Request) error {
	return s.limited(r, func() error {
		token, err := invitationToken(r)
		if err != nil {
			return err
		}
		// One read whether or not the token matches, so that both answers
		// cost the same work: the store reads the organization too.
		m, err := s.Queries.InvitationByToken(r.Context(), domain.SHA256(token))
		if err != nil {
			return err
		}
		if !m.Found {
			return errTokenNotFound
		}
		writeJSON(w, http.StatusOK, newInvitationResource(m.Invitation.Invitation, m.Organization.Name, s.Now()).withToken(token, s.AcceptURL))
		return nil
	})
}
