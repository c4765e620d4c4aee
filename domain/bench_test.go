package domain_test

import (
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// The hot paths of every command: decide (Invite, Accept), evolve (Apply
// while loading an aggregate), and the CloudEvent encoding of what is
// appended and decoding of what is loaded and projected.
//
//	go test -run XXX -bench . -benchmem ./domain/

var (
	benchNow     = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	benchOrg     = domain.Organization{ID: "acme-corporation", Name: "Acme Corporation", CreatedAt: benchNow.Add(-time.Hour), Version: 1}
	benchCreated = domain.InvitationCreated{OrganizationID: "acme-corporation", InvitationID: "0193a1f4-7c2e-7d3a-9b1e-2f4c6a8e0b12",
		Email: "firstname.lastname@example.com", EmailHMAC: "hmac-of-firstname.lastname@example.com", EmailSealed: &domain.Sealed{Generation: 1}, Role: domain.RoleMember,
		TokenSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ExpiresAt:   benchNow.Add(7 * 24 * time.Hour), Actor: "admin-user-1"}
	// benchStored is benchCreated as the commands append it: its address
	// sealed (nonce, ciphertext and tag: 12 + 30 + 16 bytes).
	benchStored = func() domain.InvitationCreated {
		c := benchCreated
		c.Email, c.EmailSealed = "", &domain.Sealed{Generation: 1, Ciphertext: make([]byte, 12+len(benchCreated.Email)+16)}
		return c
	}()
	benchAccepted = domain.InvitationAccepted{OrganizationID: "acme-corporation", InvitationID: benchCreated.InvitationID,
		UserID: "user-1234567890", Actor: "user-1234567890"}
	sink any
)

func BenchmarkInvite(b *testing.B) {
	invitees := []domain.Invitee{{EmailHMAC: benchCreated.EmailHMAC, KeyGeneration: 1}}
	news := []domain.NewInvitation{{InvitationID: benchCreated.InvitationID, Email: benchCreated.Email, Role: domain.RoleMember,
		TokenSHA256: benchCreated.TokenSHA256, ExpiresAt: benchCreated.ExpiresAt}}
	b.ReportAllocs()
	for b.Loop() {
		invited, err := domain.Invite(benchOrg, invitees, news, "admin-user-1", benchNow)
		if err != nil || len(invited) != 1 {
			b.Fatal(invited, err)
		}
		sink = invited
	}
}

func BenchmarkInvite100(b *testing.B) {
	invitees := make([]domain.Invitee, 100)
	news := make([]domain.NewInvitation, 100)
	for i := range news {
		invitees[i] = domain.Invitee{EmailHMAC: benchCreated.EmailHMAC, KeyGeneration: 1}
		news[i] = domain.NewInvitation{InvitationID: benchCreated.InvitationID, Email: benchCreated.Email, Role: domain.RoleMember,
			TokenSHA256: benchCreated.TokenSHA256, ExpiresAt: benchCreated.ExpiresAt}
	}
	b.ReportAllocs()
	for b.Loop() {
		invited, err := domain.Invite(benchOrg, invitees, news, "admin-user-1", benchNow)
		if err != nil || len(invited) != 100 {
			b.Fatal(len(invited), err)
		}
		sink = invited
	}
}

func BenchmarkAccept(b *testing.B) {
	var inv domain.Invitation
	inv.Apply(domain.NewEvent("e1", benchNow.Add(-time.Minute), benchCreated))
	caller := domain.Caller{UserID: "user-1234567890", Email: "Firstname.Lastname@example.com", EmailHMAC: benchCreated.EmailHMAC}
	b.ReportAllocs()
	for b.Loop() {
		acceptance, err := domain.Accept(inv, domain.Membership{}, caller, benchNow)
		if err != nil || acceptance == nil {
			b.Fatal(acceptance, err)
		}
		sink = acceptance
	}
}

// BenchmarkEvolveInvitation folds an accepted invitation's two events, as
// loading it does.
func BenchmarkEvolveInvitation(b *testing.B) {
	events := []domain.Event{domain.NewEvent("e1", benchNow, benchCreated), domain.NewEvent("e2", benchNow, benchAccepted)}
	b.ReportAllocs()
	for b.Loop() {
		var inv domain.Invitation
		for _, e := range events {
			inv.Apply(e)
		}
		if inv.Version != 2 {
			b.Fatal(inv)
		}
		sink = inv.Version
	}
}

func BenchmarkMarshalCloudEvent(b *testing.B) {
	e := domain.NewEvent("0193a1f4-7c2e-7d3a-9b1e-2f4c6a8e0b13", benchNow, benchStored)
	b.ReportAllocs()
	for b.Loop() {
		data, err := domain.MarshalCloudEvent(e)
		if err != nil {
			b.Fatal(err)
		}
		sink = data
	}
}

func BenchmarkUnmarshalCloudEvent(b *testing.B) {
	data, err := domain.MarshalCloudEvent(domain.NewEvent("0193a1f4-7c2e-7d3a-9b1e-2f4c6a8e0b13", benchNow, benchStored))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := domain.UnmarshalCloudEvent(data)
		if err != nil {
			b.Fatal(err)
		}
		sink = e
	}
}

func BenchmarkSHA256Token(b *testing.B) {
	token := "dGhpcyBpcyBhIDQzIGNoYXJhY3RlciB0b2tlbiBvayB"
	b.ReportAllocs()
	for b.Loop() {
		sink = domain.SHA256(token)
	}
}
