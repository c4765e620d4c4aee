package commands_test

import (
	"testing"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
)

// ifMatch and ifNoneMatch are the preconditions of requests naming tags
// ("*" any state that exists).
func ifMatch(tags ...string) domain.Precondition {
	return domain.Precondition{IfMatch: tagsOf(tags)}
}

func ifNoneMatch(tags ...string) domain.Precondition {
	return domain.Precondition{IfNoneMatch: tagsOf(tags)}
}

func tagsOf(tags []string) domain.Tags {
	if len(tags) == 1 && tags[0] == "*" {
		return domain.Tags{Given: true, Any: true}
	}
	return domain.Tags{Given: true, List: tags}
}

// Each command that takes a precondition checks it on the state it decides
// on, after the answers that come before it (not found, forbidden), and
// writes nothing when it fails.
func TestPreconditions(t *testing.T) {
	t.Run("register or rename", func(t *testing.T) {
		register := func(p domain.Precondition) commands.RegisterOrganization {
			return commands.RegisterOrganization{OrganizationID: org, Name: "Acme Corp", Actor: admin, Precondition: p}
		}
		renamed := []domain.Payload{domain.OrganizationRenamed{OrganizationID: org, Name: "Acme Corp", Actor: admin}}
		registered := []domain.Payload{domain.OrganizationRegistered{OrganizationID: org, Name: "Acme Corp", Actor: admin}}
		run(t, registerOrganization, nil, []scenario[commands.RegisterOrganization, registration]{
			{name: "If-Match the version: renamed", given: acme(), when: register(ifMatch("v1")), then: renamed},
			{name: "If-Match one of the tags: renamed", given: acme(), when: register(ifMatch("v9", "v1")), then: renamed},
			{name: "If-Match another version: refused", given: acme(), when: register(ifMatch("v2")), err: domain.ErrPreconditionFailed},
			{name: "If-Match * when registered: renamed", given: acme(), when: register(ifMatch("*")), then: renamed},
			{name: "If-Match * when not registered: refused", when: register(ifMatch("*")), err: domain.ErrPreconditionFailed},
			{name: "If-Match a version when not registered: refused", when: register(ifMatch("v1")), err: domain.ErrPreconditionFailed},
			{name: "If-None-Match * when not registered: registered", when: register(ifNoneMatch("*")), then: registered},
			{name: "If-None-Match * when registered: refused", given: acme(), when: register(ifNoneMatch("*")), err: domain.ErrPreconditionFailed},
			{name: "If-None-Match the version: refused", given: acme(), when: register(ifNoneMatch("v1")), err: domain.ErrPreconditionFailed},
			{name: "If-None-Match another version: renamed", given: acme(), when: register(ifNoneMatch("v7")), then: renamed},
		})
	})
	t.Run("cancel", func(t *testing.T) {
		cancel := func(id string, p domain.Precondition) commands.CancelInvitation {
			c := cancelOf(id)
			c.Precondition = p
			return c
		}
		renamedAcme := []domain.Payload{domain.OrganizationRenamed{OrganizationID: org, Name: "Acme 2", Actor: admin}}
		run(t, cancelInvitation, nil, []scenario[commands.CancelInvitation, nothing]{
			{name: "If-Match the tag: cancelled", given: history(acme(), pending("i1", adaEmail)),
				when: cancel("i1", ifMatch("v1.1")), then: []domain.Payload{cancelled("i1", admin)}},
			{name: "If-Match the tag before a resend: refused", given: history(acme(), pending("i1", adaEmail), resending("i1", adaEmail)),
				when: cancel("i1", ifMatch("v1.1")), err: domain.ErrPreconditionFailed},
			{name: "If-Match the tag before the organization's rename: refused", given: history(acme(), pending("i1", adaEmail), renamedAcme),
				when: cancel("i1", ifMatch("v1.1")), err: domain.ErrPreconditionFailed},
			{name: "If-Match the tag after the organization's rename: cancelled", given: history(acme(), pending("i1", adaEmail), renamedAcme),
				when: cancel("i1", ifMatch("v1.2")), then: []domain.Payload{cancelled("i1", admin)}},
			{name: "If-Match the tag once past its expiry: refused", given: history(acme(), expiredAt("i1", adaEmail)),
				when: cancel("i1", ifMatch("v1.1")), err: domain.ErrPreconditionFailed},
			{name: "If-Match the expired tag once past its expiry: cancelled", given: history(acme(), expiredAt("i1", adaEmail)),
				when: cancel("i1", ifMatch("v1.1-expired")), then: []domain.Payload{cancelled("i1", admin)}},
			{name: "If-Match an old tag of a cancelled invitation: refused", given: history(acme(), pending("i1", adaEmail), []domain.Payload{cancelled("i1", admin)}),
				when: cancel("i1", ifMatch("v1.1")), err: domain.ErrPreconditionFailed},
			{name: "If-None-Match the tag: refused", given: history(acme(), pending("i1", adaEmail)),
				when: cancel("i1", ifNoneMatch("v1.1")), err: domain.ErrPreconditionFailed},
			{name: "never created: not found whatever If-Match says", given: acme(),
				when: cancel("i1", ifMatch("v1.1")), err: domain.ErrInvitationNotFound},
			{name: "privileged without the privilege: forbidden whatever If-Match says", given: history(acme(), privileged("i1", adaEmail)),
				when: cancel("i1", ifMatch("v9.9")), err: domain.ErrForbidden},
		})
	})
	t.Run("resend", func(t *testing.T) {
		resend := func(p domain.Precondition) commands.ResendInvitation {
			r := resendOf("i1")
			r.Precondition = p
			return r
		}
		run(t, resendInvitation, drawnByResend, []scenario[commands.ResendInvitation, commands.ResendInvitationResult]{
			{name: "If-Match the tag: resent", given: history(acme(), pending("i1", adaEmail)),
				when: resend(ifMatch("v1.1")), then: resending("i1", adaEmail)},
			{name: "If-Match * : resent", given: history(acme(), pending("i1", adaEmail)),
				when: resend(ifMatch("*")), then: resending("i1", adaEmail)},
			{name: "If-Match an old tag: refused", given: history(acme(), pending("i1", adaEmail), resending("i1", adaEmail)),
				when: resend(ifMatch("v1.1")), err: domain.ErrPreconditionFailed},
			{name: "never created: not found whatever If-Match says", given: acme(),
				when: resend(ifMatch("v1.1")), err: domain.ErrInvitationNotFound},
		})
	})
	t.Run("remove a member", func(t *testing.T) {
		remove := func(p domain.Precondition) commands.RemoveMember {
			return commands.RemoveMember{OrganizationID: org, UserID: ada, Actor: admin, Precondition: p}
		}
		member := history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail))
		rejoined := history(member, []domain.Payload{removed(ada, "i1")}, pending("i2", adaEmail), joined("i2", ada, adaEmail))
		run(t, removeMember, nil, []scenario[commands.RemoveMember, nothing]{
			{name: "If-Match the membership: removed", given: member, when: remove(ifMatch("i1")), then: []domain.Payload{removed(ada, "i1")}},
			{name: "If-Match the membership before: refused", given: rejoined, when: remove(ifMatch("i1")), err: domain.ErrPreconditionFailed},
			{name: "If-Match the membership after: removed", given: rejoined, when: remove(ifMatch("i2")), then: []domain.Payload{removed(ada, "i2")}},
			{name: "not a member: not found whatever If-Match says", given: acme(), when: remove(ifMatch("*")), err: domain.ErrMemberNotFound},
		})
	})
}

// The check is atomic with the write: a rival that changes the invitation
// after the check passed makes the append lose its race, and the command,
// deciding again, refuses.
func TestPreconditionRecheckedAfterALostRace(t *testing.T) {
	h := newHarness(t, history(acme(), pending("i1", adaEmail))...)
	h.store.rival = resending("i1", adaEmail)
	cmd := cancelOf("i1")
	cmd.Precondition = ifMatch("v1.1")
	_, err := cancelInvitation(h, cmd)
	wantErr(t, err, domain.ErrPreconditionFailed)
	if h.store.conflicts != 1 {
		t.Fatalf("%d appends lost a race; want the first", h.store.conflicts)
	}
	h.wantAppended(resending("i1", adaEmail)...) // the rival's, nothing of the cancel
	h.wantDone("cancel_invitation", "refused", 2)
}
