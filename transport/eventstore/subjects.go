package eventstore

import (
	"strings"

	"github.com/invitesvc/invitesvc/domain"
)

// StreamName is the one stream holding every event.
const StreamName = "INVITATIONS"

// Subject prefixes, one per aggregate kind. Invitation events use the
// contract's invitations.<org>.<invitation>.<event>; the others never match
// invitations.*.*.*.
var prefixes = map[domain.StreamKind]string{
	domain.KindOrganization: "organizations",
	domain.KindInvitation:   "invitations",
	domain.KindMembership:   "members",
	domain.KindEmailSlot:    "emailslots",
	domain.KindIdempotency:  "idempotency",
	domain.KindWebhook:      "webhooks",
}

// StreamSubjects are the subjects the stream captures.
var StreamSubjects = []string{
	"organizations.*.*",
	"invitations.*.*.*",
	"members.*.*.*",
	"emailslots.*.*.*",
	"idempotency.*.*.*",
	"webhooks.*.*.*",
}

// aggregateSubject is the subject prefix of one aggregate; user ids can hold
// any byte, so they are hashed into a valid token.
func aggregateSubject(id domain.StreamID) string {
	p := prefixes[id.Kind] + "." + id.OrganizationID
	switch id.Kind {
	case domain.KindOrganization:
		return p
	case domain.KindMembership:
		return p + "." + domain.SHA256(id.Key)
	}
	return p + "." + id.Key
}

// Filter matches every event of one aggregate.
func Filter(id domain.StreamID) string { return aggregateSubject(id) + ".*" }

// Subject is where an event is published: its aggregate and the last word
// of its type ("invitation.accepted" -> ".accepted").
func Subject(e domain.Event) string {
	_, verb, _ := strings.Cut(e.Type, ".")
	return aggregateSubject(domain.StreamOf(e.Data)) + "." + verb
}

// OrganizationFilters match every event of one organization that belongs in
// its audit feed (guards excluded).
func OrganizationFilters(organizationID string) []string {
	return []string{
		"organizations." + organizationID + ".*",
		"invitations." + organizationID + ".*.*",
		"members." + organizationID + ".*.*",
	}
}

// The write probe's stream: where the service tests that the server can
// write, without writing into INVITATIONS (see internal/service).
const (
	ProbeStream   = "INVITESVC_PROBE"
	ProbeSubjects = "invitesvc.probe.*"
)
