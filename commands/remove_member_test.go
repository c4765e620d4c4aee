package commands_test

import (
	"testing"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
)

func TestRemoveMember(t *testing.T) {
	removeAda := commands.RemoveMember{OrganizationID: org, UserID: ada, Actor: admin}
	run(t, removeMember, nil, []scenario[commands.RemoveMember, nothing]{{
		name: "a member: removed", given: history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail)), when: removeAda,
		then: []domain.Payload{removed(ada, "i1")},
	}, {
		name: "never a member", given: acme(), when: removeAda,
		err: domain.ErrMemberNotFound,
	}, {
		name: "removed before", when: removeAda,
		given: history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail), []domain.Payload{removed(ada, "i1")}),
		err:   domain.ErrMemberNotFound,
	}, {
		name: "another organization's member", given: history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail)),
		when: commands.RemoveMember{OrganizationID: "other", UserID: ada, Actor: admin},
		err:  domain.ErrMemberNotFound,
	}})
}
