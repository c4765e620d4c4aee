package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/consumer"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// orderedLog stands for a store shared by replicas: it takes the next
// position only, steps over what it has, and refuses a gap.
type orderedLog struct {
	mu         sync.Mutex
	checkpoint uint64
	gaps       int
	by         map[string]int // events applied by each replica
	types      []string
}

func newLog() *orderedLog { return &orderedLog{by: map[string]int{}} }

func (l *orderedLog) resume(context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkpoint + 1, nil
}

var errGap = errors.New("gap")

// apply applies a batch, or refuses it at a gap.
func (l *orderedLog) apply(replica string, events []domain.Delivered) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range events {
		switch {
		case e.Sequence <= l.checkpoint:
		case e.Sequence == l.checkpoint+1:
			l.checkpoint++
			l.by[replica]++
			l.types = append(l.types, e.Type)
		default:
			l.gaps++
			return errGap
		}
	}
	return nil
}

func (l *orderedLog) at() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkpoint
}

func (l *orderedLog) waitFor(t *testing.T, n uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for l.at() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the log holds %d of %d events after %s", l.at(), n, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type stream struct {
	nc   *nats.Conn
	es   *eventstore.Store
	js   jetstream.JetStream
	keys eventstore.Keys
}

func newStream(t *testing.T) stream {
	_, nc := testkit.JetStream(t)
	keys := testkit.Keys(t)
	es, err := eventstore.New(nc, keys)
	if err != nil {
		t.Fatal(err)
	}
	return stream{nc: nc, es: es, js: es.JetStream(), keys: keys}
}

