package service_test

import (
	"net/http"
	"testing"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// TestPermissions checks every organization route against the permission
// table: each caller below lacks what the route needs, is refused with 403
// (401 without a token), and nothing is changed or read.
func TestPermissions(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		s.register("acme")
		s.register("evil")
		invs := s.invite("ada@example.com", "admin-to-be@example.com")
		privileged := s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"boss@example.com"}, "role": "owner"}).list("invitations")[0]
		expect(t, s.do("POST", api+"/invitations/"+invs[0]["token"].(string)+"/_accept", s.invitee("user-ada", "ada@example.com"), nil), http.StatusOK)
		id := invs[1]["id"].(string)

		all := []string{auth.PermOrgRead, auth.PermOrgUserRead, auth.PermOrgUserInvite, auth.PermOrgAdmin}
		without := func(perm string) []string {
			var out []string
			for _, p := range all {
				if p != perm {
					out = append(out, p)
				}
			}
			return out
		}
		routes := []struct {
			method, path string
			body         any
			needs        []string // each is required: a caller missing any one is refused
		}{
			{"PUT", api + "/acme", map[string]any{"name": "Stolen"}, []string{auth.PermOrgAdmin}},
			{"GET", api + "/acme", nil, []string{auth.PermOrgRead}},
			{"POST", api + "/acme/invitations", map[string]any{"emails": []string{"eve@example.com"}}, []string{auth.PermOrgUserInvite}},
			{"POST", api + "/acme/invitations", map[string]any{"emails": []string{"eve@example.com"}, "role": "admin"}, []string{auth.PermOrgUserInvite, auth.PermOrgAdmin}},
			{"GET", api + "/acme/invitations", nil, []string{auth.PermOrgRead, auth.PermOrgUserRead}},
			{"GET", api + "/acme/invitations/" + id, nil, []string{auth.PermOrgRead, auth.PermOrgUserRead}},
			{"GET", api + "/acme/invitations/" + id + "/events", nil, []string{auth.PermOrgRead, auth.PermOrgUserRead}},
			{"DELETE", api + "/acme/invitations/" + id, nil, []string{auth.PermOrgUserInvite}},
			{"POST", api + "/acme/invitations/" + id + "/resend", nil, []string{auth.PermOrgUserInvite}},
			{"DELETE", api + "/acme/invitations/" + privileged["id"].(string), nil, []string{auth.PermOrgUserInvite, auth.PermOrgAdmin}},
			{"POST", api + "/acme/invitations/" + privileged["id"].(string) + "/resend", nil, []string{auth.PermOrgUserInvite, auth.PermOrgAdmin}},
			{"GET", api + "/acme/members", nil, []string{auth.PermOrgRead, auth.PermOrgUserRead}},
			{"GET", api + "/acme/events", nil, []string{auth.PermOrgRead, auth.PermOrgUserRead}},
			{"DELETE", api + "/acme/members/user-ada", nil, []string{auth.PermOrgAdmin}},
		}
		for _, rt := range routes {
			callers := map[string]string{
				"no token":           "",
				"no permissions":     s.token("nobody", "n@example.com", nil),
				"admin of elsewhere": s.token("evil-admin", "e@example.com", map[string][]string{"evil": all}),
				"read-only wildcard": s.token("svc", "", map[string][]string{"*": {auth.PermOrgRead}, "evil": all}),
			}
			for _, perm := range rt.needs {
				callers["all but "+perm] = s.token("partial", "p@example.com", map[string][]string{"acme": without(perm)})
			}
			for name, token := range callers {
				if name == "read-only wildcard" && len(rt.needs) == 1 && rt.needs[0] == auth.PermOrgRead {
					continue // that one is allowed
				}
				r := s.do(rt.method, rt.path, token, rt.body)
				want := http.StatusForbidden
				if token == "" {
					want = http.StatusUnauthorized
				}
				if r.status != want {
					t.Errorf("%s %s as %s: %d, want %d: %s", rt.method, rt.path, name, r.status, want, r.raw)
				}
			}
		}
		// Nothing changed.
		if got := s.do("GET", api+"/acme", s.admin, nil).str("name"); got != "acme Corp" {
			t.Errorf("organization renamed to %q", got)
		}
		if n := len(s.do("GET", api+"/acme/invitations?status=all", s.admin, nil).list("invitations")); n != 3 {
			t.Errorf("%d invitations, want 3", n)
		}
		if got := s.eventTypes(id); len(got) != 1 {
			t.Errorf("invitation events %v, want only created", got)
		}
		if ms := s.do("GET", api+"/acme/members", s.admin, nil).list("members"); len(ms) != 1 {
			t.Errorf("members %v", ms)
		}
		// Another organization's admin reaching acme's invitation through
		// their own organization finds nothing.
		evil := s.token("evil-admin", "e@example.com", map[string][]string{"evil": all})
		for _, r := range []response{
			s.do("GET", api+"/evil/invitations/"+id, evil, nil),
			s.do("GET", api+"/evil/invitations/"+id+"/events", evil, nil),
			s.do("DELETE", api+"/evil/invitations/"+id, evil, nil),
			s.do("POST", api+"/evil/invitations/"+id+"/resend", evil, nil),
		} {
			expect(t, r, http.StatusNotFound, "organization.invitation_not_found")
		}
		expect(t, s.do("DELETE", api+"/evil/members/user-ada", evil, nil), http.StatusNotFound, "organization.member_not_found")
		if got := s.eventTypes(id); len(got) != 1 {
			t.Errorf("invitation events %v after cross-organization calls", got)
		}
	})
}
