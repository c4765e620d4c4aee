package httpapi

import (
	"net/http"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/auth"
)

func (s *server) authenticate(r *http.Request) (auth.Principal, error) {
	token, ok := auth.BearerToken(r)
	if !ok {
		return auth.Principal{}, unauthenticated("A bearer token is required.")
	}
	p, err := s.Verifier.Verify(token)
	if err != nil {
		return auth.Principal{}, unauthenticated("The bearer token is invalid or expired.")
	}
	return p, nil
}

// authorize authenticates the caller, validates the organization id and
// checks the caller holds every permission there.
func (s *server) authorize(r *http.Request, perms ...string) (auth.Principal, string, error) {
	p, err := s.authenticate(r)
	if err != nil {
		return p, "", err
	}
	org, err := organizationID(r)
	if err != nil {
		return p, "", err
	}
	if !p.Can(org, perms...) {
		return p, "", domain.ErrForbidden
	}
	return p, org, nil
}

// authorizeInvitation is authorize for a route naming an invitation, which
// it also reads from the path.
func (s *server) authorizeInvitation(r *http.Request, perms ...string) (p auth.Principal, org, id string, err error) {
	if p, org, err = s.authorize(r, perms...); err != nil {
		return p, "", "", err
	}
	id, err = invitationID(r)
	return p, org, id, err
}

// caller is the principal as the domain's accept rules see it.
func caller(p auth.Principal) domain.Caller {
	return domain.Caller{UserID: p.Subject, Email: p.Email, EmailVerified: p.EmailVerified}
}
