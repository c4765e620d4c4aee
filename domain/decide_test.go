package domain_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

var now = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

const org, invID = "acme", "inv-1"

// given folds events into an invitation, as the store would load it.
func given(events ...domain.Payload) domain.Invitation {
	var inv domain.Invitation
	for _, p := range events {
		inv.Apply(domain.NewEvent("", now.Add(-time.Hour), p))
	}
	return inv
}

var (
	created   = domain.InvitationCreated{OrganizationID: org, InvitationID: invID, Email: "ada@example.com", Role: domain.RoleMember, TokenSHA256: "t1", ExpiresAt: now.Add(time.Hour), Actor: "admin"}
	accepted  = domain.InvitationAccepted{OrganizationID: org, InvitationID: invID, UserID: "user-42", Actor: "user-42"}
	cancelled = domain.InvitationCancelled{OrganizationID: org, InvitationID: invID, Actor: "admin"}
	ada       = domain.Caller{UserID: "user-42", Email: "ADA@example.com"}
	f         = false
)

func TestAccept(t *testing.T) {
	pastExpiry := created
	pastExpiry.ExpiresAt = now.Add(-time.Minute)
	member := domain.Membership{Active: true, UserID: "user-42", InvitationID: "other"}
	tests := []struct {
		name   string
		given  domain.Invitation
		member domain.Membership
		caller domain.Caller
		then   []domain.Payload
		err    error
	}{
		{"pending: accepted and a membership", given(created), domain.Membership{}, ada, []domain.Payload{
			domain.InvitationAccepted{OrganizationID: org, InvitationID: invID, UserID: "user-42", Actor: "user-42"},
			domain.MembershipAdded{OrganizationID: org, UserID: "user-42", Email: "ada@example.com", Role: domain.RoleMember, InvitationID: invID, Actor: "user-42"},
		}, nil},
		{"never created", domain.Invitation{}, domain.Membership{}, ada, nil, domain.ErrInvitationNotFound},
		{"other email", given(created), domain.Membership{}, domain.Caller{UserID: "u", Email: "eve@example.com"}, nil, domain.ErrEmailMismatch},
		{"email not verified", given(created), domain.Membership{}, domain.Caller{UserID: "u", Email: "ada@example.com", EmailVerified: &f}, nil, domain.ErrEmailMismatch},
		{"accepted by the caller: nothing", given(created, accepted), domain.Membership{}, ada, nil, nil},
		{"accepted by another", given(created, accepted), domain.Membership{}, domain.Caller{UserID: "user-7", Email: "ada@example.com"}, nil, domain.ErrInvitationAlreadyAccepted},
		{"cancelled", given(created, cancelled), domain.Membership{}, ada, nil, domain.ErrInvitationCancelled},
		{"expired", given(pastExpiry), domain.Membership{}, ada, nil, domain.ErrInvitationExpired},
		{"already a member", given(created), member, ada, nil, domain.ErrAlreadyMember},
		{"membership from this invitation proves acceptance", given(created), domain.Membership{Active: true, InvitationID: invID}, ada, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.Accept(tt.given, tt.member, tt.caller, now)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if !reflect.DeepEqual(got, tt.then) {
				t.Fatalf("events %#v, want %#v", got, tt.then)
			}
		})
	}
}

func TestCancelAndResend(t *testing.T) {
	expired := created
	expired.ExpiresAt = now.Add(-time.Minute)
	self := domain.Invitee{Email: "ada@example.com", Holder: given(created)}
	tests := []struct {
		name       string
		given      domain.Invitation
		slot       domain.Invitee
		cancelThen []domain.Payload
		cancelErr  error
		resendErr  error
	}{
		{"pending", given(created), self, []domain.Payload{cancelled}, nil, nil},
		{"expired", given(expired), domain.Invitee{Email: "ada@example.com", Holder: given(expired)}, []domain.Payload{cancelled}, nil, nil},
		{"accepted", given(created, accepted), self, nil, domain.ErrInvitationAlreadyAccepted, domain.ErrInvitationAlreadyAccepted},
		{"cancelled: cancel again writes nothing", given(created, cancelled), self, nil, nil, domain.ErrInvitationCancelled},
		{"never created", domain.Invitation{}, self, nil, domain.ErrInvitationNotFound, domain.ErrInvitationNotFound},
		{"slot taken by another pending invitation", given(expired), domain.Invitee{Email: "ada@example.com", Holder: given(domain.InvitationCreated{InvitationID: "inv-2", ExpiresAt: now.Add(time.Hour)})}, []domain.Payload{cancelled}, nil, domain.ErrInvitationAlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.Cancel(tt.given, "admin")
			if !errors.Is(err, tt.cancelErr) || (err == nil) != (tt.cancelErr == nil) || !reflect.DeepEqual(got, tt.cancelThen) {
				t.Fatalf("cancel: %v %v, want %v %v", got, err, tt.cancelThen, tt.cancelErr)
			}
			resent, err := domain.Resend(tt.given, tt.slot, "t2", now.Add(24*time.Hour), "admin", now)
			if !errors.Is(err, tt.resendErr) || (err == nil) != (tt.resendErr == nil) {
				t.Fatalf("resend error %v, want %v", err, tt.resendErr)
			}
			if err == nil {
				inv := tt.given
				for _, p := range resent {
					inv.Apply(domain.NewEvent("", now, p))
				}
				if inv.TokenSHA256 != "t2" || inv.StatusAt(now) != domain.StatusPending || len(resent) != 2 {
					t.Fatalf("after resend: %+v (%d events)", inv, len(resent))
				}
			}
		})
	}
}

