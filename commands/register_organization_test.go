package commands_test

import (
	"testing"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
)

// registration is RegisterOrganization's answer.
type registration struct {
	org     domain.Organization
	created bool
}

func registerOrganization(h *harness, cmd commands.RegisterOrganization) (registration, error) {
	org, created, err := h.handlers.RegisterOrganization.Handle(h.t.Context(), cmd)
	return registration{org, created}, err
}

func wantRegistration(name string, created bool) func(*testing.T, registration) {
	return func(t *testing.T, r registration) {
		t.Helper()
		if r.created != created || r.org.ID != org || r.org.Name != name || !r.org.Registered() {
			t.Fatalf("answer %+v; want %s named %q, created %v", r, org, name, created)
		}
	}
}

func TestRegisterOrganization(t *testing.T) {
	register := commands.RegisterOrganization{OrganizationID: org, Name: "Acme", Actor: admin}
	rename := commands.RegisterOrganization{OrganizationID: org, Name: "Acme Corp", Actor: "user-owner"}
	run(t, registerOrganization, nil, []scenario[commands.RegisterOrganization, registration]{{
		name: "new: registered", when: register,
		then:   []domain.Payload{domain.OrganizationRegistered{OrganizationID: org, Name: "Acme", Actor: admin}},
		result: wantRegistration("Acme", true),
	}, {
		name: "same name: nothing", given: acme(), when: register,
		result: wantRegistration("Acme", false),
	}, {
		name: "other name: renamed", given: acme(), when: rename,
		then:   []domain.Payload{domain.OrganizationRenamed{OrganizationID: org, Name: "Acme Corp", Actor: "user-owner"}},
		result: wantRegistration("Acme Corp", false),
	}})
}
