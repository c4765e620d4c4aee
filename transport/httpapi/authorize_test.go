package httpapi

import (
	"net/http"
	"slices"
	"testing"

	"github.com/invitesvc/invitesvc/transport/auth"
)

// guarded lists every route that needs a token, with a request that
// succeeds over the harness and the permissions it needs in acme (none for
// the accept routes, where the invitation decides).
var guarded = []struct {
	method, path, body string
	perms              []string
}{
	{http.MethodPut, orgPath, `{"name":"Acme"}`, []string{auth.PermOrgAdmin}},
	{http.MethodGet, orgPath, "", []string{auth.PermOrgRead}},
	{http.MethodPost, orgPath + "/invitations", `{"emails":["ada@example.com"]}`, []string{auth.PermOrgUserInvite}},
	{http.MethodGet, orgPath + "/invitations", "", []string{auth.PermOrgRead, auth.PermOrgUserRead}},
	{http.MethodGet, invitationPath, "", []string{auth.PermOrgRead, auth.PermOrgUserRead}},
	{http.MethodDelete, invitationPath, "", []string{auth.PermOrgUserInvite}},
	{http.MethodPost, invitationPath + "/resend", "", []string{auth.PermOrgUserInvite}},
	{http.MethodGet, invitationPath + "/events", "", []string{auth.PermOrgRead, auth.PermOrgUserRead}},
	{http.MethodGet, orgPath + "/events", "", []string{auth.PermOrgRead, auth.PermOrgUserRead}},
	{http.MethodGet, orgPath + "/members", "", []string{auth.PermOrgRead, auth.PermOrgUserRead}},
	{http.MethodDelete, orgPath + "/members/user-2", "", []string{auth.PermOrgAdmin}},
	{http.MethodPost, invitationPath + "/accept", "", nil},
	{http.MethodPost, tokenPath + "/_accept", "", nil},
}

func TestUnauthenticatedRequestsAreRefused(t *testing.T) {
	for _, rt := range guarded {
		for name, header := range map[string]string{
			"no header":    "",
			"other secret": "Bearer " + otherSecretToken(t),
			"expired":      "Bearer " + expired(t),
			"not bearer":   "Basic dXNlcjpwYXNz",
			"not a JWT":    "Bearer not.a.jwt",
		} {
			t.Run(rt.method+" "+rt.path+" "+name, func(t *testing.T) {
				h := newHarness(t)
				var authorization []string
				if header != "" {
					authorization = []string{"Authorization", header}
				}
				rec := h.serve(rt.method, rt.path, "", rt.body, authorization...)
				wantProblem(t, rec, http.StatusUnauthorized, codeInvalidAuthentication)
				if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="invitesvc"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
				if h.commands.calls != 0 || len(h.queries.asked) != 0 {
					t.Errorf("refused request ran %d commands and queries %v", h.commands.calls, h.queries.asked)
				}
			})
		}
	}
}

func TestTwoAuthorizationHeadersAreRefused(t *testing.T) {
	h := newHarness(t)
	token := bearer(t, auth.PermOrgRead)
	rec := h.serve(http.MethodGet, orgPath, "", "", "Authorization", "Bearer "+token, "Authorization", "Bearer "+token)
	wantProblem(t, rec, http.StatusUnauthorized, codeInvalidAuthentication)
}

// otherSecretToken is a token with every permission, signed with a secret
// the verifier does not hold.
func otherSecretToken(t *testing.T) string {
	return mintWith(t, []byte("another-secret-of-at-least-32-by"), auth.Claims{OrgPermissions: grant(auth.AnyOrganization, auth.PermOrgAdmin)})
}

func TestPermissionsAreCheckedInThePathsOrganization(t *testing.T) {
	for _, rt := range guarded {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			ok := func(token string) {
				t.Helper()
				h := newHarness(t)
				if rec := h.serve(rt.method, rt.path, token, rt.body); rec.Code >= 300 {
					t.Fatalf("with %v answered %d %s", rt.perms, rec.Code, rec.Body)
				}
			}
			refused := func(token string) {
				t.Helper()
				h := newHarness(t)
				wantProblem(t, h.serve(rt.method, rt.path, token, rt.body), http.StatusForbidden, "root.forbidden")
				if h.commands.calls != 0 || len(h.queries.asked) != 0 {
					t.Errorf("refused request ran %d commands and queries %v", h.commands.calls, h.queries.asked)
				}
			}
			ok(bearer(t, rt.perms...))
			ok(mint(t, auth.Claims{OrgPermissions: grant(auth.AnyOrganization, rt.perms...)}))
			if len(rt.perms) == 0 {
				return // any authenticated caller may try to accept
			}
			refused(mint(t, auth.Claims{OrgPermissions: grant("other", rt.perms...)}))
			for _, missing := range rt.perms {
				refused(bearer(t, slices.DeleteFunc(slices.Clone(rt.perms), func(p string) bool { return p == missing })...))
			}
		})
	}
}

func TestInvalidOrganizationID(t *testing.T) {
	h := newHarness(t)
	token := mint(t, auth.Claims{OrgPermissions: grant(auth.AnyOrganization, auth.PermOrgRead, auth.PermOrgUserRead)})
	for _, rt := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/organizations/-acme"},
		{http.MethodGet, "/api/v1/organizations/a.b/members"},
		{http.MethodPost, "/api/v1/organizations/a%2Ab/invitations/" + testInvitationID + "/accept"},
	} {
		wantProblem(t, h.serve(rt.method, rt.path, token, ""), http.StatusBadRequest, "root.invalid_parameter", "organization_id")
		// Authentication comes first: without a token the id is not looked at.
		wantProblem(t, h.serve(rt.method, rt.path, "", ""), http.StatusUnauthorized, codeInvalidAuthentication)
	}
	if h.commands.calls != 0 || len(h.queries.asked) != 0 {
		t.Errorf("ran %d commands and queries %v", h.commands.calls, h.queries.asked)
	}
}

func TestMethodNotAllowedNamesTheAllowedOnes(t *testing.T) {
	h := newHarness(t)
	for path, allow := range map[string]string{
		orgPath:                     "GET, HEAD, PUT",
		orgPath + "/invitations":    "GET, HEAD, POST",
		invitationPath:              "DELETE, GET, HEAD",
		orgPath + "/members":        "GET, HEAD",
		orgPath + "/members/user-1": "DELETE, GET, HEAD",
		tokenPath:                   "GET, HEAD",
		tokenPath + "/_accept":      "POST",
		"/api/v1/openapi.json":      "GET, HEAD",
		invitationPath + "/resend":  "POST",
	} {
		rec := h.serve(http.MethodPatch, path, bearer(t, auth.PermOrgAdmin), "")
		wantProblem(t, rec, http.StatusMethodNotAllowed, codeMethodNotAllowed)
		if got := rec.Header().Get("Allow"); got != allow {
			t.Errorf("PATCH %s: Allow %q; want %q", path, got, allow)
		}
	}
}

func TestUnknownRouteIsNotFound(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/api/v1/nothing", "/api/v2/organizations/acme", orgPath + "/invitations/" + testInvitationID + "/nothing"} {
		wantProblem(t, h.serve(http.MethodGet, path, bearer(t, auth.PermOrgRead), ""), http.StatusNotFound, "root.not_found")
	}
}
