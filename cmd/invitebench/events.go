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

// createEvents are the events of a create of one invitation, as the service
// decides them: invitation.created and its email slot's email.reserved.
func createEvents(org, email string, now time.Time) []domain.Event {
	inv := newUUID()
	return []domain.Event{
		domain.NewEvent(newUUID(), now, domain.InvitationCreated{OrganizationID: org, InvitationID: inv, Email: email,
			Role: domain.RoleMember, TokenSHA256: domain.SHA256(randomHex(32)),
			ExpiresAt: now.Add(domain.DefaultExpiresIn).Truncate(time.Second).UTC(), Actor: benchActor}),
		domain.NewEvent(newUUID(), now, domain.EmailReserved{OrganizationID: org, EmailSHA256: domain.SHA256(email), InvitationID: inv, Actor: benchActor}),
	}
}

// historyEvents yields n stored events of a busy service, subject and
// CloudEvent bytes: organizations of 500 invitations each, every invitation
// created with its email slot, and every other one accepted with its
// membership, each event chained to its aggregate's previous one.
func historyEvents(n int, now time.Time) iter.Seq2[string, []byte] {
	return func(yield func(string, []byte) bool) {
		emitted := 0
		emit := func(e domain.Event) (string, bool) {
			data, err := domain.MarshalCloudEvent(e)
			if err != nil {
				panic(err) // the events are made here: a bug
			}
			emitted++
			return domain.SHA256(string(data)), yield(eventstore.Subject(e), data)
		}
		const perOrg = 500
		for unit := 0; emitted < n; unit++ {
			org := fmt.Sprintf("org-%d", unit*2/perOrg)
			if unit*2%perOrg == 0 {
				if _, ok := emit(domain.NewEvent(newUUID(), now, domain.OrganizationRegistered{OrganizationID: org, Name: "Organization " + org, Actor: benchActor})); !ok || emitted >= n {
					return
				}
			}
			var first []domain.Event
			var firstSum string
			for k := range 2 {
				evs := createEvents(org, fmt.Sprintf("person.%d@invitebench.example", unit*2+k), now)
				sum, ok := emit(evs[0])
				if !ok || emitted >= n {
					return
				}
				if k == 0 {
					first, firstSum = evs, sum
				}
				if _, ok := emit(evs[1]); !ok || emitted >= n {
					return
				}
			}
			created := first[0].Data.(domain.InvitationCreated)
			user := "user-" + created.InvitationID
			accepted := domain.NewEvent(newUUID(), now, domain.InvitationAccepted{OrganizationID: org, InvitationID: created.InvitationID, UserID: user, Actor: user})
			accepted.PrevSHA256 = firstSum
			if _, ok := emit(accepted); !ok || emitted >= n {
				return
			}
			if _, ok := emit(domain.NewEvent(newUUID(), now, domain.MembershipAdded{OrganizationID: org, UserID: user, Email: created.Email,
				Role: created.Role, InvitationID: created.InvitationID, Actor: user})); !ok || emitted >= n {
				return
			}
		}
	}
}
