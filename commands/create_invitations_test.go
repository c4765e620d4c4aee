package commands_test

import (
	"slices"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
)

func createInvitations(h *harness, cmd commands.CreateInvitations) (commands.CreateInvitationsResult, error) {
	return h.handlers.CreateInvitations.Handle(h.t.Context(), cmd)
}

// drawnByCreate fills in each invitation's id and token hash, as the answer
// gives them, matched by email.
func drawnByCreate(res commands.CreateInvitationsResult, want []domain.Payload) []domain.Payload {
	byEmail := map[string]commands.CreatedInvitation{}
	var ids []string
	for _, inv := range res.Invitations {
		byEmail[domain.SHA256(inv.Email)] = inv
		ids = append(ids, inv.ID)
	}
	out := slices.Clone(want)
	for i, p := range out {
		switch d := p.(type) {
		case domain.InvitationCreated:
			inv := byEmail[domain.SHA256(d.Email)]
			d.InvitationID, d.TokenSHA256 = inv.ID, domain.SHA256(inv.Token)
			out[i] = d
		case domain.EmailReserved:
			d.InvitationID = byEmail[d.EmailSHA256].ID
			out[i] = d
		case domain.IdempotencyRecorded:
			d.InvitationIDs = ids
			out[i] = d
		}
	}
	return out
}

const week = 7 * 24 * time.Hour

// creating is a create's events for email as admin decides them; the id and
// token hash are drawn (see drawnByCreate).
func creating(email string, role domain.Role) []domain.Payload {
	return []domain.Payload{
		domain.InvitationCreated{OrganizationID: org, Email: email, Role: role, ExpiresAt: now.Add(week), Actor: admin},
		domain.EmailReserved{OrganizationID: org, EmailSHA256: domain.SHA256(email), Actor: admin},
	}
}

func invitationsOf(emails ...string) commands.CreateInvitations {
	return commands.CreateInvitations{OrganizationID: org, Emails: emails, Role: domain.RoleMember, ExpiresIn: week, Actor: admin}
}

// wantCreated checks the answer: the invitations in the order of the
// emails, pending, each with its own token.
func wantCreated(emails ...string) func(*testing.T, commands.CreateInvitationsResult) {
	return func(t *testing.T, res commands.CreateInvitationsResult) {
		t.Helper()
		if res.Replayed || res.Organization.ID != org || len(res.Invitations) != len(emails) {
			t.Fatalf("answer %+v; want %d new invitations in %s", res, len(emails), org)
		}
		tokens := map[string]bool{}
		for i, inv := range res.Invitations {
			if inv.Email != emails[i] || inv.StatusAt(now) != domain.StatusPending || inv.ID == "" || len(inv.Token) != 43 || tokens[inv.Token] {
				t.Fatalf("invitation %d: %+v; want a pending one for %s with a fresh token", i, inv, emails[i])
			}
			tokens[inv.Token] = true
		}
	}
}

