package eventstore_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// orderedLog stands for a read store shared by replicas: it takes the next
// position only, steps over what it has, and refuses a gap.
type orderedLog struct {
	mu         sync.Mutex
	checkpoint uint64
	gaps       int
	by         map[string]int // events applied by each replica
}

func (l *orderedLog) resume(context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkpoint + 1, nil
}

// apply applies a batch, or reports the gap that makes it refuse it.
func (l *orderedLog) apply(replica string, events []projections.RawEvent) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range events {
		switch {
		case e.Sequence <= l.checkpoint:
		case e.Sequence == l.checkpoint+1:
			l.checkpoint++
			l.by[replica]++
		default:
			l.gaps++
			return false
		}
	}
	return true
}

func (l *orderedLog) at() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkpoint
}

// TestSubscriberReplicasKeepTheOrder runs two replicas' subscribers on one
// durable consumer while events are appended: the shared log gets every
// event in order, with no gap, from one replica at a time; when the replica
// holding the consumer stops, the other carries on at once, not after the
// pin's time-out.
func TestSubscriberReplicasKeepTheOrder(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	log := &orderedLog{by: map[string]int{}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	subs := map[string]*eventstore.Subscriber{}
	for _, name := range []string{"a", "b"} {
		sub := eventstore.NewSubscriber(s.JetStream(), "read-models-test", log.resume, logger)
		subs[name] = sub
		msgs, err := sub.Subscribe(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for msg := range msgs {
				events, err := projections.DecodeBatch(msg.Payload)
				if err == nil && log.apply(name, events) {
					msg.Ack()
				} else {
					msg.Nack()
				}
			}
		}()
	}
	appendEvents := func(from, to int) {
		for i := from; i < to; i++ {
			id := fmt.Sprintf("i%d", i)
			if _, err := s.Append(ctx, []domain.Event{created(id)}, at(map[domain.StreamID]uint64{domain.StreamOf(created(id).Data): 0})); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor := func(n uint64, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for log.at() < n {
			if time.Now().After(deadline) {
				t.Fatalf("the log holds %d of %d events after %s", log.at(), n, within)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	appendEvents(0, 600)
	waitFor(600, 30*time.Second)
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
	subs[holder].Close()
	appendEvents(600, 700)
	waitFor(700, 4*time.Second)
	log.mu.Lock()
	gaps, by = log.gaps, maps.Clone(log.by)
	log.mu.Unlock()
	if gaps != 0 || by[holder] != 600 {
		t.Fatalf("after %s stopped: %d gaps, applied %v", holder, gaps, by)
	}
	for _, sub := range subs {
		sub.Close()
	}
}

var _ message.Subscriber = (*eventstore.Subscriber)(nil)