// appendInvitations appends invitation.created events for invitations from..to-1.
func (s stream) appendInvitations(t *testing.T, from, to int) {
	t.Helper()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := from; i < to; i++ {
		id := fmt.Sprintf("i%d", i)
		e := domain.NewEvent("ev-"+id, now, domain.InvitationCreated{OrganizationID: "acme", InvitationID: id,
			Email: id + "@example.com", Role: domain.RoleMember, TokenSHA256: domain.SHA256(id), ExpiresAt: now.Add(time.Hour), Actor: "u1"})
		if _, err := s.es.Append(t.Context(), []domain.Event{e}, map[domain.StreamID]domain.Position{domain.StreamOf(e.Data): {}}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitPulling waits until n pull requests wait on the durable consumer.
func (s stream) waitPulling(t *testing.T, durable string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := s.js.Consumer(t.Context(), eventstore.StreamName, durable)
		if err == nil && c.CachedInfo().NumWaiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d replicas pull from %s after 10 s", n, durable)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func start(t *testing.T, cfg consumer.Config) *consumer.Runner {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test-handler"
	}
	cfg.Logger = quiet
	r, err := consumer.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// TestReplicasKeepTheOrder runs two replicas' runners on one durable
// consumer while events are appended: the shared log gets every event in
// order, with no gap, from one replica at a time; when the replica holding
// the consumer stops, the other carries on at once, not after the pin's
// time-out.
func TestReplicasKeepTheOrder(t *testing.T) {
	s := newStream(t)
	log := newLog()
	runners := map[string]*consumer.Runner{}
	for _, name := range []string{"a", "b"} {
		runners[name] = start(t, consumer.Config{JetStream: s.js, Durable: "replicas-test", Resume: log.resume,
			Handle: func(_ context.Context, events []domain.Delivered) error { return log.apply(name, events) }})
	}
	// A replica that starts fresh takes the pin from one that may have died
	// holding it: let both be pulling before the events come.
	s.waitPulling(t, "replicas-test", 2)
	s.appendInvitations(t, 0, 600)
	log.waitFor(t, 600, 30*time.Second)
	log.mu.Lock()
	gaps, by := log.gaps, maps.Clone(log.by)
	log.mu.Unlock()
	if gaps != 0 {
		t.Fatalf("%d batches came with a gap", gaps)
	}
	if len(by) != 1 {
		t.Fatalf("both replicas applied events while the consumer was pinned: %v", by)
	}
	var holder string
	for name := range by {
		holder = name
	}

	// The holder stops; the other gets what follows well before the pin's
	// 10 s time-out would have passed.
	if err := runners[holder].Close(); err != nil {
		t.Fatal(err)
	}
	s.appendInvitations(t, 600, 700)
	log.waitFor(t, 700, 4*time.Second)
	log.mu.Lock()
	gaps, by = log.gaps, maps.Clone(log.by)
	log.mu.Unlock()
	if gaps != 0 || by[holder] != 600 {
		t.Fatalf("after %s stopped: %d gaps, applied %v", holder, gaps, by)
	}
}

// TestFailingBatchesAreNeverDropped makes the handler panic, then fail,
// more often than the retries allow: the events are fed again from the
// checkpoint until the handler takes them, none is skipped, and the
// refeeds are counted.
func TestFailingBatchesAreNeverDropped(t *testing.T) {
	s := newStream(t)
	log := newLog()
	var calls atomic.Int64
	r := start(t, consumer.Config{JetStream: s.js, Resume: log.resume,
		Handle: func(_ context.Context, events []domain.Delivered) error {
			switch n := calls.Add(1); {
			case n <= 3:
				panic("handler bug")
			case n <= 12:
				return errors.New("store down")
			}
			return log.apply("only", events)
		}})
	s.appendInvitations(t, 0, 50)
	log.waitFor(t, 50, 30*time.Second)
	if log.gaps != 0 || len(log.types) != 50 {
		t.Fatalf("%d gaps, %d events applied", log.gaps, len(log.types))
	}
	if r.Refeeds() == 0 {
		t.Fatal("12 failures in a row (more than the retries) were not counted as a refeed")
	}
}

// TestNotRetryableFailureIsFedAgainAtOnce: a failure the handler calls
// not retryable (a gap) is not retried in place but fed again from Resume.
func TestNotRetryableFailureIsFedAgainAtOnce(t *testing.T) {
	s := newStream(t)
	log := newLog()
	s.appendInvitations(t, 0, 20)
	var first atomic.Bool
	first.Store(true)
	var calls atomic.Int64
	r := start(t, consumer.Config{JetStream: s.js, Resume: log.resume,
		Retryable: func(err error) bool { return !errors.Is(err, errGap) },
		Handle: func(_ context.Context, events []domain.Delivered) error {
			calls.Add(1)
			if first.Swap(false) {
				return errGap
			}
			return log.apply("only", events)
		}})
	log.waitFor(t, 20, 10*time.Second)
	if r.Refeeds() != 1 {
		t.Fatalf("refeeds = %d, want 1", r.Refeeds())
	}
}

// TestUndecodableEventsReachTheHandler publishes an event of a type this
// build does not know between two known ones: the handler gets all three
// in order, the unknown one with its decoding error.
func TestUndecodableEventsReachTheHandler(t *testing.T) {
	s := newStream(t)
	log := newLog()
	var mu sync.Mutex
	var got []domain.Delivered
	start(t, consumer.Config{JetStream: s.js, Resume: log.resume,
		Handle: func(_ context.Context, events []domain.Delivered) error {
			mu.Lock()
			got = append(got, events...)
			mu.Unlock()
			return log.apply("only", events)
		}})
	s.appendInvitations(t, 0, 1)
	future := `{"specversion":"1.0","id":"x","source":"/organizations/acme","type":"invitation.teleported","revision":1,"data":{}}`
	if _, err := s.js.Publish(t.Context(), "invitations.acme.i9.teleported", []byte(future)); err != nil {
		t.Fatal(err)
	}
	s.appendInvitations(t, 1, 2)
	log.waitFor(t, 3, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0].Err != nil || got[2].Err != nil || !errors.Is(got[1].Err, domain.ErrUnknownEvent) {
		t.Fatalf("delivered %+v", got)
	}
	if got[1].Sequence != 2 || got[1].Subject != "invitations.acme.i9.teleported" || got[2].Type != domain.TypeInvitationCreated {
		t.Fatalf("positions: %+v", got)
	}
	// The handler gets each event as stored with its signature headers:
	// the appended ones verify, the one published past the store has none.
	for _, i := range []int{0, 2} {
		if err := s.keys.Keyring.Verify(got[i].Subject, got[i].Data, got[i].KeyID, got[i].Signature); err != nil {
			t.Fatalf("event %d: %v", got[i].Sequence, err)
		}
	}
	if got[1].KeyID != "" || got[1].Signature != nil || string(got[1].Data) != future {
		t.Fatalf("unsigned event delivered with %q, %x, %s", got[1].KeyID, got[1].Signature, got[1].Data)
	}
}

// TestLostStoreIsFedAgain: when Lost reports that the store lost what it
// had, the runner feeds it again from Resume.
func TestLostStoreIsFedAgain(t *testing.T) {
	s := newStream(t)
	log := newLog()
	var lose atomic.Bool
	start(t, consumer.Config{JetStream: s.js, Resume: log.resume,
		Handle: func(_ context.Context, events []domain.Delivered) error { return log.apply("only", events) },
		Lost: func(context.Context) bool {
			if !lose.Swap(false) {
				return false
			}
			log.mu.Lock()
			log.checkpoint = 0 // flushed
			log.mu.Unlock()
			return true
		}})
	s.appendInvitations(t, 0, 30)
	log.waitFor(t, 30, 10*time.Second)
	lose.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for lose.Load() || log.at() < 30 {
		if time.Now().After(deadline) {
			t.Fatalf("after the loss the log holds %d of 30 events", log.at())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if log.by["only"] != 60 {
		t.Fatalf("applied %d events, want 30 twice", log.by["only"])
	}
}

// A handler may take longer than the ack wait (a mailer waiting for its
// SMTP server): its batch is said to be in progress, never delivered again
// meanwhile. With KeepDurable, a replica starting while another holds
// events in flight keeps the consumer as it stands: nothing is handed out
// twice.
func TestSlowHandlerKeepsItsBatch(t *testing.T) {
	testkit.NeedsServers(t)
	s := newStream(t)
	s.appendInvitations(t, 0, 3)
	const durable = "test-mailer"
	var mu sync.Mutex
	seen := map[uint64]int{}
	release := make(chan struct{})
	handle := func(_ context.Context, events []domain.Delivered) error {
		mu.Lock()
		for _, e := range events {
			seen[e.Sequence]++
		}
		mu.Unlock()
		<-release
		return nil
	}
	resume := func(context.Context) (uint64, error) { return 1, nil }
	first := start(t, consumer.Config{JetStream: s.js, Durable: durable, KeepDurable: true, Resume: resume, Handle: handle})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first replica has %d events", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	info := func() *jetstream.ConsumerInfo {
		c, err := s.js.Consumer(t.Context(), eventstore.StreamName, durable)
		if err != nil {
			t.Fatal(err)
		}
		return c.CachedInfo()
	}
	created := info().Created
	second := start(t, consumer.Config{JetStream: s.js, Durable: durable, KeepDurable: true, Resume: resume, Handle: handle})
	time.Sleep(7 * time.Second) // beyond the ack wait of 5 s
	close(release)
	deadline = time.Now().Add(10 * time.Second)
	for info().NumAckPending > 0 || info().AckFloor.Stream < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("not acknowledged: %+v", info())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for seq := uint64(1); seq <= 3; seq++ {
		if seen[seq] != 1 {
			t.Errorf("event %d handled %d times", seq, seen[seq])
		}
	}
	if !info().Created.Equal(created) || first.Redeliveries()+second.Redeliveries() != 0 {
		t.Errorf("consumer made anew (%v, was %v) or events delivered again (%d)", info().Created, created, first.Redeliveries()+second.Redeliveries())
	}
}
