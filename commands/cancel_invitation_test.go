package commands_test

import (
	"testing"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
)

func cancelOf(id string) commands.CancelInvitation {
	return commands.CancelInvitation{OrganizationID: org, InvitationID: id, Actor: admin}
}

func TestCancelInvitation(t *testing.T) {
	mayManage := cancelOf("i1")
	mayManage.MayManagePrivileged = true
	run(t, cancelInvitation, nil, []scenario[commands.CancelInvitation, nothing]{{
		name: "pending: cancelled", given: history(acme(), pending("i1", adaEmail)), when: cancelOf("i1"),
		then: []domain.Payload{cancelled("i1", admin)},
	}, {
		name: "expired: cancelled", given: history(acme(), expiredAt("i1", adaEmail)), when: cancelOf("i1"),
		then: []domain.Payload{cancelled("i1", admin)},
	}, {
		name: "never created", given: acme(), when: cancelOf("i1"),
		err: domain.ErrInvitationNotFound,
	}, {
		name: "accepted", given: history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail)), when: cancelOf("i1"),
		err: domain.ErrInvitationAlreadyAccepted,
	}, {
		name: "cancelled before: nothing", given: history(acme(), pending("i1", adaEmail), []domain.Payload{cancelled("i1", "user-other")}),
		when: cancelOf("i1"),
	}, {
		name: "privileged without the privilege", given: history(acme(), privileged("i1", adaEmail)), when: cancelOf("i1"),
		err: domain.ErrForbidden,
	}, {
		name: "privileged with the privilege", given: history(acme(), privileged("i1", adaEmail)), when: mayManage,
		then: []domain.Payload{cancelled("i1", admin)},
	}})
}
