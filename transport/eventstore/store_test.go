package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// at states expectations by sequence alone; these tests do not chain hashes.
func at(seqs map[domain.StreamID]uint64) map[domain.StreamID]domain.Position {
	out := make(map[domain.StreamID]domain.Position, len(seqs))
	for id, seq := range seqs {
		out[id] = domain.Position{Seq: seq}
	}
	return out
}

func newStore(t *testing.T) *eventstore.Store {
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

func reserved(id string) domain.Event {
	return domain.NewEvent("slot-"+id, now, domain.EmailReserved{OrganizationID: "acme", EmailSHA256: domain.SHA256(id + "@example.com"), InvitationID: id, Actor: "u1"})
}

func TestAppendAndLoad(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	inv := domain.StreamOf(created("i1").Data)
	seq, err := s.Append(ctx, []domain.Event{created("i1")}, at(map[domain.StreamID]uint64{inv: 0}))
	if err != nil || seq != 1 {
		t.Fatalf("append: seq %d, %v", seq, err)
	}
	cancel := domain.NewEvent("ev-c", now, domain.InvitationCancelled{OrganizationID: "acme", InvitationID: "i1", Actor: "u1"})
	if _, err := s.Append(ctx, []domain.Event{cancel}, at(map[domain.StreamID]uint64{inv: 0})); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("stale expectation: got %v, want ErrConflict", err)
	}
	if seq, err = s.Append(ctx, []domain.Event{cancel}, at(map[domain.StreamID]uint64{inv: 1})); err != nil || seq != 2 {
		t.Fatalf("append cancel: seq %d, %v", seq, err)
	}
	events, last, err := s.Load(ctx, inv)
	if err != nil || last.Seq != 2 || len(events) != 2 {
		t.Fatalf("load: %d events, last %+v, %v", len(events), last, err)
	}
	if events[0].Type != domain.TypeInvitationCreated || events[1].Subject != "invitations.acme.i1.cancelled" {
		t.Fatalf("loaded %+v", events)
	}
	if _, ok := events[0].Data.(domain.InvitationCreated); !ok {
		t.Fatalf("payload not decoded: %T", events[0].Data)
	}
	other, last, err := s.Load(ctx, domain.StreamID{Kind: domain.KindInvitation, OrganizationID: "acme", Key: "nope"})
	if err != nil || last != (domain.Position{}) || len(other) != 0 {
		t.Fatalf("empty aggregate: %v %+v %v", other, last, err)
	}
}

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

func TestBatchIsAllOrNothing(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	slot := domain.StreamOf(reserved("a").Data)
	if _, err := s.Append(ctx, []domain.Event{reserved("a")}, at(map[domain.StreamID]uint64{slot: 0})); err != nil {
		t.Fatal(err)
	}
	// The invitation's expectation holds, the slot's is stale: nothing may be written.
	batch := []domain.Event{created("b"), domain.NewEvent("slot-b2", now, domain.EmailReserved{OrganizationID: "acme", EmailSHA256: slot.Key, InvitationID: "b"})}
	inv := domain.StreamOf(batch[0].Data)
	if _, err := s.Append(ctx, batch, at(map[domain.StreamID]uint64{inv: 0, slot: 0})); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	if events, _, _ := s.Load(ctx, inv); len(events) != 0 {
		t.Fatalf("half-written batch: %d invitation events stored", len(events))
	}
	if seq, err := s.Append(ctx, batch, at(map[domain.StreamID]uint64{inv: 0, slot: 1})); err != nil || seq != 3 {
		t.Fatalf("batch: seq %d, %v", seq, err)
	}
}

func TestConcurrentAppendsToOneAggregateOneWins(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	inv := domain.StreamOf(created("i1").Data)
	if _, err := s.Append(ctx, []domain.Event{created("i1")}, at(map[domain.StreamID]uint64{inv: 0})); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			accept := domain.NewEvent(fmt.Sprint("acc", i), now, domain.InvitationAccepted{OrganizationID: "acme", InvitationID: "i1", UserID: fmt.Sprint("u", i)})
			member := domain.NewEvent(fmt.Sprint("mem", i), now, domain.MembershipAdded{OrganizationID: "acme", UserID: fmt.Sprint("u", i), InvitationID: "i1"})
			_, errs[i] = s.Append(ctx, []domain.Event{accept, member}, at(map[domain.StreamID]uint64{inv: 1, domain.StreamOf(member.Data): 0}))
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, domain.ErrConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	events, _, _ := s.Load(ctx, inv)
	if wins != 1 || len(events) != 2 {
		t.Fatalf("%d appends won, %d invitation events; want 1 and 2", wins, len(events))
	}
}

func TestEventsChainToTheirPredecessor(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	inv := domain.StreamOf(created("i1").Data)
	if _, err := s.Append(ctx, []domain.Event{created("i1")}, map[domain.StreamID]domain.Position{inv: {}}); err != nil {
		t.Fatal(err)
	}
	_, pos, err := s.Load(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	cancel := domain.NewEvent("ev-c", now, domain.InvitationCancelled{OrganizationID: "acme", InvitationID: "i1"})
	if _, err := s.Append(ctx, []domain.Event{cancel}, map[domain.StreamID]domain.Position{inv: pos}); err != nil {
		t.Fatal(err)
	}
	events, _, _ := s.Load(ctx, inv)
	if events[0].PrevSHA256 != "" || events[1].PrevSHA256 != events[0].SHA256 || len(events[0].SHA256) != 64 {
		t.Fatalf("chain: first prev %q, second prev %q, first hash %q", events[0].PrevSHA256, events[1].PrevSHA256, events[0].SHA256)
	}
}
