package httpapi

import (
	"net/http"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/auth"
)

func (s *server) putOrganization(w http.ResponseWriter, r *http.Request) error {
	p, org, err := s.authorize(r, auth.PermOrgAdmin)
	if err != nil {
		return err
	}
	cond, err := preconditionOf(r)
	if err != nil {
		return err
	}
	var body struct {
		Name *string `json:"name"`
	}
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if body.Name == nil {
		return invalid("name is required.", "name")
	}
	name, ok := domain.NormalizeName(*body.Name)
	if !ok {
		return domain.ErrInvalidName
	}
	state, created, err := s.Commands.RegisterOrganization(r.Context(), commands.RegisterOrganization{OrganizationID: org, Name: name, Actor: p.Subject, Precondition: cond})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("ETag", entityTag(domain.OrganizationTag(state.Version)))
	writeJSON(w, status, newOrganizationResource(state.ID, state.Name, state.CreatedAt))
	return nil
}

func (s *server) getOrganization(w http.ResponseWriter, r *http.Request) error {
	_, org, err := s.authorize(r, auth.PermOrgRead)
	if err != nil {
		return err
	}
	o, err := s.registered(r, org)
	if err != nil {
		return err
	}
	return answerTagged(w, r, domain.OrganizationTag(o.Version), newOrganizationResource(o.ID, o.Name, o.CreatedAt))
}
