package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// batchSizes records the appends of every batch a store commits.
type batchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) BatchCommitted(appends int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, appends)
}

// take returns the sizes recorded since the last take.
func (b *batchSizes) take() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.sizes
	b.sizes = nil
	return out
}

func reservedFor(org, id string) domain.Event {
	return domain.NewEvent("ev-reserved-"+org+"-"+id, now, domain.EmailReserved{OrganizationID: org, EmailSHA256: domain.SHA256(id + "@example.com"), InvitationID: id, Actor: "u1"})
}

// invite is what a create appends: the invitation and its email slot.
func invite(id string) []domain.Event { return []domain.Event{created(id), reservedFor("acme", id)} }

func cancelled(id, eventID string) domain.Event {
	return domain.NewEvent(eventID, now, domain.InvitationCancelled{OrganizationID: "acme", InvitationID: id, Actor: "u1"})
}

// fresh expects every aggregate of events to be empty.
func fresh(events []domain.Event) map[domain.StreamID]domain.Position {
	out := map[domain.StreamID]domain.Position{}
	for _, e := range events {
		out[domain.StreamOf(e.Data)] = domain.Position{}
	}
	return out
}

type call struct {
	events   []domain.Event
	expected map[domain.StreamID]domain.Position
}

// appendQueued starts the calls while s holds its batches, each once the
// one before is queued, so that they queue in order, then lets the store
// send them and returns what each was answered.
func appendQueued(t *testing.T, s *eventstore.Store, calls []call) ([]uint64, []error) {
	t.Helper()
	queued, release := eventstore.HoldBatches(s)
	seqs, errs := make([]uint64, len(calls)), make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() { seqs[i], errs[i] = s.Append(t.Context(), c.events, c.expected) })
		for deadline := time.Now().Add(5 * time.Second); queued() < i+1; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("append %d not queued", i)
			}
		}
	}
	release()
	wg.Wait()
	return seqs, errs
}

// wantStoredAt checks that each of events is its aggregate's only event,
// stored in order ending at sequence last.
func wantStoredAt(t *testing.T, s *eventstore.Store, events []domain.Event, last uint64) {
	t.Helper()
	for k, e := range events {
		got, _, err := s.Load(t.Context(), domain.StreamOf(e.Data))
		want := last - uint64(len(events)-1-k)
		if err != nil || len(got) != 1 || got[0].ID != e.ID || got[0].Sequence != want {
			t.Fatalf("event %s: loaded %v, %v; want it alone at %d", e.ID, got, err, want)
		}
	}
}

func wantLast(t *testing.T, s *eventstore.Store, want uint64) {
	t.Helper()
	if got, err := s.LastSequence(t.Context()); err != nil || got != want {
		t.Fatalf("LastSequence = %d, %v; want %d", got, err, want)
	}
}

