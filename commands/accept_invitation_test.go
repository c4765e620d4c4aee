package commands_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
)

func acceptInvitation(h *harness, cmd commands.AcceptInvitation) (commands.AcceptInvitationResult, error) {
	return h.handlers.AcceptInvitation.Handle(h.t.Context(), cmd)
}

func acceptByID(id string, caller domain.Caller) commands.AcceptInvitation {
	return commands.AcceptInvitation{OrganizationID: org, InvitationID: id, Caller: caller}
}

func acceptByToken(token string, caller domain.Caller) commands.AcceptInvitation {
	return commands.AcceptInvitation{Token: token, Caller: caller}
}

// wantMember checks the answer: the caller's membership through id.
func wantMember(user, id string, active bool) func(*testing.T, commands.AcceptInvitationResult) {
	return func(t *testing.T, res commands.AcceptInvitationResult) {
		t.Helper()
		m := res.Membership
		if res.Organization.ID != org || m.OrganizationID != org || m.UserID != user || m.InvitationID != id ||
			m.Email != adaEmail || m.Role != domain.RoleMember || m.Active != active || m.JoinedAt.IsZero() {
			t.Fatalf("answer %+v; want %s a member through %s (active %v)", res, user, id, active)
		}
	}
}

func TestAcceptInvitation(t *testing.T) {
	unverified := false
	stranger := domain.Caller{UserID: "user-eve", Email: "eve@example.com"}
	tests := []scenario[commands.AcceptInvitation, commands.AcceptInvitationResult]{{
		name: "pending: accepted, and a membership", given: history(acme(), pending("i1", adaEmail)), when: acceptByID("i1", adaCaller),
		then: joined("i1", ada, adaEmail), result: wantMember(ada, "i1", true),
	}, {
		name: "never created", given: acme(), when: acceptByID("i1", adaCaller),
		err: domain.ErrInvitationNotFound,
	}, {
		name: "another email", given: history(acme(), pending("i1", adaEmail)), when: acceptByID("i1", stranger),
		err: domain.ErrEmailMismatch,
	}, {
		name: "email not verified", given: history(acme(), pending("i1", adaEmail)),
		when: acceptByID("i1", domain.Caller{UserID: ada, Email: adaEmail, EmailVerified: &unverified}),
		err:  domain.ErrEmailMismatch,
	}, {
		name: "accepted by another user", given: history(acme(), pending("i1", adaEmail), joined("i1", bob, adaEmail)),
		when: acceptByID("i1", adaCaller), err: domain.ErrInvitationAlreadyAccepted,
	}, {
		name: "cancelled", given: history(acme(), pending("i1", adaEmail), []domain.Payload{cancelled("i1", admin)}),
		when: acceptByID("i1", adaCaller), err: domain.ErrInvitationCancelled,
	}, {
		name: "expired", given: history(acme(), expiredAt("i1", adaEmail)), when: acceptByID("i1", adaCaller),
		err: domain.ErrInvitationExpired,
	}, {
		name: "a member through another invitation", when: acceptByID("i2", adaCaller),
		given: history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail), pending("i2", adaEmail)),
		err:   domain.ErrAlreadyMember,
	}, {
		name: "accepted by the caller before: nothing", given: history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail)),
		when: acceptByID("i1", adaCaller), result: wantMember(ada, "i1", true),
	}, {
		name: "accepted by the caller, since removed: nothing, the old membership", when: acceptByID("i1", adaCaller),
		given:  history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail), []domain.Payload{removed(ada, "i1")}),
		result: wantMember(ada, "i1", false),
	}, {
		name: "by token: accepted", given: history(acme(), pending("i1", adaEmail)), when: acceptByToken(tokenOf("i1"), adaCaller),
		then: joined("i1", ada, adaEmail), result: wantMember(ada, "i1", true),
	}, {
		name: "by an unknown token", given: history(acme(), pending("i1", adaEmail)), when: acceptByToken("no-such-token", adaCaller),
		err: domain.ErrInvitationNotFound,
	}, {
		name: "by the token of a cancelled invitation: no credential", when: acceptByToken(tokenOf("i1"), adaCaller),
		given: history(acme(), pending("i1", adaEmail), []domain.Payload{cancelled("i1", admin)}),
		err:   domain.ErrInvitationNotFound,
	}, {
		name: "by a token rotated by a resend: no credential", when: acceptByToken(tokenOf("i1"), adaCaller),
		given: history(acme(), pending("i1", adaEmail), []domain.Payload{domain.InvitationResent{OrganizationID: org, InvitationID: "i1",
			TokenSHA256: domain.SHA256("token-2"), ExpiresAt: now.Add(week), Actor: admin}}),
		err: domain.ErrInvitationNotFound,
	}}
	run(t, acceptInvitation, nil, tests)
}

func TestAcceptInvitationByTokenWhenTheLookUpFails(t *testing.T) {
	h := newHarness(t, history(acme(), pending("i1", adaEmail))...)
	h.reads.lookupErr = fmt.Errorf("%w: token index", domain.ErrUnavailable)
	_, err := acceptInvitation(h, acceptByToken(tokenOf("i1"), adaCaller))
	wantErr(t, err, domain.ErrUnavailable)
	h.wantAppended()
}

func TestAcceptInvitationTwiceBySameUser(t *testing.T) {
	h := newHarness(t, history(acme(), pending("i1", adaEmail))...)
	first, err := acceptInvitation(h, acceptByToken(tokenOf("i1"), adaCaller))
	if err != nil {
		t.Fatal(err)
	}
	h.wantAppended(joined("i1", ada, adaEmail)...)
	h.settle()

	again, err := acceptInvitation(h, acceptByID("i1", adaCaller))
	if err != nil {
		t.Fatal(err)
	}
	h.wantAppended()
	h.wantDone("accept_invitation", "unchanged", 1)
	if again.Membership != first.Membership {
		t.Fatalf("second accept answered %+v; want the first membership %+v", again.Membership, first.Membership)
	}
}

// Many accepts of one invitation by its user at once: one writes, the
// others lose the race, retry and find it accepted by them.
func TestAcceptInvitationConcurrentlyBySameUser(t *testing.T) {
	h := newHarness(t, history(acme(), pending("i1", adaEmail))...)
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = acceptInvitation(h, acceptByID("i1", adaCaller)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	h.wantAppended(joined("i1", ada, adaEmail)...)
}
