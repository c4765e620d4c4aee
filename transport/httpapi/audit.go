package httpapi

import (
	"net/http"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// auditTypes are the event types of the audit feed (guard records excluded).
var auditTypes = map[string]bool{
	domain.TypeOrganizationRegistered: true, domain.TypeOrganizationRenamed: true,
	domain.TypeInvitationCreated: true, domain.TypeInvitationResent: true, domain.TypeInvitationAccepted: true,
	domain.TypeInvitationCancelled: true, domain.TypeInvitationExpired: true,
	domain.TypeMembershipAdded: true, domain.TypeMembershipRemoved: true,
	domain.TypeInvitationDelivered: true, domain.TypeInvitationDeliveryFailed: true,
}

func (s *server) organizationEvents(w http.ResponseWriter, r *http.Request) error {
	_, org, err := s.authorize(r, auth.PermOrgRead, auth.PermOrgUserRead)
	if err != nil {
		return err
	}
	q, err := queryParams(r)
	if err != nil {
		return err
	}
	eventType := q.Get("type")
	if q.Has("type") && !auditTypes[eventType] {
		return invalid("type must be an event type of the audit feed, such as invitation.accepted.", "type")
	}
	var since, until time.Time
	for name, dst := range map[string]*time.Time{"since": &since, "until": &until} {
		if !q.Has(name) {
			continue
		}
		if *dst, err = time.Parse(time.RFC3339, q.Get(name)); err != nil {
			return invalid(name+" must be an RFC 3339 time.", name)
		}
	}
	req, err := pageRequest(q)
	if err != nil {
		return err
	}
	if _, err := s.registered(r, org); err != nil {
		return err
	}
	all, err := s.Events.OrganizationEvents(r.Context(), org)
	if err != nil {
		return err
	}
	kept := all[:0]
	for _, e := range all {
		if (eventType == "" || e.Type == eventType) && (since.IsZero() || !e.Time.Before(since)) && (until.IsZero() || e.Time.Before(until)) {
			kept = append(kept, e)
		}
	}
	pos := func(e domain.Recorded) uint64 { return e.Sequence }
	page := projections.PageOfSlice(kept, pos, req)
	out := make([]eventResource, len(page.Items))
	for i, e := range page.Items {
		out[i] = newEventResource(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "links": pageLinks(r, page, pos)})
	return nil
}