// One append of a shared batch loses its race to another replica: the
// server refuses the whole batch without saying whose expectation failed,
// so the store splits it; the loser alone fails, the others are stored once
// each, in their order, with their own sequences.
func TestSharedBatchLoserFailsAlone(t *testing.T) {
	var sizes batchSizes
	s, nc, keys := newStoreConn(t, eventstore.WithBatchObserver(&sizes))
	replica, err := eventstore.New(nc, keys)
	if err != nil {
		t.Fatal(err)
	}
	x := created("x")
	if _, err := s.Append(t.Context(), []domain.Event{x}, fresh([]domain.Event{x})); err != nil {
		t.Fatal(err)
	}
	xID := domain.StreamOf(x.Data)
	if _, err := replica.Append(t.Context(), []domain.Event{cancelled("x", "by-replica")}, map[domain.StreamID]domain.Position{xID: {Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	sizes.take()

	const loser = 4
	calls := make([]call, 9)
	for i := range calls {
		events := invite(fmt.Sprint("i", i))
		calls[i] = call{events, fresh(events)}
	}
	calls[loser] = call{[]domain.Event{cancelled("x", "stale")}, map[domain.StreamID]domain.Position{xID: {Seq: 1}}}
	seqs, errs := appendQueued(t, s, calls)

	if !errors.Is(errs[loser], domain.ErrConflict) {
		t.Fatalf("the stale append: %d, %v; want ErrConflict", seqs[loser], errs[loser])
	}
	var prev uint64
	for i, c := range calls {
		if i == loser {
			continue
		}
		if errs[i] != nil {
			t.Fatalf("append %d, innocent, failed: %v", i, errs[i])
		}
		if seqs[i] <= prev {
			t.Fatalf("appends stored out of their order: %v", seqs)
		}
		prev = seqs[i]
		wantStoredAt(t, s, c.events, seqs[i])
	}
	wantLast(t, s, 2+8*2)
	got := sizes.take()
	if slices.Contains(got, len(calls)) || sum(got) != len(calls)-1 {
		t.Fatalf("batches committed %v; want the 8 innocent appends in split batches", got)
	}
}

// A single event appended again (a repeat of one stored) in a shared batch
// makes the server refuse the batch for its message id; split, the repeat
// alone is answered the sequence it was stored at, as without a batch, and
// the others are stored once each.
func TestRepeatedEventInASharedBatch(t *testing.T) {
	s, _, _ := newStoreConn(t)
	e := created("repeat")
	expected := fresh([]domain.Event{e})
	if _, err := s.Append(t.Context(), []domain.Event{e}, expected); err != nil {
		t.Fatal(err)
	}
	var calls []call
	for i := range 6 {
		events := invite(fmt.Sprint("around", i))
		calls = append(calls, call{events, fresh(events)})
	}
	calls = slices.Insert(calls, 3, call{[]domain.Event{e}, map[domain.StreamID]domain.Position{domain.StreamOf(e.Data): {Seq: 1}}})
	seqs, errs := appendQueued(t, s, calls)
	if errs[3] != nil || seqs[3] != 1 {
		t.Fatalf("the repeat: %d, %v; want 1, nil", seqs[3], errs[3])
	}
	for i, c := range calls {
		if errs[i] != nil {
			t.Fatalf("append %d: %v", i, errs[i])
		}
		wantStoredAt(t, s, c.events, seqs[i])
	}
	wantLast(t, s, 1+6*2)
}

// An append queued behind one on the same aggregate never shares its
// batch; once that one is stored, it fails if it expected the aggregate
// where it was before, and is sent if it expected it where it now is.
func TestAppendsOnOneAggregateNeverShareABatch(t *testing.T) {
	var sizes batchSizes
	s, _, _ := newStoreConn(t, eventstore.WithBatchObserver(&sizes))
	x := created("x")
	if _, err := s.Append(t.Context(), []domain.Event{x}, fresh([]domain.Event{x})); err != nil {
		t.Fatal(err)
	}
	sizes.take()
	xID := domain.StreamOf(x.Data)
	at := func(seq uint64) map[domain.StreamID]domain.Position {
		return map[domain.StreamID]domain.Position{xID: {Seq: seq}}
	}
	seqs, errs := appendQueued(t, s, []call{
		{[]domain.Event{cancelled("x", "first")}, at(1)},
		{[]domain.Event{cancelled("x", "same-expectation")}, at(1)},
		{[]domain.Event{cancelled("x", "after-first")}, at(2)},
	})
	if errs[0] != nil || seqs[0] != 2 {
		t.Fatalf("first: %d, %v; want 2", seqs[0], errs[0])
	}
	if !errors.Is(errs[1], domain.ErrConflict) {
		t.Fatalf("the same expectation as the first: %d, %v; want ErrConflict", seqs[1], errs[1])
	}
	if errs[2] != nil || seqs[2] != 3 {
		t.Fatalf("expecting the first's position: %d, %v; want 3", seqs[2], errs[2])
	}
	if got := sizes.take(); !slices.Equal(got, []int{1, 1}) {
		t.Fatalf("batches committed %v; want [1 1]", got)
	}
}

// A bulk append of 100 events shares batches with singles and is stored
// whole, its events one after the other; with one stale expectation it is
// refused whole, and the singles around it are stored all the same.
func TestBulkAppendSharesBatchesWithSingles(t *testing.T) {
	var sizes batchSizes
	s, nc, keys := newStoreConn(t, eventstore.WithBatchObserver(&sizes))
	replica, err := eventstore.New(nc, keys)
	if err != nil {
		t.Fatal(err)
	}
	bulk := func(prefix string) []domain.Event {
		var events []domain.Event
		for k := range 50 {
			events = append(events, invite(fmt.Sprint(prefix, k))...)
		}
		return events
	}
	round := func(name string, bulk call) ([]call, []uint64, []error) {
		calls := []call{bulk}
		for i := range 20 {
			events := []domain.Event{created(fmt.Sprint(name, "-single", i))}
			calls = append(calls, call{events, fresh(events)})
		}
		// The bulk in the middle of the singles.
		calls[0], calls[10] = calls[10], calls[0]
		seqs, errs := appendQueued(t, s, calls)
		return calls, seqs, errs
	}

	whole := bulk("whole")
	calls, seqs, errs := round("a", call{whole, fresh(whole)})
	for i, c := range calls {
		if errs[i] != nil {
			t.Fatalf("append %d: %v", i, errs[i])
		}
		wantStoredAt(t, s, c.events, seqs[i])
	}
	if got := sizes.take(); slices.Max(got) < 2 {
		t.Fatalf("batches committed %v: the bulk shared none", got)
	}
	wantLast(t, s, 100+20)

	// A slot of the second bulk is taken by another replica first.
	stale := bulk("stale")
	taken := stale[len(stale)-1]
	taken.ID = "taken-by-replica"
	if _, err := replica.Append(t.Context(), []domain.Event{taken}, fresh([]domain.Event{taken})); err != nil {
		t.Fatal(err)
	}
	calls, seqs, errs = round("b", call{stale, fresh(stale)})
	if !errors.Is(errs[10], domain.ErrConflict) {
		t.Fatalf("the stale bulk: %d, %v; want ErrConflict", seqs[10], errs[10])
	}
	for i, c := range calls {
		if i == 10 {
			for _, e := range c.events[:len(c.events)-1] {
				if got, _, _ := s.Load(t.Context(), domain.StreamOf(e.Data)); len(got) != 0 {
					t.Fatalf("the refused bulk's %s is stored", e.ID)
				}
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("single %d: %v", i, errs[i])
		}
		wantStoredAt(t, s, c.events, seqs[i])
	}
	wantLast(t, s, 100+20+1+20)
}

// Batches hold at most the server's messages a batch (1000 by default):
// appends of 30 events go at most 33 a batch; one append of more than 1000
// is refused alone, as the caller's mistake, and the others are stored.
func TestBatchesHoldAtMost1000Messages(t *testing.T) {
	var sizes batchSizes
	s, _, _ := newStoreConn(t, eventstore.WithBatchObserver(&sizes))
	var calls []call
	for i := range 40 {
		var events []domain.Event
		for k := range 15 {
			events = append(events, invite(fmt.Sprint("b", i, "-", k))...)
		}
		calls = append(calls, call{events, fresh(events)})
	}
	var huge []domain.Event
	for k := range 1001 {
		huge = append(huge, created(fmt.Sprint("huge", k)))
	}
	calls = slices.Insert(calls, 20, call{huge, fresh(huge)})
	seqs, errs := appendQueued(t, s, calls)
	if errs[20] == nil || errors.Is(errs[20], domain.ErrConflict) || errors.Is(errs[20], domain.ErrUnavailable) {
		t.Fatalf("1001 events: %d, %v; want a plain error", seqs[20], errs[20])
	}
	for i, c := range calls {
		if i == 20 {
			continue
		}
		if errs[i] != nil {
			t.Fatalf("append %d: %v", i, errs[i])
		}
		wantStoredAt(t, s, c.events, seqs[i])
	}
	got := sizes.take()
	if sum(got) != 40 || slices.Max(got) > 1000/30 {
		t.Fatalf("batches committed %v; want 40 appends, at most 33 a batch", got)
	}
	wantLast(t, s, 40*30)
}

// A server with a lower limit of messages a batch refuses a larger batch
// naming its limit: the store splits that batch, and sends no larger
// batch afterwards.
func TestBatchesLearnTheServersLimit(t *testing.T) {
	var sizes batchSizes
	s, _, _ := newStoreOn(t, func(c *eventstore.EmbeddedConfig) { c.Limits.MaxBatchSize = 10 }, eventstore.WithBatchObserver(&sizes))
	for round := range 2 {
		var calls []call
		for i := range 10 {
			events := append(invite(fmt.Sprint(round, "-", i)), created(fmt.Sprint(round, "-", i, "-other")))
			calls = append(calls, call{events, fresh(events)})
		}
		seqs, errs := appendQueued(t, s, calls)
		for i, c := range calls {
			if errs[i] != nil {
				t.Fatalf("round %d, append %d: %v", round, i, errs[i])
			}
			wantStoredAt(t, s, c.events, seqs[i])
		}
		if got := sizes.take(); sum(got) != 10 || slices.Max(got) > 3 {
			t.Fatalf("round %d: batches committed %v; want 10 appends, at most 3 (9 messages) a batch", round, got)
		}
	}
	wantLast(t, s, 2*10*3)
}

// openBatch opens an atomic batch on the stream past the store, holding
// one of the server's batches in flight until the returned commit.
func openBatch(t *testing.T, nc *nats.Conn, id string) (commit func()) {
	t.Helper()
	msg := func(seq int) *nats.Msg {
		m := nats.NewMsg("invitations.acme." + id + ".created")
		m.Data = []byte("{}")
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", fmt.Sprint(seq))
		return m
	}
	if reply, err := nc.RequestMsg(msg(1), time.Second); err != nil || len(reply.Data) != 0 {
		t.Fatalf("open batch %s: %v %s", id, err, reply.Data)
	}
	return func() {
		m := msg(2)
		m.Header.Set("Nats-Batch-Commit", "1")
		if reply, err := nc.RequestMsg(m, time.Second); err != nil || !strings.Contains(string(reply.Data), `"seq"`) {
			t.Fatalf("commit batch %s: %v %s", id, err, reply.Data)
		}
	}
}

// A server at its limit of batches in flight refuses a batch's first
// message (10210) and then its commit (10176, incomplete): the store hears
// the first refusal, and sends the batch again until the server takes it;
// if it does not within the store's bound, the append is unavailable (503,
// to retry), never a plain error, and nothing was written.
func TestBatchesInFlightLimit(t *testing.T) {
	s, nc, _ := newStoreOn(t, func(c *eventstore.EmbeddedConfig) { c.Limits.MaxBatchInflightPerStream = 1 })

	commit := openBatch(t, nc, "blocker1")
	first := invite("first")
	done := make(chan error, 1)
	var seq uint64
	go func() {
		var err error
		seq, err = s.Append(context.Background(), first, fresh(first))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("appended while the server had no batch to spare: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	commit()
	if err := <-done; err != nil {
		t.Fatalf("once the server had a batch to spare: %v", err)
	}
	wantStoredAt(t, s, first, seq)

	commit = openBatch(t, nc, "blocker2")
	second := invite("second")
	start := time.Now()
	_, err := s.Append(t.Context(), second, fresh(second))
	if !errors.Is(err, domain.ErrUnavailable) || !strings.Contains(err.Error(), "10210") {
		t.Fatalf("with no batch to spare for %s: %v; want ErrUnavailable naming 10210", time.Since(start), err)
	}
	commit()
	if got, _, _ := s.Load(t.Context(), domain.StreamOf(second[0].Data)); len(got) != 0 {
		t.Fatalf("the unavailable append was written: %v", got)
	}
	// Nothing was written, so the same events append as new.
	if seq, err = s.Append(t.Context(), second, fresh(second)); err != nil {
		t.Fatal(err)
	}
	wantStoredAt(t, s, second, seq)
}

// 64 writers append at once, each its own invitations and, with a retry
// on every lost race, to four shared slots: every acknowledged append is
// in the stream once, at the sequences it was answered, nothing else is,
// and the appends shared batches.
func TestConcurrentAppendsAreStoredOnce(t *testing.T) {
	var sizes batchSizes
	s, _, _ := newStoreConn(t, eventstore.WithBatchObserver(&sizes))
	const writers, rounds = 64, 3
	type acked struct {
		events []domain.Event
		seq    uint64
	}
	results := make([][]acked, writers)
	errs := make([]error, writers)
	hot := func(k int) domain.StreamID {
		return domain.StreamOf(reservedFor("hot", fmt.Sprint(k)).Data)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				if r%2 == 0 {
					events := invite(fmt.Sprint("w", w, "-r", r))
					seq, err := s.Append(t.Context(), events, fresh(events))
					if err != nil {
						errs[w] = err
						return
					}
					results[w] = append(results[w], acked{events, seq})
					continue
				}
				for attempt := 0; ; attempt++ {
					slot := hot((w + r) % 4)
					_, pos, err := s.Load(t.Context(), slot)
					if err != nil {
						errs[w] = err
						return
					}
					e := reservedFor("hot", fmt.Sprint((w+r)%4))
					e.ID = fmt.Sprint("hot-w", w, "-r", r, "-a", attempt)
					seq, err := s.Append(t.Context(), []domain.Event{e}, map[domain.StreamID]domain.Position{slot: pos})
					if errors.Is(err, domain.ErrConflict) {
						continue
					}
					if err != nil {
						errs[w] = err
						return
					}
					results[w] = append(results[w], acked{[]domain.Event{e}, seq})
					break
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	want := map[string]uint64{} // event id -> the sequence it was answered at
	for _, rs := range results {
		for _, a := range rs {
			for k, e := range a.events {
				want[e.ID] = a.seq - uint64(len(a.events)-1-k)
			}
		}
	}
	stored := map[string]uint64{}
	aggregates := []domain.StreamID{hot(0), hot(1), hot(2), hot(3)}
	for w := range writers {
		for r := 0; r < rounds; r += 2 {
			for _, e := range invite(fmt.Sprint("w", w, "-r", r)) {
				aggregates = append(aggregates, domain.StreamOf(e.Data))
			}
		}
	}
	for _, id := range aggregates {
		events, _, err := s.Load(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if _, twice := stored[e.ID]; twice {
				t.Fatalf("event %s stored twice", e.ID)
			}
			stored[e.ID] = e.Sequence
		}
	}
	for id, seq := range want {
		if stored[id] != seq {
			t.Fatalf("acknowledged event %s at %d; stored at %d", id, seq, stored[id])
		}
	}
	if len(stored) != len(want) {
		t.Fatalf("%d events stored; %d acknowledged", len(stored), len(want))
	}
	wantLast(t, s, uint64(len(want)))
	got := sizes.take()
	if slices.Max(got) < 2 {
		t.Fatalf("batches committed %v: no appends shared one", got)
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// BenchmarkAppend measures appends of a create (two events, aggregates of
// their own) from 64 writers, with no loads: what group commit takes, by
// batches in flight, beside one batch an append (as before group commit)
// and beside raw synchronous publishes of one event-sized message.
//
//	go test -run '^$' -bench Append -benchtime 3000x ./transport/eventstore/
func BenchmarkAppend(b *testing.B) {
	b.Run("raw-publish", func(b *testing.B) {
		_, nc := testkit.JetStreamWith(b, func(c *eventstore.EmbeddedConfig) { c.SyncAlways = true })
		body, err := domain.MarshalCloudEvent(created("raw"))
		if err != nil {
			b.Fatal(err)
		}
		concurrently(b, func(i int64) error {
			_, err := nc.Request(fmt.Sprint("invitations.acme.raw", i, ".created"), body, 2*time.Second)
			return err
		})
	})
	for _, tc := range []struct {
		name   string
		limits eventstore.BatchLimits
	}{
		{"one-batch-an-append", eventstore.BatchLimits{Messages: 2, InFlight: 50}},
		{"inflight-1", eventstore.BatchLimits{InFlight: 1}},
		{"inflight-2", eventstore.BatchLimits{InFlight: 2}},
		{"inflight-4", eventstore.BatchLimits{InFlight: 4}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var sizes batchSizes
			_, nc := testkit.JetStreamWith(b, func(c *eventstore.EmbeddedConfig) { c.SyncAlways = true })
			s, err := eventstore.New(nc, testkit.Keys(b), eventstore.WithBatchLimits(tc.limits), eventstore.WithBatchObserver(&sizes))
			if err != nil {
				b.Fatal(err)
			}
			concurrently(b, func(i int64) error {
				events := invite(fmt.Sprint(tc.name, i))
				_, err := s.Append(context.Background(), events, fresh(events))
				return err
			})
			got := sizes.take()
			b.ReportMetric(float64(sum(got))/float64(len(got)), "appends/batch")
		})
	}
}

// concurrently runs op b.N times from 64 goroutines and reports the rate.
func concurrently(b *testing.B, op func(i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
