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

// keyed stands for an address's keyed identifier, which the commands
// compute with the organization's HMAC key (transport/keystore): the
// deciders only compare them.
func keyed(email string) string { return "hmac-of-" + email }

// caller is a user whose token claims email, with the keyed identifier the
// commands compute: of the address NormalizeEmail gives, if any.
func caller(user, email string) domain.Caller {
	c := domain.Caller{UserID: user, Email: email}
	if normal, ok := domain.NormalizeEmail(email); ok {
		c.EmailHMAC = keyed(normal)
	}
	return c
}

// sealedAt is an address decided to be sealed under a key generation.
func sealedAt(generation int) *domain.Sealed { return &domain.Sealed{Generation: generation} }

var (
	created = domain.InvitationCreated{OrganizationID: org, InvitationID: invID, Email: "ada@example.com", EmailHMAC: keyed("ada@example.com"),
		EmailSealed: sealedAt(1), Role: domain.RoleMember, TokenSHA256: "t1", ExpiresAt: now.Add(time.Hour), Actor: "admin"}
	accepted  = domain.InvitationAccepted{OrganizationID: org, InvitationID: invID, UserID: "user-42", Actor: "user-42"}
	cancelled = domain.InvitationCancelled{OrganizationID: org, InvitationID: invID, Actor: "admin"}
	ada       = caller("user-42", "ADA@example.com")
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
		then   *domain.Acceptance
		err    error
	}{
		{"pending: accepted and a membership", given(created), domain.Membership{}, ada, &domain.Acceptance{
			Invitation: domain.InvitationAccepted{OrganizationID: org, InvitationID: invID, UserID: "user-42", Actor: "user-42"},
			Membership: domain.MembershipAdded{OrganizationID: org, UserID: "user-42", Email: "ada@example.com", EmailHMAC: keyed("ada@example.com"),
				EmailSealed: sealedAt(1), Role: domain.RoleMember, InvitationID: invID, Actor: "user-42"},
		}, nil},
		{"never created", domain.Invitation{}, domain.Membership{}, ada, nil, domain.ErrInvitationNotFound},
		{"other email", given(created), domain.Membership{}, caller("u", "eve@example.com"), nil, domain.ErrEmailMismatch},
		{"email not verified", given(created), domain.Membership{}, func() domain.Caller { c := caller("u", "ada@example.com"); c.EmailVerified = &f; return c }(), nil, domain.ErrEmailMismatch},
		{"accepted by the caller: nothing", given(created, accepted), domain.Membership{}, ada, nil, nil},
		{"accepted by another", given(created, accepted), domain.Membership{}, caller("user-7", "ada@example.com"), nil, domain.ErrInvitationAlreadyAccepted},
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

// An invitation is accepted only by a caller whose email claim is its
// address by NormalizeEmail, exactly: ASCII case aside, no lookalike.
func TestAcceptComparesNormalizedAddressesExactly(t *testing.T) {
	for _, l := range lookalikes {
		invited, ok := domain.NormalizeEmail(l.ascii)
		if !ok {
			t.Fatalf("%q refused", l.ascii)
		}
		inv := created
		inv.Email, inv.EmailHMAC = invited, keyed(invited)
		caller := caller("user-42", l.email)
		if got, err := domain.Accept(given(inv), domain.Membership{}, caller, now); !errors.Is(err, domain.ErrEmailMismatch) {
			t.Errorf("%s: %q accepted the invitation of %q: %+v, %v", l.name, l.email, invited, got, err)
		}
	}
	for _, claim := range []string{"KATE@Corp.Test", "kate@corp.test", "Kate@CORP.TEST"} {
		inv := created
		inv.Email, inv.EmailHMAC = "kate@corp.test", keyed("kate@corp.test")
		if got, err := domain.Accept(given(inv), domain.Membership{}, caller("user-42", claim), now); err != nil || got == nil {
			t.Errorf("%q did not accept kate@corp.test's invitation: %v", claim, err)
		}
	}
	// An internationalized address: the claim in any canonically equivalent
	// form, its domain as U-label or A-label.
	inv := created
	inv.Email = "j\u00f6rg@xn--bcher-kva.example"
	inv.EmailHMAC = keyed(inv.Email)
	for _, claim := range []string{"J\u00f6rg@b\u00fccher.example", "jo\u0308rg@XN--BCHER-KVA.example"} {
		if got, err := domain.Accept(given(inv), domain.Membership{}, caller("user-42", claim), now); err != nil || got == nil {
			t.Errorf("%q did not accept %q's invitation: %v", claim, inv.Email, err)
		}
	}
	for _, claim := range []string{"J\u00d6RG@b\u00fccher.example", ""} {
		if _, err := domain.Accept(given(inv), domain.Membership{}, caller("user-42", claim), now); !errors.Is(err, domain.ErrEmailMismatch) {
			t.Errorf("%q accepted %q's invitation: %v", claim, inv.Email, err)
		}
	}
}

func TestCancelAndResend(t *testing.T) {
	expired := created
	expired.ExpiresAt = now.Add(-time.Minute)
	self := domain.Invitee{EmailHMAC: keyed("ada@example.com"), KeyGeneration: 1, Holder: given(created)}
	tests := []struct {
		name       string
		given      domain.Invitation
		slot       domain.Invitee
		cancelThen *domain.InvitationCancelled
		cancelErr  error
		resendErr  error
	}{
		{"pending", given(created), self, &cancelled, nil, nil},
		{"expired", given(expired), domain.Invitee{EmailHMAC: keyed("ada@example.com"), KeyGeneration: 1, Holder: given(expired)}, &cancelled, nil, nil},
		{"accepted", given(created, accepted), self, nil, domain.ErrInvitationAlreadyAccepted, domain.ErrInvitationAlreadyAccepted},
		{"cancelled: cancel again writes nothing", given(created, cancelled), self, nil, nil, domain.ErrInvitationCancelled},
		{"never created", domain.Invitation{}, self, nil, domain.ErrInvitationNotFound, domain.ErrInvitationNotFound},
		{"slot taken by another pending invitation", given(expired), domain.Invitee{EmailHMAC: keyed("ada@example.com"), KeyGeneration: 1, Holder: given(domain.InvitationCreated{InvitationID: "inv-2", ExpiresAt: now.Add(time.Hour)})}, &cancelled, nil, domain.ErrInvitationAlreadyExists},
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
				wantSlot := domain.EmailReserved{OrganizationID: org, EmailHMAC: keyed("ada@example.com"), InvitationID: invID, Actor: "admin"}
				if resent.Slot != wantSlot {
					t.Fatalf("slot's event %+v, want %+v", resent.Slot, wantSlot)
				}
				inv := tt.given
				inv.Apply(domain.NewEvent("", now, resent.Invitation))
				if inv.TokenSHA256 != "t2" || inv.StatusAt(now) != domain.StatusPending || !inv.ExpiresAt.Equal(now.Add(24*time.Hour)) {
					t.Fatalf("after resend: %+v", inv)
				}
			}
		})
	}
}

