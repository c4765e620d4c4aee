package eventstoretest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/invitesvc/invitesvc/domain"
)

// nowhere is the position of an aggregate with no events.
var nowhere = domain.Position{}

func testEmpty(t *testing.T, s Store) {
	wantAggregate(t, s, aggregate(created("acme", "i1")))
	wantLastSequence(t, s, 0)
	if events, err := s.OrganizationEvents(t.Context(), "acme"); err != nil || len(events) != 0 {
		t.Fatalf("OrganizationEvents(acme) = %v, %v; want none", ids(events), err)
	}
}

func testAppendAndLoad(t *testing.T, s Store) {
	i1, c1 := created("acme", "i1"), cancelled("acme", "i1")
	if seq := mustAppend(t, s, []domain.Event{i1}, positions{}.at(i1, nowhere)); seq != 1 {
		t.Fatalf("first append at %d; want 1", seq)
	}
	pos := wantAggregate(t, s, aggregate(i1), i1)
	if seq := mustAppend(t, s, []domain.Event{c1}, positions{}.at(c1, pos)); seq != 2 {
		t.Fatalf("second append at %d; want 2", seq)
	}
	pos = wantAggregate(t, s, aggregate(i1), i1, c1)
	if pos.Seq != 2 {
		t.Fatalf("position %+v; want sequence 2", pos)
	}
	events, _, _ := s.Load(t.Context(), aggregate(i1))
	if events[1].Subject != "invitations.acme.i1.cancelled" {
		t.Fatalf("cancel stored on %q", events[1].Subject)
	}

	// A batch answers the sequence of its last event.
	i2, r2 := created("acme", "i2"), reserved("acme", "i2@example.com", "i2", 1)
	if seq := mustAppend(t, s, []domain.Event{i2, r2}, positions{}.at(i2, nowhere).at(r2, nowhere)); seq != 4 {
		t.Fatalf("batch answered %d; want 4", seq)
	}
	if pos := wantAggregate(t, s, aggregate(i2), i2); pos.Seq != 3 {
		t.Fatalf("first of the batch at %+v; want 3", pos)
	}
	if pos := wantAggregate(t, s, aggregate(r2), r2); pos.Seq != 4 {
		t.Fatalf("last of the batch at %+v; want 4", pos)
	}
	wantLastSequence(t, s, 4)
}

func testStaleExpectation(t *testing.T, s Store) {
	i1, c1 := created("acme", "i1"), cancelled("acme", "i1")
	mustAppend(t, s, []domain.Event{i1}, positions{}.at(i1, nowhere))
	pos := wantAggregate(t, s, aggregate(i1), i1)
	mustAppend(t, s, []domain.Event{c1}, positions{}.at(c1, pos))
	want := wantAggregate(t, s, aggregate(i1), i1, c1)

	expired := domain.NewEvent("expired", t0, domain.InvitationExpired{OrganizationID: "acme", InvitationID: "i1", Actor: domain.SystemActor})
	for name, stale := range map[string]domain.Position{
		"behind": pos,
		"empty":  nowhere,
		"ahead":  {Seq: want.Seq + 5, SHA256: want.SHA256},
	} {
		t.Run(name, func(t *testing.T) {
			wantConflict(t, s, []domain.Event{expired}, positions{}.at(expired, stale))
			wantAggregate(t, s, aggregate(i1), i1, c1)
			wantLastSequence(t, s, 2)
		})
	}
	// An aggregate with no events is not where the stream is.
	i2 := created("acme", "i2")
	wantConflict(t, s, []domain.Event{i2}, positions{}.at(i2, domain.Position{Seq: 2}))
	wantAggregate(t, s, aggregate(i2))
	wantLastSequence(t, s, 2)
}

func testBatchAllOrNothing(t *testing.T, s Store) {
	r1 := reserved("acme", "b@example.com", "a", 1)
	mustAppend(t, s, []domain.Event{r1}, positions{}.at(r1, nowhere))
	slotAt := wantAggregate(t, s, aggregate(r1), r1)
	b, r2 := created("acme", "b"), reserved("acme", "b@example.com", "b", 2)

	// The invitation's expectation holds, the slot's is stale: nothing is written.
	wantConflict(t, s, []domain.Event{b, r2}, positions{}.at(b, nowhere).at(r2, nowhere))
	wantAggregate(t, s, aggregate(b))
	wantAggregate(t, s, aggregate(r1), r1)
	wantLastSequence(t, s, 1)

	// The other way round: the first event's aggregate is the stale one.
	wantConflict(t, s, []domain.Event{b, r2}, positions{}.at(b, domain.Position{Seq: 1}).at(r2, slotAt))
	wantAggregate(t, s, aggregate(b))
	wantAggregate(t, s, aggregate(r1), r1)
	wantLastSequence(t, s, 1)

	if seq := mustAppend(t, s, []domain.Event{b, r2}, positions{}.at(b, nowhere).at(r2, slotAt)); seq != 3 {
		t.Fatalf("batch at %d; want 3", seq)
	}
	wantAggregate(t, s, aggregate(b), b)
	wantAggregate(t, s, aggregate(r1), r1, r2)
}