func TestInvite(t *testing.T) {
	registered := domain.Organization{ID: org, Name: "Acme", Version: 1}
	pending := domain.Invitee{Email: "ada@example.com", Holder: given(created)}
	memberOf := domain.Invitee{Email: "ada@example.com", Holder: given(created, accepted),
		HolderMember: domain.Membership{Active: true, Email: "ada@example.com"}}
	removed := memberOf
	removed.HolderMember.Active = false
	free := domain.Invitee{Email: "bob@example.com"}
	news := func(n int) []domain.NewInvitation {
		out := make([]domain.NewInvitation, n)
		for i := range out {
			out[i] = domain.NewInvitation{InvitationID: string(rune('a' + i)), Email: "x@example.com", Role: domain.RoleMember, ExpiresAt: now.Add(time.Hour)}
		}
		return out
	}
	tests := []struct {
		name     string
		org      domain.Organization
		invitees []domain.Invitee
		events   int
		err      error
		fields   []string
	}{
		{"fresh emails: created and reserved", registered, []domain.Invitee{free, free}, 4, nil, nil},
		{"unregistered organization", domain.Organization{}, []domain.Invitee{free}, 0, domain.ErrOrganizationNotFound, nil},
		{"one pending: none created", registered, []domain.Invitee{free, pending}, 0, domain.ErrInvitationAlreadyExists, []string{"emails[1]"}},
		{"a member's email", registered, []domain.Invitee{memberOf, free}, 0, domain.ErrAlreadyMember, []string{"emails[0]"}},
		{"a removed member's email", registered, []domain.Invitee{removed}, 2, nil, nil},
		{"an expired holder frees the slot", registered, []domain.Invitee{{Email: "ada@example.com", Holder: given(func() domain.InvitationCreated { c := created; c.ExpiresAt = now; return c }())}}, 2, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.Invite(tt.org, tt.invitees, news(len(tt.invitees)), "admin", now)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				var many domain.Errors
				if !errors.As(err, &many) || !errors.Is(many[0], tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
			}
			if len(got) != tt.events {
				t.Fatalf("%d events, want %d", len(got), tt.events)
			}
			var many domain.Errors
			if tt.fields != nil && (!errors.As(err, &many) || !reflect.DeepEqual(many[0].Fields, tt.fields)) {
				t.Fatalf("error %v, want fields %v", err, tt.fields)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	for in, want := range map[string]bool{"36h": true, "3d": true, "1h": true, "30d": true, "59m": false, "31d": false, "721h": false, "-1d": false, "d": false, "": false, "3 d": false, "+3d": false} {
		if _, ok := domain.ParseExpiresIn(in); ok != want {
			t.Errorf("ParseExpiresIn(%q) ok=%v, want %v", in, ok, want)
		}
	}
	for in, want := range map[string]bool{"ada@example.com": true, "Ada <ada@example.com>": false, " ada@example.com": false, "ada@localhost": false, "ada": false, "@example.com": false} {
		if _, ok := domain.NormalizeEmail(in); ok != want {
			t.Errorf("NormalizeEmail(%q) ok=%v, want %v", in, ok, want)
		}
	}
	for in, want := range map[string]bool{"acme": true, "a": true, "0193-x_y": true, "-acme": false, "a.b": false, "": false, "a*": false} {
		if got := domain.ValidOrganizationID(in); got != want {
			t.Errorf("ValidOrganizationID(%q)=%v, want %v", in, got, want)
		}
	}
}

func TestCloudEventRoundTrip(t *testing.T) {
	e := domain.NewEvent("id-1", now, created)
	raw, err := domain.MarshalCloudEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := domain.UnmarshalCloudEvent(raw)
	if err != nil || !reflect.DeepEqual(back, e) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if _, err := domain.UnmarshalCloudEvent([]byte(`{"specversion":"1.0","id":"x","type":"invitation.exploded","revision":1,"data":{}}`)); !errors.Is(err, domain.ErrUnknownEvent) {
		t.Fatalf("unknown type decoded: %v", err)
	}
	if _, err := domain.UnmarshalCloudEvent([]byte(`{"specversion":"1.0","id":"x","type":"invitation.created","revision":2,"data":{}}`)); !errors.Is(err, domain.ErrUnknownEvent) {
		t.Fatalf("future revision decoded: %v", err)
	}
}

func TestExpire(t *testing.T) {
	past := created
	past.ExpiresAt = now.Add(-time.Second)
	expired := domain.InvitationExpired{OrganizationID: org, InvitationID: invID, Actor: domain.SystemActor}
	tests := []struct {
		name  string
		given domain.Invitation
		then  []domain.Payload
	}{
		{"past its expiry", given(past), []domain.Payload{expired}},
		{"not yet due", given(created), nil},
		{"already recorded", given(past, expired), nil},
		{"accepted", given(past, accepted), nil},
		{"cancelled", given(past, cancelled), nil},
		{"never created", domain.Invitation{}, nil},
	}
	for _, tt := range tests {
		if got := domain.Expire(tt.given, now); !reflect.DeepEqual(got, tt.then) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.then)
		}
	}
}
