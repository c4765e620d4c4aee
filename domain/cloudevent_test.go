package domain_test

import (
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/invitesvc/invitesvc/domain"
)

// Every event, read by the CloudEvents SDK downstream teams use, is a valid
// CloudEvent whose subject names its aggregate: the kind, plural, and its key.
func TestCloudEventSubjectNamesTheAggregate(t *testing.T) {
	const inv = "0193e0a4-5b6c-7d8e-9f00-112233445566"
	for _, c := range []struct {
		payload domain.Payload
		subject string
	}{
		{domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme", Actor: "u1"}, "organizations/acme"},
		{domain.OrganizationRenamed{OrganizationID: "acme", Name: "Acme Inc", Actor: "u1"}, "organizations/acme"},
		{domain.InvitationCreated{OrganizationID: "acme", InvitationID: inv, Email: "ada@example.com", Role: domain.RoleMember, TokenSHA256: "t", ExpiresAt: time.Now(), Actor: "u1"}, "invitations/" + inv},
		{domain.InvitationCancelled{OrganizationID: "acme", InvitationID: inv, Actor: "u1"}, "invitations/" + inv},
		{domain.MembershipAdded{OrganizationID: "acme", UserID: "u2", Email: "ada@example.com", Role: domain.RoleMember, InvitationID: inv, Actor: "u2"}, "members/u2"},
		{domain.EmailReserved{OrganizationID: "acme", EmailSHA256: "e5", InvitationID: inv, Actor: "u1"}, "email-slots/e5"},
	} {
		data, err := domain.MarshalCloudEvent(domain.NewEvent("ev-1", time.Now(), c.payload))
		if err != nil {
			t.Fatal(err)
		}
		var ce cloudevents.Event
		if err := ce.UnmarshalJSON(data); err != nil {
			t.Fatalf("%s: the CloudEvents SDK does not read it: %v\n%s", c.payload.EventType(), err, data)
		}
		if err := ce.Validate(); err != nil {
			t.Fatalf("%s: not a valid CloudEvent: %v", c.payload.EventType(), err)
		}
		if ce.Subject() != c.subject {
			t.Errorf("%s: subject %q, want %q", c.payload.EventType(), ce.Subject(), c.subject)
		}
		if ce.Source() != "/organizations/acme" || ce.Type() != c.payload.EventType() || ce.ID() != "ev-1" {
			t.Errorf("%s: source %q type %q id %q", c.payload.EventType(), ce.Source(), ce.Type(), ce.ID())
		}
	}
}