// testDedupe checks how a repeated event id is answered, as JetStream does
// within its duplicate window: a single event whose expectation holds gets
// the sequence it was stored at, and nothing is written; a batch holding a
// stored id is refused whole.
func testDedupe(t *testing.T, s Store) {
	ctx := t.Context()
	i1 := created("acme", "i1")
	seq := mustAppend(t, s, []domain.Event{i1}, positions{}.at(i1, nowhere))
	pos := wantAggregate(t, s, aggregate(i1), i1)

	t.Run("single", func(t *testing.T) {
		if again, err := s.Append(ctx, []domain.Event{i1}, positions{}.at(i1, pos)); err != nil || again != seq {
			t.Fatalf("repeat = %d, %v; want %d, nil", again, err, seq)
		}
		wantAggregate(t, s, aggregate(i1), i1)
		wantLastSequence(t, s, 1)
	})
	t.Run("single with its old expectation", func(t *testing.T) {
		// The expectation is checked first: a repeat from before the first
		// write stored is a lost race, not a success.
		wantConflict(t, s, []domain.Event{i1}, positions{}.at(i1, nowhere))
		wantLastSequence(t, s, 1)
	})
	t.Run("single on another aggregate", func(t *testing.T) {
		// Ids are unique across the store, not per aggregate.
		other := reserved("acme", "i1@example.com", "i1", 1)
		other.ID = i1.ID
		if again, err := s.Append(ctx, []domain.Event{other}, positions{}.at(other, nowhere)); err != nil || again != seq {
			t.Fatalf("repeat = %d, %v; want %d, nil", again, err, seq)
		}
		wantAggregate(t, s, aggregate(other))
		wantLastSequence(t, s, 1)
	})

	i2, r2 := created("acme", "i2"), reserved("acme", "i2@example.com", "i2", 1)
	mustAppend(t, s, []domain.Event{i2, r2}, positions{}.at(i2, nowhere).at(r2, nowhere))
	invAt := wantAggregate(t, s, aggregate(i2), i2)
	slotAt := wantAggregate(t, s, aggregate(r2), r2)
	i3, r3 := created("acme", "i3"), reserved("acme", "i3@example.com", "i3", 1)
	r3.ID = i3.ID
	for name, tc := range map[string]struct {
		batch    []domain.Event
		expected positions
	}{
		"batch":                   {[]domain.Event{i2, r2}, positions{}.at(i2, invAt).at(r2, slotAt)},
		"batch with one seen":     {[]domain.Event{i3, r2}, positions{}.at(i3, nowhere).at(r2, slotAt)},
		"batch with one id twice": {[]domain.Event{i3, r3}, positions{}.at(i3, nowhere).at(r3, nowhere)},
	} {
		t.Run(name, func(t *testing.T) {
			wantRefused(t, s, tc.batch, tc.expected)
			wantAggregate(t, s, aggregate(i2), i2)
			wantAggregate(t, s, aggregate(r2), r2)
			wantAggregate(t, s, aggregate(i3))
			wantAggregate(t, s, aggregate(r3))
			wantLastSequence(t, s, 3)
		})
	}

	// The repeat on another aggregate moved nothing: it is still empty to
	// append to.
	first := reserved("acme", "i1@example.com", "i1", 2)
	mustAppend(t, s, []domain.Event{first}, positions{}.at(first, nowhere))
	wantAggregate(t, s, aggregate(first), first)
}

// testConcurrentOneWins races many accepts of one invitation, each with
// the membership of another user: exactly one may be stored.
func testConcurrentOneWins(t *testing.T, s Store) {
	i1 := created("acme", "i1")
	mustAppend(t, s, []domain.Event{i1}, positions{}.at(i1, nowhere))
	pos := wantAggregate(t, s, aggregate(i1), i1)
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			user := fmt.Sprint("user-", i)
			accept, member := accepted("acme", "i1", user), joined("acme", "i1", user)
			_, errs[i] = s.Append(t.Context(), []domain.Event{accept, member}, positions{}.at(accept, pos).at(member, nowhere))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("both %d and %d won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, domain.ErrConflict):
			t.Fatalf("append %d: %v; want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no append won")
	}
	user := fmt.Sprint("user-", winner)
	wantAggregate(t, s, aggregate(i1), i1, accepted("acme", "i1", user))
	wantAggregate(t, s, aggregate(joined("acme", "i1", user)), joined("acme", "i1", user))
	wantAggregate(t, s, aggregate(joined("acme", "i1", fmt.Sprint("user-", (winner+1)%n))))
	wantLastSequence(t, s, 3)
}