func TestInvite(t *testing.T) {
	registered := domain.Organization{ID: org, Name: "Acme", Version: 1}
	pending := domain.Invitee{EmailHMAC: keyed("ada@example.com"), KeyGeneration: 1, Holder: given(created)}
	memberOf := domain.Invitee{EmailHMAC: keyed("ada@example.com"), KeyGeneration: 1, Holder: given(created, accepted),
		HolderMember: domain.Membership{Active: true, Email: "ada@example.com", EmailHMAC: keyed("ada@example.com")}}
	removed := memberOf
	removed.HolderMember.Active = false
	free := domain.Invitee{EmailHMAC: keyed("bob@example.com"), KeyGeneration: 1}
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
		invited  int
		err      error
		fields   []string
	}{
		{"fresh emails: created and reserved", registered, []domain.Invitee{free, free}, 2, nil, nil},
		{"unregistered organization", domain.Organization{}, []domain.Invitee{free}, 0, domain.ErrOrganizationNotFound, nil},
		{"one pending: none created", registered, []domain.Invitee{free, pending}, 0, domain.ErrInvitationAlreadyExists, []string{"emails[1]"}},
		{"a member's email", registered, []domain.Invitee{memberOf, free}, 0, domain.ErrAlreadyMember, []string{"emails[0]"}},
		{"a removed member's email", registered, []domain.Invitee{removed}, 1, nil, nil},
		{"an expired holder frees the slot", registered, []domain.Invitee{{EmailHMAC: keyed("ada@example.com"), KeyGeneration: 1, Holder: given(func() domain.InvitationCreated { c := created; c.ExpiresAt = now; return c }())}}, 1, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked := news(len(tt.invitees))
			got, err := domain.Invite(tt.org, tt.invitees, asked, "admin", now)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				var many domain.Errors
				if !errors.As(err, &many) || !errors.Is(many[0], tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
			}
			if len(got) != tt.invited {
				t.Fatalf("%d invited, want %d", len(got), tt.invited)
			}
			for i, d := range got {
				n, in := asked[i], tt.invitees[i]
				want := domain.Invited{
					Invitation: domain.InvitationCreated{OrganizationID: org, InvitationID: n.InvitationID, Email: n.Email, EmailHMAC: in.EmailHMAC,
						EmailSealed: sealedAt(in.KeyGeneration), Role: n.Role, ExpiresAt: n.ExpiresAt, Actor: "admin"},
					Slot: domain.EmailReserved{OrganizationID: org, EmailHMAC: in.EmailHMAC, InvitationID: n.InvitationID, Actor: "admin"},
				}
				if !reflect.DeepEqual(d, want) {
					t.Fatalf("invited[%d] = %+v, want %+v", i, d, want)
				}
			}
			var many domain.Errors
			if tt.fields != nil && (!errors.As(err, &many) || !reflect.DeepEqual(many[0].Fields, tt.fields)) {
				t.Fatalf("error %v, want fields %v", err, tt.fields)
			}
		})
	}
}

