package auth

import (
	"net/http"
	"slices"
	"strings"
)

// Permission names carried in the org_permissions claim.
const (
	PermOrgRead       = "org.read"
	PermOrgUserRead   = "org.user.read"
	PermOrgUserInvite = "org.user.invite"
	PermOrgAdmin      = "org.admin"
)

// Permissions are every permission name the service checks, for tools that
// grant them (invitectl token) and refuse a misspelt one.
var Permissions = []string{PermOrgRead, PermOrgUserRead, PermOrgUserInvite, PermOrgAdmin}

// AnyOrganization is the org_permissions key whose permissions apply to every
// organization (service accounts).
const AnyOrganization = "*"

// Principal is the verified caller.
type Principal struct {
	Subject       string
	Email         string
	EmailVerified *bool // nil when the token does not say
	Permissions   map[string][]string
}

// Can reports whether every perm is granted in organizationID, either under
// that organization or under AnyOrganization. It fails closed: an empty
// organization id or an empty perms list is never authorized, so a caller
// that forgets to name what it checks cannot accidentally allow everything.
func (p Principal) Can(organizationID string, perms ...string) bool {
	if organizationID == "" || len(perms) == 0 {
		return false
	}
	org, all := p.Permissions[organizationID], p.Permissions[AnyOrganization]
	for _, perm := range perms {
		if !slices.Contains(org, perm) && !slices.Contains(all, perm) {
			return false
		}
	}
	return true
}

// BearerToken extracts the token from a single "Authorization: Bearer <token>"
// header. The scheme is case-insensitive (RFC 7235); anything other than
// exactly one header holding the scheme and one token is refused, so
// ambiguous requests never reach the verifier.
func BearerToken(r *http.Request) (string, bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	fields := strings.Fields(values[0])
	if len(fields) != 2 || !strings.EqualFold(fields[0], "Bearer") {
		return "", false
	}
	return fields[1], true
}
