package main

import (
	"fmt"
	"iter"
	"time"

	"github.com/google/uuid"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

const benchActor = "invitebench-admin"

func newUUID() string { return uuid.Must(uuid.NewV7()).String() }

// decided wraps what a domain decider decided into events, as the service's
// commands do.
func decided(now time.Time, payloads []domain.Payload) []domain.Event {
	events := make([]domain.Event, len(payloads))
	for i, p := range payloads {
		events[i] = domain.NewEvent(newUUID(), now, p)
	}
	return events
}

// must is for decisions the bench sets up to succeed: a failure is its bug.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// invite decides the create of one invitation to a fresh email, in the
// form of revision 1 (the address in clear, its slot named by its SHA-256),
// which every build reads: the bench holds no key-encryption key of the
// service whose stream it fills, so it cannot seal addresses as the
// service does (BenchmarkSeal and BenchmarkRebuildSealed in
// transport/keystore and projections measure that).
func invite(org, email string, now time.Time) domain.Invited {
	invited := must(domain.Invite(domain.Organization{ID: org, Version: 1}, []domain.Invitee{{EmailHMAC: domain.SHA256(email)}},
		[]domain.NewInvitation{{InvitationID: newUUID(), Email: email, Role: domain.RoleMember,
			TokenSHA256: domain.SHA256(randomHex(32)), ExpiresAt: now.Add(domain.DefaultExpiresIn).Truncate(time.Second).UTC()}},
		benchActor, now))[0]
	invited.Invitation.EmailSealed, invited.Invitation.EmailHMAC = nil, ""
	invited.Slot.EmailSHA256, invited.Slot.EmailHMAC = invited.Slot.EmailHMAC, ""
	return invited
}

// createEvents are the events of a create of one invitation to a fresh
// email, as the domain decides them: invitation.created and its email
// slot's email.reserved.
func createEvents(org, email string, now time.Time) []domain.Event {
	return decided(now, invite(org, email, now).Payloads())
}

// historyEvents yields n stored events of a busy service, subject and
// CloudEvent bytes: organizations of 500 invitations each, every invitation
// created with its email slot, and every other one accepted with its
// membership, each event chained to its aggregate's previous one.
func historyEvents(n int, now time.Time) iter.Seq2[string, []byte] {
	return func(yield func(string, []byte) bool) {
		emitted := 0
		// emit yields e unless n are out or the consumer stopped, and
		// returns the SHA-256 of its stored bytes.
		emit := func(e domain.Event) (sum string, more bool) {
			data, err := domain.MarshalCloudEvent(e)
			if err != nil {
				panic(err) // the events are made here: a bug
			}
			emitted++
			return domain.SHA256(string(data)), yield(eventstore.Subject(e), data) && emitted < n
		}
		const perOrg = 500
		for unit := 0; emitted < n; unit++ {
			org := fmt.Sprintf("org-%d", unit*2/perOrg)
			if unit*2%perOrg == 0 {
				registration := must(domain.RegisterOrganization(domain.Organization{}, org, "Organization "+org, benchActor))
				if _, more := emit(domain.NewEvent(newUUID(), now, *registration.Registered)); !more {
					return
				}
			}
			var first domain.Invitation
			var firstSum string
			for k := range 2 {
				invited := invite(org, fmt.Sprintf("person.%d@invitebench.example", unit*2+k), now)
				created := domain.NewEvent(newUUID(), now, invited.Invitation)
				sum, more := emit(created)
				if !more {
					return
				}
				if _, more := emit(domain.NewEvent(newUUID(), now, invited.Slot)); !more {
					return
				}
				if k == 0 {
					first.Apply(created)
					firstSum = sum
				}
			}
			user := "user-" + first.ID
			// What the commands would compute for the address in clear.
			first.EmailHMAC = domain.SHA256(first.Email)
			acceptance := must(domain.Accept(first, domain.Membership{}, domain.Caller{UserID: user, Email: first.Email, EmailHMAC: first.EmailHMAC}, now))
			acceptance.Membership.EmailSealed, acceptance.Membership.EmailHMAC = nil, ""
			accepted := domain.NewEvent(newUUID(), now, acceptance.Invitation)
			accepted.PrevSHA256 = firstSum
			if _, more := emit(accepted); !more {
				return
			}
			if _, more := emit(domain.NewEvent(newUUID(), now, acceptance.Membership)); !more {
				return
			}
		}
	}
}