// Whichever layer asks, only what NormalizeEmail gives is stored and keys
// an email slot.
func TestInviteRefusesAddressesNotNormalized(t *testing.T) {
	registered := domain.Organization{ID: org, Name: "Acme", Version: 1}
	emails := []string{"Ada@example.com", "bob@example.com", "\u212aate@corp.test", "jo\u0308rg@x.test"}
	invitees := make([]domain.Invitee, len(emails))
	news := make([]domain.NewInvitation, len(emails))
	for i, e := range emails {
		invitees[i] = domain.Invitee{EmailHMAC: keyed(e), KeyGeneration: 1}
		news[i] = domain.NewInvitation{InvitationID: string(rune('a' + i)), Email: e, Role: domain.RoleMember, ExpiresAt: now.Add(time.Hour)}
	}
	got, err := domain.Invite(registered, invitees, news, "admin", now)
	var many domain.Errors
	if got != nil || !errors.As(err, &many) || len(many) != 1 || !errors.Is(many[0], domain.ErrInvalidEmail) ||
		!reflect.DeepEqual(many[0].Fields, []string{"emails[0]", "emails[2]", "emails[3]"}) {
		t.Fatalf("invited %+v, %v; want emails[0], emails[2] and emails[3] refused", got, err)
	}
}

func TestParseExpiresIn(t *testing.T) {
	for in, want := range map[string]bool{"36h": true, "3d": true, "1h": true, "30d": true, "59m": false, "31d": false, "721h": false, "-1d": false, "d": false, "": false, "3 d": false, "+3d": false} {
		if _, ok := domain.ParseExpiresIn(in); ok != want {
			t.Errorf("ParseExpiresIn(%q) ok=%v, want %v", in, ok, want)
		}
	}
}

