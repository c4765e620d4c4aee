package keystore_test

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	. "github.com/invitesvc/invitesvc/transport/keystore"
)

// benchStore is a key store on a fresh embedded server.
func benchStore(b *testing.B) (*Store, jetstream.JetStream, *KEK) {
	b.Helper()
	bk, kek := newBucket(b), newTestKEK(b)
	return bk.mustOpen(kek), bk.js, kek
}

func benchInvited(b *testing.B, s *Store, email string) domain.InvitationCreated {
	b.Helper()
	h, err := s.EmailHMAC(b.Context(), "acme-corporation", email)
	if err != nil {
		b.Fatal(err)
	}
	return domain.InvitationCreated{OrganizationID: "acme-corporation", InvitationID: "0193a1f4-7c2e-7d3a-9b1e-2f4c6a8e0b12",
		Email: email, EmailHMAC: h, EmailSealed: &domain.Sealed{Generation: 1}, Role: domain.RoleMember, Actor: "admin"}
}

// What sealing and opening cost per event: with the data key in the
// process's cache (every event after an address's first), and without
// (a first event, a process that just started: two reads of the bucket).
func BenchmarkSealOpen(b *testing.B) {
	s, js, kek := benchStore(b)
	p := benchInvited(b, s, "firstname.lastname@example.com")
	sealed, err := s.Seal(b.Context(), p)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("email-hmac", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.EmailHMAC(b.Context(), "acme-corporation", "firstname.lastname@example.com"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seal/cached-key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Seal(b.Context(), p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open/cached-key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Open(b.Context(), sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open/key-from-the-bucket", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			fresh, err := Open(b.Context(), js, kek, nil) // an empty cache
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := fresh.Open(b.Context(), sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seal/new-address", func(b *testing.B) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			q := benchInvited(b, s, fmt.Sprintf("person.%d@example.com", i))
			i++
			b.StartTimer()
			if _, err := s.Seal(b.Context(), q); err != nil {
				b.Fatal(err)
			}
		}
	})
}
