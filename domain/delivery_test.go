package domain_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// event is a recorded event with an id, as the delivery record needs.
type event struct {
	id string
	p  domain.Payload
}

func history(events ...event) domain.Invitation {
	var inv domain.Invitation
	for _, e := range events {
		inv.Apply(domain.NewEvent(e.id, now.Add(-time.Minute), e.p))
	}
	return inv
}

func TestDeliveryState(t *testing.T) {
	sealed := created
	sealed.TokenSealed = "age"
	skipped := created
	skipped.SkipEmail = true
	resent := domain.InvitationResent{OrganizationID: org, InvitationID: invID, TokenSHA256: "t2", TokenSealed: "age2",
		ExpiresAt: now.Add(time.Hour), Actor: "admin"}
	report := func(eventID string) domain.DeliveryReport {
		return domain.DeliveryReport{OrganizationID: org, InvitationID: invID, EventID: eventID, MessageID: "<m@x>", Attempts: 2, Reply: "250 ok"}
	}
	failure := report("e1")
	failure.Reply = "550 no such user"
	type want struct {
		status   domain.DeliveryStatus
		eventID  string
		attempts int
		err      string
		due      string // the event whose email is due, if any
	}
	for _, tc := range []struct {
		name  string
		given []event
		then  want
	}{
		{"no delivery key: no record", []event{{"e1", created}}, want{}},
		{"sealed: queued", []event{{"e1", sealed}}, want{status: domain.DeliveryQueued, eventID: "e1", due: "e1"}},
		{"send_email false: skipped", []event{{"e1", skipped}}, want{status: domain.DeliverySkipped, eventID: "e1"}},
		{"delivered", []event{{"e1", sealed}, {"d1", domain.InvitationDelivered{report("e1")}}},
			want{status: domain.DeliverySent, eventID: "e1", attempts: 2}},
		{"failed", []event{{"e1", sealed}, {"d1", domain.InvitationDeliveryFailed{failure}}},
			want{status: domain.DeliveryFailed, eventID: "e1", attempts: 2, err: "550 no such user"}},
		{"resent: the new token's email is due", []event{{"e1", sealed}, {"d1", domain.InvitationDelivered{report("e1")}}, {"e2", resent}},
			want{status: domain.DeliveryQueued, eventID: "e2", due: "e2"}},
		{"an old token's outcome changes nothing", []event{{"e1", sealed}, {"e2", resent}, {"d1", domain.InvitationDelivered{report("e1")}}},
			want{status: domain.DeliveryQueued, eventID: "e2", due: "e2"}},
		{"cancelled before its turn: skipped", []event{{"e1", sealed}, {"c", cancelled}}, want{status: domain.DeliverySkipped, eventID: "e1"}},
		{"accepted before its turn: skipped", []event{{"e1", sealed}, {"a", accepted}}, want{status: domain.DeliverySkipped, eventID: "e1"}},
		{"sent, then cancelled: still sent", []event{{"e1", sealed}, {"d1", domain.InvitationDelivered{report("e1")}}, {"c", cancelled}},
			want{status: domain.DeliverySent, eventID: "e1", attempts: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := history(tc.given...)
			got := want{status: inv.DeliveryAt(now), eventID: inv.DeliveryEventID, attempts: inv.DeliveryAttempts, err: inv.DeliveryError}
			for _, e := range tc.given {
				if inv.EmailDue(e.id, now) {
					got.due = e.id
				}
			}
			if got != tc.then {
				t.Errorf("got %+v, want %+v", got, tc.then)
			}
			if inv.Version != len(tc.given) {
				t.Errorf("version %d after %d events", inv.Version, len(tc.given))
			}
		})
	}
	// A queued email of an invitation past its expiry is not due, and says so.
	inv := history(event{"e1", sealed})
	if later := inv.ExpiresAt.Add(time.Second); inv.DeliveryAt(later) != domain.DeliverySkipped || inv.EmailDue("e1", later) {
		t.Errorf("past its expiry: %s, due %v", inv.DeliveryAt(later), inv.EmailDue("e1", later))
	}
}

func TestRecordDelivery(t *testing.T) {
	sealed := created
	sealed.TokenSealed = "age"
	r := domain.DeliveryReport{EventID: "e1", MessageID: "<m@x>", Attempts: 1, Reply: "250 2.0.0 queued"}
	recorded := r
	recorded.OrganizationID, recorded.InvitationID, recorded.Actor = org, invID, domain.SystemActor
	for _, tc := range []struct {
		name  string
		given []event
		sent  bool
		then  domain.Payload
		err   error
	}{
		{"sent", []event{{"e1", sealed}}, true, domain.InvitationDelivered{recorded}, nil},
		{"failed", []event{{"e1", sealed}}, false, domain.InvitationDeliveryFailed{recorded}, nil},
		{"recorded already: nothing", []event{{"e1", sealed}, {"d", domain.InvitationDelivered{recorded}}}, true, nil, nil},
		{"failed already: nothing", []event{{"e1", sealed}, {"d", domain.InvitationDeliveryFailed{recorded}}}, false, nil, nil},
		{"cancelled while it was sent: recorded", []event{{"e1", sealed}, {"c", cancelled}}, true, domain.InvitationDelivered{recorded}, nil},
		{"never created", nil, true, nil, domain.ErrInvitationNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := domain.RecordDelivery(history(tc.given...), r, tc.sent)
			if err != tc.err || !reflect.DeepEqual(got, tc.then) {
				t.Errorf("got %+v, %v; want %+v, %v", got, err, tc.then, tc.err)
			}
		})
	}
}

// A sealed token rides in the event without a new revision; one sealed for
// an email the event skips is not storable.
func TestDeliveryFieldsStored(t *testing.T) {
	sealed := created
	sealed.EmailSealed = &domain.Sealed{Generation: 1, Ciphertext: []byte("ct")}
	sealed.Email, sealed.TokenSealed, sealed.Locale = "", "age", "fr"
	e := domain.NewEvent("e1", now, sealed)
	raw, err := domain.MarshalCloudEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := domain.UnmarshalCloudEvent(raw)
	if err != nil || back.Revision != 2 || !reflect.DeepEqual(back.Data, sealed) {
		t.Fatalf("read back %+v, %v", back, err)
	}
	skip := sealed
	skip.SkipEmail = true
	if _, err := domain.MarshalCloudEvent(domain.NewEvent("e2", now, skip)); err == nil {
		t.Error("a token sealed for a skipped email was stored")
	}
	delivered := domain.InvitationDelivered{domain.DeliveryReport{OrganizationID: org, InvitationID: invID, EventID: "e1", Attempts: 1, Reply: "250", Actor: domain.SystemActor}}
	raw, err = domain.MarshalCloudEvent(domain.NewEvent("d1", now, delivered))
	if err != nil {
		t.Fatal(err)
	}
	if back, err := domain.UnmarshalCloudEvent(raw); err != nil || back.Type != domain.TypeInvitationDelivered || !reflect.DeepEqual(back.Data, delivered) {
		t.Fatalf("read back %+v, %v", back, err)
	}
}
