package httpapi

import (
	"net/http"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/auth"
)

func (s *server) listMembers(w http.ResponseWriter, r *http.Request) error {
	_, org, err := s.authorize(r, auth.PermOrgRead, auth.PermOrgUserRead)
	if err != nil {
		return err
	}
	q, err := queryParams(r)
	if err != nil {
		return err
	}
	req, err := pageRequest(q)
	if err != nil {
		return err
	}
	if _, err := s.registered(r, org); err != nil {
		return err
	}
	page, err := s.Queries.Members(r.Context(), org, req)
	if err != nil {
		return err
	}
	out := make([]memberResource, len(page.Items))
	for i, m := range page.Items {
		out[i] = newMemberResource(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"members": out,
		"links":   pageLinks(r, page, func(m projections.Member) uint64 { return m.Position }),
	})
	return nil
}

func (s *server) getMember(w http.ResponseWriter, r *http.Request) error {
	_, org, err := s.authorize(r, auth.PermOrgRead, auth.PermOrgUserRead)
	if err != nil {
		return err
	}
	user, err := userID(r)
	if err != nil {
		return err
	}
	if _, err := s.registered(r, org); err != nil {
		return err
	}
	m, found, err := s.Queries.Member(r.Context(), org, user)
	if err != nil {
		return err
	}
	if !found {
		return domain.ErrMemberNotFound
	}
	return answerTagged(w, r, domain.MembershipTag(m.InvitationID), newMemberResource(m))
}

func (s *server) removeMember(w http.ResponseWriter, r *http.Request) error {
	p, org, err := s.authorize(r, auth.PermOrgAdmin)
	if err != nil {
		return err
	}
	user, err := userID(r)
	if err != nil {
		return err
	}
	cond, err := preconditionOf(r)
	if err != nil {
		return err
	}
	if err := s.Commands.RemoveMember(r.Context(), commands.RemoveMember{OrganizationID: org, UserID: user, Actor: p.Subject, Precondition: cond}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