// testConcurrentOnePerPosition has many writers append to one aggregate,
// each reloading and retrying until its event is stored: every event is
// stored once, each position taken by one, and the chain is unbroken.
func testConcurrentOnePerPosition(t *testing.T, s Store) {
	const n = 16
	events := make([]domain.Event, n)
	seqs := make([]uint64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		events[i] = reserved("acme", "ada@example.com", fmt.Sprint("inv-", i), i)
		wg.Go(func() {
			for {
				_, pos, err := s.Load(t.Context(), aggregate(events[i]))
				if err != nil {
					errs[i] = err
					return
				}
				seqs[i], err = s.Append(t.Context(), events[i:i+1], positions{}.at(events[i], pos))
				if !errors.Is(err, domain.ErrConflict) {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// Order the events as they were stored, then check the aggregate holds
	// exactly those, chained.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(seqs[a], seqs[b]) })
	stored := make([]domain.Event, n)
	for k, i := range order {
		stored[k] = events[i]
		if seqs[i] != uint64(k+1) {
			t.Fatalf("appends stored at %v; want each of 1..%d once", seqs, n)
		}
	}
	wantAggregate(t, s, aggregate(events[0]), stored...)
	wantLastSequence(t, s, n)
}

// testIsolation checks that an aggregate holds its own events only, even
// where its key or organization is a prefix of another's.
func testIsolation(t *testing.T, s Store) {
	a, ab := created("acme", "a"), created("acme", "ab")
	a2 := created("acme2", "a")
	member := joined("acme", "x", "a")
	org := registered("acme")
	for _, e := range []domain.Event{a, ab, a2, member, org} {
		mustAppend(t, s, []domain.Event{e}, positions{}.at(e, nowhere))
	}
	posA := wantAggregate(t, s, aggregate(a), a)
	wantAggregate(t, s, aggregate(ab), ab)
	wantAggregate(t, s, aggregate(a2), a2)
	wantAggregate(t, s, aggregate(member), member)
	wantAggregate(t, s, aggregate(org), org)

	// Appends to the others moved no expectation of a.
	c := cancelled("acme", "a")
	mustAppend(t, s, []domain.Event{c}, positions{}.at(c, posA))
	wantAggregate(t, s, aggregate(a), a, c)
	wantAggregate(t, s, aggregate(ab), ab)
	wantAggregate(t, s, aggregate(a2), a2)
}

// testOrganizationEvents checks the audit feed: the organization's own
// events, its invitations' and its memberships', in stream order, without
// the guards or any other organization's.
func testOrganizationEvents(t *testing.T, s Store) {
	idem := domain.NewEvent("idem", t0, domain.IdempotencyRecorded{OrganizationID: "acme", KeySHA256: domain.SHA256("k"),
		RequestSHA256: domain.SHA256("r"), Status: 201, InvitationIDs: []string{"i1"}, Actor: "admin"})
	history := [][]domain.Event{
		{registered("acme")},
		{registered("acme2")},
		{created("acme", "i1"), reserved("acme", "i1@example.com", "i1", 1), idem},
		{created("acme2", "i1"), reserved("acme2", "i1@example.com", "i1", 1)},
		{accepted("acme", "i1", "u1"), joined("acme", "i1", "u1")},
		{registered("beta")},
		{cancelled("acme", "i1")},
	}
	seqOf := map[string]uint64{}
	for _, batch := range history {
		expected := positions{}
		for _, e := range batch {
			_, pos, err := s.Load(t.Context(), aggregate(e))
			if err != nil {
				t.Fatal(err)
			}
			expected.at(e, pos)
		}
		last := mustAppend(t, s, batch, expected)
		for i, e := range batch {
			seqOf[e.ID] = last - uint64(len(batch)-1-i)
		}
	}
	wantLastSequence(t, s, 11)

	got, err := s.OrganizationEvents(t.Context(), "acme")
	if err != nil {
		t.Fatalf("OrganizationEvents(acme): %v", err)
	}
	want := []string{registered("acme").ID, created("acme", "i1").ID, accepted("acme", "i1", "u1").ID,
		joined("acme", "i1", "u1").ID, cancelled("acme", "i1").ID}
	wantIDs := make([]string, len(want))
	for i, id := range want {
		wantIDs[i] = fmt.Sprintf("%s@%d", id, seqOf[id])
	}
	if !slices.Equal(ids(got), wantIDs) {
		t.Fatalf("OrganizationEvents(acme) = %v; want %v", ids(got), wantIDs)
	}
	// The feed's events are the ones Load reads.
	loaded, _, err := s.Load(t.Context(), aggregate(created("acme", "i1")))
	if err != nil || len(loaded) != 3 || !slices.EqualFunc([]domain.Recorded{got[1], got[2], got[4]}, loaded, recordedEqual) {
		t.Fatalf("feed %v differs from the invitation loaded: %v, %v", ids(got), ids(loaded), err)
	}
}

func recordedEqual(a, b domain.Recorded) bool {
	return a.ID == b.ID && a.Sequence == b.Sequence && a.Subject == b.Subject && a.SHA256 == b.SHA256 && a.PrevSHA256 == b.PrevSHA256
}

func testMissingExpectation(t *testing.T, s Store) {
	i1, r1 := created("acme", "i1"), reserved("acme", "i1@example.com", "i1", 1)
	wantRefused(t, s, []domain.Event{i1}, positions{})
	// Another aggregate's expectation does not stand in for it.
	wantRefused(t, s, []domain.Event{i1}, positions{}.at(r1, nowhere))
	wantRefused(t, s, []domain.Event{i1, r1}, positions{}.at(i1, nowhere))
	wantRefused(t, s, nil, positions{})
	wantAggregate(t, s, aggregate(i1))
	wantAggregate(t, s, aggregate(r1))
	wantLastSequence(t, s, 0)
}

// testConcurrentOwnSequences has many writers append at once to aggregates
// of their own: singles, pairs and one bulk of 100 events. Every append is
// stored whole, its events one after the other in its order, and answered
// with the sequence of its own last event, whichever appends it was
// written with.
func testConcurrentOwnSequences(t *testing.T, s Store) {
	const writers = 64
	appends := make([][]domain.Event, writers)
	for i := range appends {
		id := fmt.Sprint("i", i)
		switch {
		case i == 0:
			for k := range 50 {
				id := fmt.Sprint("bulk", k)
				appends[i] = append(appends[i], created("acme", id), reserved("acme", id+"@example.com", id, 1))
			}
		case i%2 == 0:
			appends[i] = []domain.Event{created("acme", id), reserved("acme", id+"@example.com", id, 1)}
		default:
			appends[i] = []domain.Event{created("acme", id)}
		}
	}
	seqs := make([]uint64, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i, events := range appends {
		expected := positions{}
		for _, e := range events {
			expected.at(e, nowhere)
		}
		wg.Go(func() { seqs[i], errs[i] = s.Append(t.Context(), events, expected) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	total := 0
	taken := map[uint64]int{}
	for i, events := range appends {
		total += len(events)
		for k, e := range events {
			seq := seqs[i] - uint64(len(events)-1-k)
			if other, ok := taken[seq]; ok {
				t.Fatalf("appends %d and %d both answered with sequence %d", other, i, seq)
			}
			taken[seq] = i
			if pos := wantAggregate(t, s, aggregate(e), e); pos.Seq != seq {
				t.Fatalf("append %d: event %d stored at %d; want %d (answered %d)", i, k, pos.Seq, seq, seqs[i])
			}
		}
	}
	wantLastSequence(t, s, uint64(total))
}

// testFresh checks Fresh against appends: an aggregate is fresh at the
// position of its last event (nowhere when it has none) and at no other,
// whatever happens to other aggregates.
func testFresh(t *testing.T, s Store) {
	ctx := t.Context()
	i1, c1, i2 := created("acme", "i1"), cancelled("acme", "i1"), created("acme", "i2")
	mustAppend(t, s, []domain.Event{i1}, positions{}.at(i1, nowhere))
	at1 := wantAggregate(t, s, aggregate(i1), i1)
	wantFresh := func(want bool, loaded positions) {
		t.Helper()
		if got, err := s.Fresh(ctx, loaded); err != nil || got != want {
			t.Fatalf("Fresh(%v) = %v, %v; want %v", loaded, got, err, want)
		}
	}
	wantFresh(true, positions{})
	wantFresh(true, positions{}.at(i1, at1).at(i2, nowhere))
	mustAppend(t, s, []domain.Event{i2}, positions{}.at(i2, nowhere))
	wantFresh(true, positions{}.at(i1, at1))
	wantFresh(false, positions{}.at(i1, at1).at(i2, nowhere))
	mustAppend(t, s, []domain.Event{c1}, positions{}.at(c1, at1))
	wantFresh(false, positions{}.at(i1, at1))
	wantFresh(false, positions{}.at(i1, nowhere))
	wantFresh(true, positions{}.at(i1, wantAggregate(t, s, aggregate(i1), i1, c1)))
}