func TestCreateInvitations(t *testing.T) {
	asAdmin := invitationsOf(adaEmail)
	asAdmin.Role = domain.RoleAdmin
	mayManage := asAdmin
	mayManage.MayManagePrivileged = true
	asOwner := asAdmin
	asOwner.Role = domain.RoleOwner
	withKey := invitationsOf(adaEmail)
	withKey.IdempotencyKey, withKey.RequestSHA256 = "key-1", domain.SHA256("request-1")

	run(t, createInvitations, drawnByCreate, []scenario[commands.CreateInvitations, commands.CreateInvitationsResult]{{
		name: "fresh emails: each created and its slot reserved", given: acme(), when: invitationsOf(adaEmail, bobEmail),
		then:   history(creating(adaEmail, domain.RoleMember), creating(bobEmail, domain.RoleMember)),
		result: wantCreated(adaEmail, bobEmail),
	}, {
		name: "unregistered organization", when: invitationsOf(adaEmail),
		err: domain.ErrOrganizationNotFound,
	}, {
		name: "one email pending: none created", given: history(acme(), pending("i1", bobEmail)), when: invitationsOf(adaEmail, bobEmail),
		err: domain.ErrInvitationAlreadyExists, fields: []string{"emails[1]"},
	}, {
		name: "a member's email", given: history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail)), when: invitationsOf(adaEmail),
		err: domain.ErrAlreadyMember, fields: []string{"emails[0]"},
	}, {
		name: "a removed member's email may be invited again", when: invitationsOf(adaEmail),
		given:  history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail), []domain.Payload{removed(ada, "i1")}),
		then:   creating(adaEmail, domain.RoleMember),
		result: wantCreated(adaEmail),
	}, {
		name: "an expired invitation frees its slot", given: history(acme(), expiredAt("i1", adaEmail)), when: invitationsOf(adaEmail),
		then:   creating(adaEmail, domain.RoleMember),
		result: wantCreated(adaEmail),
	}, {
		name: "a cancelled invitation frees its slot", when: invitationsOf(adaEmail),
		given:  history(acme(), pending("i1", adaEmail), []domain.Payload{cancelled("i1", admin)}),
		then:   creating(adaEmail, domain.RoleMember),
		result: wantCreated(adaEmail),
	}, {
		name: "admin role without the privilege", given: acme(), when: asAdmin,
		err: domain.ErrForbidden, fields: []string{"role"},
	}, {
		name: "owner role without the privilege", given: acme(), when: asOwner,
		err: domain.ErrForbidden, fields: []string{"role"},
	}, {
		name: "admin role with the privilege", given: acme(), when: mayManage,
		then:   creating(adaEmail, domain.RoleAdmin),
		result: wantCreated(adaEmail),
	}, {
		name: "with an idempotency key: the answer is recorded", given: acme(), when: withKey,
		then: history(creating(adaEmail, domain.RoleMember), []domain.Payload{domain.IdempotencyRecorded{OrganizationID: org,
			KeySHA256: domain.SHA256("key-1"), RequestSHA256: domain.SHA256("request-1"), Status: 201, Actor: admin}}),
		result: wantCreated(adaEmail),
	}})
}

func TestCreateInvitationsReplaysAnIdempotentRequest(t *testing.T) {
	h := newHarness(t, acme()...)
	cmd := invitationsOf(adaEmail, bobEmail)
	cmd.IdempotencyKey, cmd.RequestSHA256 = "key-1", domain.SHA256("request-1")
	first, err := createInvitations(h, cmd)
	if err != nil {
		t.Fatal(err)
	}
	h.settle()

	again, err := createInvitations(h, cmd)
	if err != nil {
		t.Fatal(err)
	}
	h.wantAppended()
	h.wantDone("create_invitations", "unchanged", 1)
	if !again.Replayed || len(again.Invitations) != 2 {
		t.Fatalf("repeat answered %+v; want the first answer replayed", again)
	}
	for i, inv := range again.Invitations {
		if inv.ID != first.Invitations[i].ID || inv.Email != first.Invitations[i].Email || inv.Token != "" {
			t.Fatalf("replayed invitation %d: %+v; want %s without its token", i, inv, first.Invitations[i].ID)
		}
	}

	other := cmd
	other.RequestSHA256 = domain.SHA256("request-2")
	_, err = createInvitations(h, other)
	wantErr(t, err, domain.ErrIdempotencyKeyReused)
	h.wantAppended()

	// A day later the key is forgotten: the same request creates anew,
	// once the first invitations have expired.
	h.clock = now.Add(domain.IdempotencyTTL + week)
	later, err := createInvitations(h, cmd)
	if err != nil || later.Replayed || len(later.Invitations) != 2 || later.Invitations[0].ID == first.Invitations[0].ID {
		t.Fatalf("after the key's lifetime: %+v, %v; want new invitations", later, err)
	}
	if n := len(h.appended()); n != 5 {
		t.Fatalf("after the key's lifetime %d events appended; want 2 invitations, 2 slots and the key", n)
	}
}
