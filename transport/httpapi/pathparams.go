package httpapi

import (
	"net/http"
	"net/url"
	"regexp"

	"github.com/gorilla/mux"

	"github.com/invitesvc/invitesvc/domain"
)

// pathVar is a path parameter, unescaped (the router matches encoded paths
// so that a user id may hold a slash).
func pathVar(r *http.Request, name string) string {
	v, err := url.PathUnescape(mux.Vars(r)[name])
	if err != nil {
		return ""
	}
	return v
}

func organizationID(r *http.Request) (string, error) {
	id := pathVar(r, "organization_id")
	if !domain.ValidOrganizationID(id) {
		return "", domain.ErrInvalidOrganizationID
	}
	return id, nil
}

// invitationID is the invitation id of the path. Only a canonical UUID can
// name an invitation, so no other text ever reaches a NATS subject.
func invitationID(r *http.Request) (string, error) {
	id := pathVar(r, "invitation_id")
	if !domain.ValidInvitationID(id) {
		return "", domain.ErrInvitationNotFound
	}
	return id, nil
}

// userID is the user id of the path; one no membership can have is no member.
func userID(r *http.Request) (string, error) {
	user := pathVar(r, "user_id")
	if user == "" || len(user) > domain.MaxUserIDBytes {
		return "", domain.ErrMemberNotFound
	}
	return user, nil
}

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// invitationToken is the invitation token of the path; text that cannot be
// a token is answered as an unknown one.
func invitationToken(r *http.Request) (string, error) {
	token := pathVar(r, "invitation_token")
	if !tokenPattern.MatchString(token) {
		return "", errTokenNotFound
	}
	return token, nil
}

// errTokenNotFound names the path's token as what was not found.
var errTokenNotFound = domain.ErrInvitationNotFound.WithFields("invitation_token")
