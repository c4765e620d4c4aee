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

// What a revision stores is checked both ways: no address in clear in a
// revision 2 event, no event appended unsealed, none read in the wrong form.
func TestRevisionForms(t *testing.T) {
	base := domain.InvitationCreated{OrganizationID: "acme", InvitationID: "i1", EmailHMAC: "h", Role: domain.RoleMember, Actor: "u1"}
	legacy := domain.InvitationCreated{OrganizationID: "acme", InvitationID: "i1", Email: "ada@example.com", Role: domain.RoleMember, Actor: "u1"}
	unsealed, clearBeside, sealed := base, base, base
	unsealed.Email, unsealed.EmailSealed = "ada@example.com", &domain.Sealed{Generation: 1}
	clearBeside.Email, clearBeside.EmailSealed = "ada@example.com", &domain.Sealed{Generation: 1, Ciphertext: []byte("ct")}
	sealed.EmailSealed = &domain.Sealed{Generation: 1, Ciphertext: []byte("ct")}
	for _, p := range []domain.Payload{unsealed, clearBeside, domain.EmailReserved{OrganizationID: "acme", InvitationID: "i1"}} {
		if data, err := domain.MarshalCloudEvent(domain.NewEvent("e", time.Now(), p)); err == nil {
			t.Errorf("stored %s", data)
		}
	}
	for p, revision := range map[domain.Payload]int{legacy: 1, sealed: 2,
		domain.EmailReserved{OrganizationID: "acme", EmailSHA256: "s", InvitationID: "i1"}: 1,
		domain.EmailReserved{OrganizationID: "acme", EmailHMAC: "h", InvitationID: "i1"}:   2} {
		e := domain.NewEvent("e", time.Now(), p)
		if e.Revision != revision {
			t.Errorf("%+v: revision %d, want %d", p, e.Revision, revision)
		}
		if _, err := domain.MarshalCloudEvent(e); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	for _, raw := range []string{
		`{"specversion":"1.0","id":"x","type":"invitation.created","revision":2,"data":{"organization_id":"acme","invitation_id":"i1","email":"ada@example.com"}}`,
		`{"specversion":"1.0","id":"x","type":"invitation.created","revision":1,"data":{"organization_id":"acme","invitation_id":"i1","email_hmac":"h","email_sealed":{"generation":1,"ciphertext":"Y3Q="}}}`,
		`{"specversion":"1.0","id":"x","type":"email.reserved","revision":2,"data":{"organization_id":"acme","invitation_id":"i1","email_sha256":"s"}}`,
	} {
		if e, err := domain.UnmarshalCloudEvent([]byte(raw)); err == nil {
			t.Errorf("read %s as %+v", raw, e)
		}
	}
}
