package commands_test

import (
	"testing"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
)

// lookalikeClaims are email claims that Unicode case folding or
// normalization would make, or that render like, the ASCII address they
// stand under.
var lookalikeClaims = map[string][]string{
	"kate@corp.test": {"\u212aate@corp.test", "\uff4bate@corp.test", "k\u0430te@corp.test"}, // KELVIN SIGN, full-width k, Cyrillic a
	"sam@corp.test":  {"\u017fam@corp.test"},                                                // LONG S
	"kim@corp.test":  {"k\u0131m@corp.test", "k\u0130m@corp.test"},                          // dotless i, capital I with dot
	"bob@corp.test":  {"b\u03bfb@corp.test"},                                                // Greek omicron
}

// TestLookalikeEmailsAcceptNothing runs create and accept (by id and by
// token) as the HTTP layer does: no lookalike claim accepts the invitation
// of the ASCII address, and no lookalike is stored, or reserves the slot,
// as the ASCII address.
func TestLookalikeEmailsAcceptNothing(t *testing.T) {
	h := newHarness(t, acme()...)
	var ascii []string
	for email := range lookalikeClaims {
		ascii = append(ascii, email)
	}
	created, err := createInvitations(h, invitationsOf(ascii...))
	if err != nil {
		t.Fatal(err)
	}
	h.settle()
	invited := map[string]commands.CreatedInvitation{}
	for _, inv := range created.Invitations {
		invited[inv.Email] = inv
		for _, claim := range lookalikeClaims[inv.Email] {
			caller := domain.Caller{UserID: "user-mallory", Email: claim}
			_, err := acceptInvitation(h, acceptByToken(inv.Token, caller))
			wantErr(t, err, domain.ErrEmailMismatch)
			_, err = acceptInvitation(h, acceptByID(inv.ID, caller))
			wantErr(t, err, domain.ErrEmailMismatch)
		}
	}
	h.wantAppended()

	// Each lookalike is refused, or is an address of its own: its own slot,
	// not the pending one of the ASCII address.
	for email, claims := range lookalikeClaims {
		for _, claim := range claims {
			normal, ok := domain.NormalizeEmail(claim)
			if !ok {
				_, err := createInvitations(h, invitationsOf(claim))
				wantErr(t, err, domain.ErrInvalidEmail)
				continue
			}
			res, err := createInvitations(h, invitationsOf(normal))
			if err != nil || res.Invitations[0].Email == email {
				t.Fatalf("%q invited as %+v, %v; want an address other than %q", claim, res.Invitations, err, email)
			}
		}
	}

	// ASCII case is all that is folded.
	res, err := acceptInvitation(h, acceptByToken(invited["kate@corp.test"].Token, domain.Caller{UserID: "user-kate", Email: "KATE@Corp.Test"}))
	if err != nil || res.Membership.Email != "kate@corp.test" || res.Membership.UserID != "user-kate" {
		t.Fatalf("KATE@Corp.Test accepting kate@corp.test's invitation: %+v, %v", res.Membership, err)
	}
}