func TestCloudEventRoundTrip(t *testing.T) {
	c := created
	c.Email, c.EmailSealed = "", &domain.Sealed{Generation: 1, Ciphertext: []byte("sealed")}
	e := domain.NewEvent("id-1", now, c)
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
	if _, err := domain.UnmarshalCloudEvent([]byte(`{"specversion":"1.0","id":"x","type":"invitation.created","revision":3,"data":{}}`)); !errors.Is(err, domain.ErrUnknownEvent) {
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
		then  *domain.InvitationExpired
	}{
		{"past its expiry", given(past), &expired},
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

func TestRegisterOrganization(t *testing.T) {
	registered := domain.Organization{ID: org, Name: "Acme", Version: 1}
	tests := []struct {
		name      string
		given     domain.Organization
		id, title string
		then      domain.Registration
		err       error
	}{
		{"new: registered", domain.Organization{}, org, "Acme", domain.Registration{Registered: &domain.OrganizationRegistered{OrganizationID: org, Name: "Acme", Actor: "admin"}}, nil},
		{"same name: nothing", registered, org, "Acme", domain.Registration{}, nil},
		{"other name: renamed", domain.Organization{ID: org, Name: "Old", Version: 1}, org, "Acme", domain.Registration{Renamed: &domain.OrganizationRenamed{OrganizationID: org, Name: "Acme", Actor: "admin"}}, nil},
		{"a word the routes use", domain.Organization{}, "invitations", "Acme", domain.Registration{}, domain.ErrInvalidOrganizationID},
		{"an id no path can hold", domain.Organization{}, "a/b", "Acme", domain.Registration{}, domain.ErrInvalidOrganizationID},
		{"a name not normalized", domain.Organization{}, org, " Acme", domain.Registration{}, domain.ErrInvalidName},
		{"a name with a bidi override", registered, org, "Acme\u202e", domain.Registration{}, domain.ErrInvalidName},
	}
	for _, tt := range tests {
		got, err := domain.RegisterOrganization(tt.given, tt.id, tt.title, "admin")
		if !reflect.DeepEqual(got, tt.then) || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("%s: %+v, %v; want %+v, %v", tt.name, got, err, tt.then, tt.err)
		}
	}
	if !reflect.DeepEqual(domain.ErrInvalidOrganizationID.Fields, []string{"organization_id"}) || !reflect.DeepEqual(domain.ErrInvalidName.Fields, []string{"name"}) {
		t.Fatalf("fields %v, %v", domain.ErrInvalidOrganizationID.Fields, domain.ErrInvalidName.Fields)
	}
}

// The stream contract fixes the order of a decision's events: the
// invitation's first, then its slot's or its membership's.
func TestDecisionsListEventsInAppendOrder(t *testing.T) {
	slot := domain.EmailReserved{OrganizationID: org, InvitationID: invID}
	added := domain.MembershipAdded{OrganizationID: org, UserID: "user-42", InvitationID: invID}
	resent := domain.InvitationResent{OrganizationID: org, InvitationID: invID}
	registered := domain.OrganizationRegistered{OrganizationID: org}
	tests := []struct {
		name string
		got  []domain.Payload
		want []domain.Payload
	}{
		{"invited", domain.Invited{Invitation: created, Slot: slot}.Payloads(), []domain.Payload{created, slot}},
		{"acceptance", domain.Acceptance{Invitation: accepted, Membership: added}.Payloads(), []domain.Payload{accepted, added}},
		{"resent", domain.Resent{Invitation: resent, Slot: slot}.Payloads(), []domain.Payload{resent, slot}},
		{"registration", domain.Registration{Registered: &registered}.Payloads(), []domain.Payload{registered}},
		{"no registration", domain.Registration{}.Payloads(), nil},
		{"optional, decided", domain.Optional(&cancelled), []domain.Payload{cancelled}},
		{"optional, not decided", domain.Optional[domain.InvitationCancelled](nil), nil},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestRemoveMember(t *testing.T) {
	member := domain.Membership{OrganizationID: org, UserID: "user-42", InvitationID: invID, Active: true}
	got, err := domain.RemoveMember(member, "admin")
	want := domain.MembershipRemoved{OrganizationID: org, UserID: "user-42", InvitationID: invID, Actor: "admin"}
	if err != nil || got != want {
		t.Fatalf("remove a member: %+v, %v; want %+v", got, err, want)
	}
	member.Active = false
	if _, err := domain.RemoveMember(member, "admin"); !errors.Is(err, domain.ErrMemberNotFound) {
		t.Fatalf("remove a former member: %v; want ErrMemberNotFound", err)
	}
}

func TestErase(t *testing.T) {
	registered := domain.Organization{ID: org, Name: "Acme", Version: 1}
	ada := keyed("ada@example.com")
	expired := created
	expired.InvitationID, expired.ExpiresAt = "inv-2", now.Add(-time.Minute)
	joinedInv := given(created, accepted)
	slot := domain.EmailSlot{InvitationID: invID, Invitations: []string{invID}, Version: 1}
	tests := []struct {
		name        string
		x           domain.Erasable
		cancelled   []string
		removed     []string
		erased      bool
		generation  int
		invitations []string
		users       []string
	}{
		{"never invited: nothing", domain.Erasable{EmailHMAC: ada}, nil, nil, false, 0, nil, nil},
		{"erased already: nothing", domain.Erasable{EmailHMAC: ada, Slot: domain.EmailSlot{Erased: 1, ErasedLast: true, Version: 3}}, nil, nil, false, 0, nil, nil},
		{"pending and expired: both cancelled", domain.Erasable{EmailHMAC: ada, Slot: slot,
			Invitations: []domain.Invitation{given(created), given(expired)}}, []string{invID, "inv-2"}, nil, true, 1, []string{invID, "inv-2"}, []string{}},
		{"cancelled: recorded only", domain.Erasable{EmailHMAC: ada, Slot: slot,
			Invitations: []domain.Invitation{given(created, cancelled)}}, nil, nil, true, 1, []string{invID}, []string{}},
		{"accepted, member: removed", domain.Erasable{EmailHMAC: ada, Slot: slot, Invitations: []domain.Invitation{joinedInv},
			Members: map[string]domain.Membership{"user-42": {UserID: "user-42", InvitationID: invID, Active: true}}}, nil, []string{"user-42"}, true, 1, []string{invID}, []string{"user-42"}},
		{"accepted, member since removed: named, not removed again", domain.Erasable{EmailHMAC: ada, Slot: slot, Invitations: []domain.Invitation{joinedInv},
			Members: map[string]domain.Membership{"user-42": {UserID: "user-42", InvitationID: invID}}}, nil, nil, true, 1, []string{invID}, []string{"user-42"}},
		{"accepted, the user a member through another invitation: kept", domain.Erasable{EmailHMAC: ada, Slot: slot, Invitations: []domain.Invitation{joinedInv},
			Members: map[string]domain.Membership{"user-42": {UserID: "user-42", InvitationID: "other", Active: true}}}, nil, nil, true, 1, []string{invID}, []string{}},
		{"erased once, invited again: the next generation", domain.Erasable{EmailHMAC: ada, Slot: domain.EmailSlot{InvitationID: invID, Invitations: []string{invID}, Erased: 1, Version: 4},
			Invitations: []domain.Invitation{given(created)}}, []string{invID}, nil, true, 2, []string{invID}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.Erase(registered, tt.x, "admin")
			if err != nil {
				t.Fatal(err)
			}
			var cancelledIDs, removedUsers []string
			for _, c := range got.Cancelled {
				cancelledIDs = append(cancelledIDs, c.InvitationID)
			}
			for _, r := range got.Removed {
				removedUsers = append(removedUsers, r.UserID)
			}
			if !reflect.DeepEqual(cancelledIDs, tt.cancelled) || !reflect.DeepEqual(removedUsers, tt.removed) || (got.Erased != nil) != tt.erased {
				t.Fatalf("erasure %+v; want cancelled %v, removed %v, recorded %v", got, tt.cancelled, tt.removed, tt.erased)
			}
			if got.Erased == nil {
				return
			}
			want := domain.EmailErased{OrganizationID: org, EmailHMAC: ada, Generation: tt.generation, InvitationIDs: tt.invitations, UserIDs: tt.users, Actor: "admin"}
			if !reflect.DeepEqual(*got.Erased, want) {
				t.Fatalf("recorded %+v, want %+v", *got.Erased, want)
			}
			if ps := got.Payloads(); !reflect.DeepEqual(ps[len(ps)-1], domain.Payload(want)) {
				t.Fatalf("the record is not last: %v", ps)
			}
		})
	}
	if _, err := domain.Erase(domain.Organization{}, domain.Erasable{}, "admin"); !errors.Is(err, domain.ErrOrganizationNotFound) {
		t.Fatalf("erase in no organization: %v", err)
	}
}

// A slot erased frees the address, counts the generation, and forgets the
// invitations before it.
func TestEmailSlotErasure(t *testing.T) {
	var s domain.EmailSlot
	apply := func(p domain.Payload) { s.Apply(domain.NewEvent("", now, p)) }
	apply(domain.EmailReserved{OrganizationID: org, EmailHMAC: "h", InvitationID: "a"})
	apply(domain.EmailReserved{OrganizationID: org, EmailHMAC: "h", InvitationID: "b"})
	apply(domain.EmailReserved{OrganizationID: org, EmailHMAC: "h", InvitationID: "a"})
	if s.InvitationID != "a" || !reflect.DeepEqual(s.Invitations, []string{"a", "b"}) || s.Generation() != 1 {
		t.Fatalf("before the erasure: %+v", s)
	}
	apply(domain.EmailErased{OrganizationID: org, EmailHMAC: "h", Generation: 1})
	if s.InvitationID != "" || s.Invitations != nil || s.Generation() != 2 || !s.ErasedLast || s.Version != 4 {
		t.Fatalf("after the erasure: %+v", s)
	}
	apply(domain.EmailReserved{OrganizationID: org, EmailHMAC: "h", InvitationID: "c"})
	if s.ErasedLast || s.Generation() != 2 || !reflect.DeepEqual(s.Invitations, []string{"c"}) {
		t.Fatalf("invited again: %+v", s)
	}
}
