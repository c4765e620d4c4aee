package service_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/invitesvc/invitesvc/transport/auth"
)

// TestLookalikeEmailsEndToEnd is the attack through the whole
// service: tokens whose email claim is a lookalike of an invited address
// accept nothing, by token or by id; a lookalike invited is refused or kept
// as itself; ASCII case alone still matches.
func TestLookalikeEmailsEndToEnd(t *testing.T) {
	s := startStack(t, "")
	expect(t, s.do("PUT", api+"/acme", s.admin, map[string]any{"name": "Acme"}), http.StatusCreated)
	lookalikes := map[string][]string{
		"kate@corp.test": {"\u212aate@corp.test", "\uff4bate@corp.test", "k\u0430te@corp.test"}, // KELVIN SIGN, full-width k, Cyrillic a
		"sam@corp.test":  {"\u017fam@corp.test"},                                                // LONG S
		"kim@corp.test":  {"k\u0131m@corp.test", "k\u0130m@corp.test"},                          // dotless i, capital I with dot
		"bob@corp.test":  {"b\u03bfb@corp.test"},                                                // Greek omicron
	}
	invited := map[string]map[string]any{}
	for _, inv := range s.invite("kate@corp.test", "sam@corp.test", "kim@corp.test", "bob@corp.test") {
		invited[inv["email"].(string)] = inv
	}
	for email, claims := range lookalikes {
		inv := invited[email]
		for _, claim := range claims {
			mallory := s.invitee("user-mallory", claim)
			expect(t, s.do("POST", api+"/invitations/"+inv["token"].(string)+"/_accept", mallory, nil), http.StatusForbidden, "organization.invitation_email_mismatch")
			expect(t, s.do("POST", api+"/acme/invitations/"+inv["id"].(string)+"/accept", mallory, nil), http.StatusForbidden, "organization.invitation_email_mismatch")
		}
	}

	// Invited, a lookalike is refused or stays an address of its own.
	for _, refused := range []string{"\u212aate@corp.test", "\u017fam@corp.test", "\uff4bate@corp.test"} {
		r := s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{refused}})
		expect(t, r, http.StatusBadRequest, "root.invalid_parameter")
		if !slices.Equal(r.errorFields(), []string{"emails[0]"}) {
			t.Errorf("%q refused with fields %v", refused, r.errorFields())
		}
	}
	for _, own := range []string{"k\u0430te@corp.test", "k\u0131m@corp.test", "k\u0130m@corp.test", "b\u03bfb@corp.test"} {
		if got := s.invite(own)[0]["email"]; got != own {
			t.Errorf("%q stored as %q", own, got)
		}
	}

	// ASCII case is all that is folded; the member list shows the address invited.
	kate := invited["kate@corp.test"]
	expect(t, s.do("POST", api+"/acme/invitations/"+kate["id"].(string)+"/accept", s.invitee("user-kate", "KATE@Corp.Test"), nil), http.StatusOK)
	if ms := s.do("GET", api+"/acme/members", s.admin, nil).list("members"); len(ms) != 1 || ms[0]["user_id"] != "user-kate" || ms[0]["email"] != "kate@corp.test" {
		t.Fatalf("members %v", ms)
	}
}

// TestInvalidOrganizationsAreRefusedEndToEnd: the organization
// named invitations, and its name with a NUL, a bidi override and a newline.
func TestInvalidOrganizationsAreRefusedEndToEnd(t *testing.T) {
	s := startStack(t, "")
	owner := s.token("owner", "", map[string][]string{"invitations": {auth.PermOrgAdmin}})
	r := s.do("PUT", api+"/invitations", owner, map[string]any{"name": "Invitations"})
	expect(t, r, http.StatusBadRequest, "root.invalid_parameter")
	if !slices.Equal(r.errorFields(), []string{"organization_id"}) {
		t.Errorf("fields %v", r.errorFields())
	}
	r = s.do("PUT", api+"/acme", s.admin, map[string]any{"name": "In\u0000put\u202e\n<script>"})
	expect(t, r, http.StatusBadRequest, "root.invalid_parameter")
	if !slices.Equal(r.errorFields(), []string{"name"}) {
		t.Errorf("fields %v", r.errorFields())
	}
	expect(t, s.do("GET", api+"/acme", s.admin, nil), http.StatusNotFound, "organization.not_found")
}
