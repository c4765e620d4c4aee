package eventstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/eventstore/eventstoretest"
)

// at states expectations by sequence alone; these tests do not chain hashes.
func at(seqs map[domain.StreamID]uint64) map[domain.StreamID]domain.Position {
	out := make(map[domain.StreamID]domain.Position, len(seqs))
	for id, seq := range seqs {
		out[id] = domain.Position{Seq: seq}
	}
	return out
}

// skipUnderShort skips a test that starts an embedded JetStream server.
func skipUnderShort(t *testing.T) {
	if testing.Short() {
		t.Skip("needs an embedded JetStream server")
	}
}

// newStore is a store on a fresh embedded JetStream server.
func newStore(t *testing.T) *eventstore.Store {
	skipUnderShort(t)
	_, nc := testkit.JetStream(t)
	s, err := eventstore.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var now = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func created(id string) domain.Event {
	return domain.NewEvent("ev-"+id, now, domain.InvitationCreated{OrganizationID: "acme", InvitationID: id,
		Email: id + "@example.com", Role: domain.RoleMember, TokenSHA256: domain.SHA256(id), ExpiresAt: now.Add(time.Hour), Actor: "u1"})
}

func TestJetStreamConformance(t *testing.T) {
	skipUnderShort(t)
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store { return newStore(t) })
}

// An aggregate longer than one direct-get batch is read whole.
func TestLoadPagesThroughLongAggregates(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	id := domain.StreamID{Kind: domain.KindEmailSlot, OrganizationID: "acme", Key: domain.SHA256("x@example.com")}
	var last uint64
	for i := range 600 {
		e := domain.NewEvent(fmt.Sprint("r", i), now, domain.EmailReserved{OrganizationID: "acme", EmailSHA256: id.Key, InvitationID: fmt.Sprint(i)})
		seq, err := s.Append(ctx, []domain.Event{e}, at(map[domain.StreamID]uint64{id: last}))
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	events, got, err := s.Load(ctx, id)
	if err != nil || got.Seq != last || len(events) != 600 {
		t.Fatalf("load: %d events, last %+v (want %d), %v", len(events), got, last, err)
	}
}
