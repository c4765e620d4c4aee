package commands_test

import (
	"slices"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
)

func resendInvitation(h *harness, cmd commands.ResendInvitation) (commands.ResendInvitationResult, error) {
	return h.handlers.ResendInvitation.Handle(h.t.Context(), cmd)
}

func resendOf(id string) commands.ResendInvitation {
	return commands.ResendInvitation{OrganizationID: org, InvitationID: id, ExpiresIn: 2 * 24 * time.Hour, Actor: admin}
}

// resending is a resend's events for invitation id of email; the token
// hash is drawn (see drawnByResend).
func resending(id, email string) []domain.Payload {
	return []domain.Payload{
		domain.InvitationResent{OrganizationID: org, InvitationID: id, ExpiresAt: now.Add(2 * 24 * time.Hour), Actor: admin},
		slot(email, id, admin),
	}
}

// drawnByResend fills in the hash of the new token the answer gives.
func drawnByResend(res commands.ResendInvitationResult, want []domain.Payload) []domain.Payload {
	out := slices.Clone(want)
	for i, p := range out {
		if d, ok := p.(domain.InvitationResent); ok {
			d.TokenSHA256 = domain.SHA256(res.Invitation.Token)
			out[i] = d
		}
	}
	return out
}

// wantResent checks the answer: the invitation pending again under a new token.
func wantResent(id string) func(*testing.T, commands.ResendInvitationResult) {
	return func(t *testing.T, res commands.ResendInvitationResult) {
		t.Helper()
		inv := res.Invitation
		if res.Organization.ID != org || inv.ID != id || inv.StatusAt(now) != domain.StatusPending ||
			len(inv.Token) != 43 || inv.Token == tokenOf(id) || inv.TokenSHA256 != domain.SHA256(inv.Token) {
			t.Fatalf("answer %+v; want %s pending under a new token", res, id)
		}
	}
}

func TestResendInvitation(t *testing.T) {
	mayManage := resendOf("i1")
	mayManage.MayManagePrivileged = true
	run(t, resendInvitation, drawnByResend, []scenario[commands.ResendInvitation, commands.ResendInvitationResult]{{
		name: "pending: a new token and expiry, the slot taken again", given: history(acme(), pending("i1", adaEmail)), when: resendOf("i1"),
		then: resending("i1", adaEmail), result: wantResent("i1"),
	}, {
		name: "expired: pending again", given: history(acme(), expiredAt("i1", adaEmail)), when: resendOf("i1"),
		then: resending("i1", adaEmail), result: wantResent("i1"),
	}, {
		name: "expired, its email since invited again", given: history(acme(), expiredAt("i1", adaEmail), pending("i2", adaEmail)),
		when: resendOf("i1"), err: domain.ErrInvitationAlreadyExists,
	}, {
		name: "expired, its email since a member through another", when: resendOf("i1"),
		given: history(acme(), expiredAt("i1", adaEmail), pending("i2", adaEmail), joined("i2", ada, adaEmail)),
		err:   domain.ErrAlreadyMember,
	}, {
		name: "never created", given: acme(), when: resendOf("i1"),
		err: domain.ErrInvitationNotFound,
	}, {
		name: "accepted", given: history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail)), when: resendOf("i1"),
		err: domain.ErrInvitationAlreadyAccepted,
	}, {
		name: "cancelled", given: history(acme(), pending("i1", adaEmail), []domain.Payload{cancelled("i1", admin)}), when: resendOf("i1"),
		err: domain.ErrInvitationCancelled,
	}, {
		name: "privileged without the privilege", given: history(acme(), privileged("i1", adaEmail)), when: resendOf("i1"),
		err: domain.ErrForbidden,
	}, {
		name: "privileged with the privilege", given: history(acme(), privileged("i1", adaEmail)), when: mayManage,
		then: resending("i1", adaEmail), result: wantResent("i1"),
	}})
}

// A resend rotates the token: the old one no longer accepts, the new one does.
func TestResendInvitationRotatesTheToken(t *testing.T) {
	h := newHarness(t, history(acme(), pending("i1", adaEmail))...)
	res, err := resendInvitation(h, resendOf("i1"))
	if err != nil {
		t.Fatal(err)
	}
	h.wantAppended(drawnByResend(res, resending("i1", adaEmail))...)
	h.wantVisible()
	h.settle()

	_, err = acceptInvitation(h, acceptByToken(tokenOf("i1"), adaCaller))
	wantErr(t, err, domain.ErrInvitationNotFound)
	h.wantAppended()

	if _, err := acceptInvitation(h, acceptByToken(res.Invitation.Token, adaCaller)); err != nil {
		t.Fatalf("accept by the new token: %v", err)
	}
	h.wantAppended(joined("i1", ada, adaEmail)...)
}
