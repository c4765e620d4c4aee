// Package eventstoretest is the conformance suite of the event stores: the
// JetStream store and the in-memory one both run it, so that commands
// tested on memory meet the same guarantees in production.
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// Store is an event store as its users see it: the commands' port plus the
// audit feed and the stream's end.
type Store interface {
	Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error)
	Append(ctx context.Context, events []domain.Event, expected map[domain.StreamID]domain.Position) (uint64, error)
	Fresh(ctx context.Context, loaded map[domain.StreamID]domain.Position) (bool, error)
	OrganizationEvents(ctx context.Context, organizationID string) ([]domain.Recorded, error)
	LastSequence(ctx context.Context) (uint64, error)
}

// Run checks a store against the contract of commands.EventStore. newStore
// returns an empty store; each subtest gets its own.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		test func(*testing.T, Store)
	}{
		{"EmptyAggregate", testEmpty},
		{"AppendAndLoad", testAppendAndLoad},
		{"StaleExpectationWritesNothing", testStaleExpectation},
		{"BatchIsAllOrNothing", testBatchAllOrNothing},
		{"RepeatedEventIsStoredOnce", testDedupe},
		{"ConcurrentAppendsOneWins", testConcurrentOneWins},
		{"ConcurrentAppendsOnePerPosition", testConcurrentOnePerPosition},
		{"ConcurrentAppendsKeepTheirOwnSequences", testConcurrentOwnSequences},
		{"AggregatesAreIsolated", testIsolation},
		{"OrganizationEvents", testOrganizationEvents},
		{"MissingExpectationIsAnError", testMissingExpectation},
		{"FreshSaysWhetherAggregatesMoved", testFresh},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newStore(t)) })
	}
}

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// Events named by their aggregate; their ids say which event they are, so
// that the same call makes the same event (a repeat).
func created(org, id string) domain.Event {
	return domain.NewEvent("created-"+org+"-"+id, t0, domain.InvitationCreated{OrganizationID: org, InvitationID: id,
		Email: id + "@example.com", Role: domain.RoleMember, TokenSHA256: domain.SHA256(id), ExpiresAt: t0.Add(time.Hour), Actor: "admin"})
}

func cancelled(org, id string) domain.Event {
	return domain.NewEvent("cancelled-"+org+"-"+id, t0, domain.InvitationCancelled{OrganizationID: org, InvitationID: id, Actor: "admin"})
}

// reserved is the n-th reservation of email's slot, for invitation id.
func reserved(org, email, id string, n int) domain.Event {
	return domain.NewEvent(fmt.Sprintf("reserved-%s-%s-%d", org, email, n), t0,
		domain.EmailReserved{OrganizationID: org, EmailSHA256: domain.SHA256(email), InvitationID: id, Actor: "admin"})
}

func accepted(org, id, user string) domain.Event {
	return domain.NewEvent("accepted-"+org+"-"+id+"-"+user, t0, domain.InvitationAccepted{OrganizationID: org, InvitationID: id, UserID: user, Actor: user})
}

func joined(org, id, user string) domain.Event {
	return domain.NewEvent("joined-"+org+"-"+user, t0, domain.MembershipAdded{OrganizationID: org, UserID: user,
		Email: id + "@example.com", Role: domain.RoleMember, InvitationID: id, Actor: user})
}

func registered(org string) domain.Event {
	return domain.NewEvent("registered-"+org, t0, domain.OrganizationRegistered{OrganizationID: org, Name: org, Actor: "admin"})
}

func aggregate(e domain.Event) domain.StreamID { return domain.StreamOf(e.Data) }

// positions maps aggregates to the positions an append expects of them.
type positions map[domain.StreamID]domain.Position

// at adds the expectation on e's aggregate.
func (p positions) at(e domain.Event, pos domain.Position) positions {
	p[aggregate(e)] = pos
	return p
}

func mustAppend(t *testing.T, s Store, events []domain.Event, expected positions) uint64 {
	t.Helper()
	seq, err := s.Append(t.Context(), events, expected)
	if err != nil {
		t.Fatalf("Append(%s…): %v", events[0].ID, err)
	}
	return seq
}

func wantConflict(t *testing.T, s Store, events []domain.Event, expected positions) {
	t.Helper()
	if seq, err := s.Append(t.Context(), events, expected); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("Append(%s…) = %d, %v; want ErrConflict", events[0].ID, seq, err)
	}
}

// wantRefused checks that an append fails as the caller's mistake: neither
// a lost race to retry nor an outage.
func wantRefused(t *testing.T, s Store, events []domain.Event, expected positions) {
	t.Helper()
	seq, err := s.Append(t.Context(), events, expected)
	if err == nil || errors.Is(err, domain.ErrConflict) || errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Append(%d events) = %d, %v; want a plain error", len(events), seq, err)
	}
}

// wantAggregate loads aggregate id and checks that it
// holds exactly want, in order, each stored as its CloudEvent bytes chained
// to the one before. It returns the aggregate's position.
func wantAggregate(t *testing.T, s Store, id domain.StreamID, want ...domain.Event) domain.Position {
	t.Helper()
	got, last, err := s.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("Load(%+v): %v", id, err)
	}
	if len(got) != len(want) {
		t.Fatalf("Load(%+v) = %d events %v; want %d", id, len(got), ids(got), len(want))
	}
	var prev domain.Position
	for i, w := range want {
		w.PrevSHA256 = prev.SHA256
		body, err := domain.MarshalCloudEvent(w)
		if err != nil {
			t.Fatal(err)
		}
		r := got[i]
		switch {
		case !reflect.DeepEqual(r.Event, w):
			t.Fatalf("Load(%+v)[%d] = %+v; want %+v", id, i, r.Event, w)
		case r.Sequence <= prev.Seq:
			t.Fatalf("Load(%+v)[%d] at sequence %d, after %d", id, i, r.Sequence, prev.Seq)
		case r.Subject != eventstore.Subject(w):
			t.Fatalf("Load(%+v)[%d] on %q; want %q", id, i, r.Subject, eventstore.Subject(w))
		case r.SHA256 != domain.SHA256(string(body)):
			t.Fatalf("Load(%+v)[%d]: SHA-256 %s is not that of its CloudEvent bytes", id, i, r.SHA256)
		}
		prev = domain.Position{Seq: r.Sequence, SHA256: r.SHA256}
	}
	if last != prev {
		t.Fatalf("Load(%+v) position %+v; want %+v", id, last, prev)
	}
	return last
}

func wantLastSequence(t *testing.T, s Store, want uint64) {
	t.Helper()
	if got, err := s.LastSequence(t.Context()); err != nil || got != want {
		t.Fatalf("LastSequence() = %d, %v; want %d", got, err, want)
	}
}

func ids(events []domain.Recorded) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = fmt.Sprintf("%s@%d", e.ID, e.Sequence)
	}
	return out
}
