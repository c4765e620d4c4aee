package commands_test

import (
	"testing"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
)

func TestExpireInvitation(t *testing.T) {
	expireI1 := commands.ExpireInvitation{OrganizationID: org, InvitationID: "i1"}
	expired := domain.InvitationExpired{OrganizationID: org, InvitationID: "i1", Actor: domain.SystemActor}
	run(t, expireInvitation, nil, []scenario[commands.ExpireInvitation, nothing]{{
		name: "past its expiry: expired", given: history(acme(), expiredAt("i1", adaEmail)), when: expireI1,
		then: []domain.Payload{expired},
	}, {
		name: "not yet due: nothing", given: history(acme(), pending("i1", adaEmail)), when: expireI1,
	}, {
		name: "expiry recorded before: nothing", given: history(acme(), expiredAt("i1", adaEmail), []domain.Payload{expired}), when: expireI1,
	}, {
		name: "accepted: nothing", given: history(acme(), expiredAt("i1", adaEmail), joined("i1", ada, adaEmail)), when: expireI1,
	}, {
		name: "cancelled: nothing", given: history(acme(), expiredAt("i1", adaEmail), []domain.Payload{cancelled("i1", admin)}), when: expireI1,
	}, {
		name: "never created: nothing", given: acme(), when: expireI1,
	}})
}
