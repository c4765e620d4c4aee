package projections_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/projections"
)

// countingStore records how many Checkpoint reads run at once.
type countingStore struct {
	projections.Store
	inFlight, most atomic.Int64
}

func (s *countingStore) Checkpoint(ctx context.Context) (uint64, error) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		most := s.most.Load()
		if n <= most || s.most.CompareAndSwap(most, n) {
			break
		}
	}
	time.Sleep(100 * time.Microsecond) // a round trip, so that overlapping reads would show
	return s.Store.Checkpoint(ctx)
}

// TestWaitForSharesOneCheckpointReader has many commands wait for an event
// that another replica applies to the shared store: all of them see it, and
// the store's checkpoint is never read by more than one of them at a time.
func TestWaitForSharesOneCheckpointReader(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: projections.NewMemoryStore()}
	w := projections.NewWaiter(store, quiet())
	var wg sync.WaitGroup
	var seen atomic.Int64
	for range 200 {
		wg.Go(func() {
			if w.WaitFor(ctx, 1); w.Applied() >= 1 {
				seen.Add(1)
			}
		})
	}
	time.Sleep(20 * time.Millisecond) // let them all wait
	// Another replica's projector writes to the store directly.
	if err := store.Store.Apply(ctx, projections.Write{Position: 1, Organization: &projections.Organization{ID: "acme", Name: "Acme"}}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if seen.Load() != 200 {
		t.Fatalf("%d of 200 waiters saw the event", seen.Load())
	}
	if most := store.most.Load(); most != 1 {
		t.Fatalf("%d checkpoint reads at once; want 1", most)
	}
}

// TestWaiterFollowsTheProjector: a waiter wakes when this process's
// projector advances, without reading the store; Reset lowers what it
// believes applied, so that later waiters wait for the rebuild.
func TestWaiterFollowsTheProjector(t *testing.T) {
	ctx := context.Background()
	w := projections.NewWaiter(projections.NewMemoryStore(), quiet())
	woke := make(chan struct{})
	go func() {
		w.WaitFor(ctx, 5)
		close(woke)
	}()
	w.Advance(4)
	select {
	case <-woke:
		t.Fatal("WaitFor(5) returned at 4")
	case <-time.After(20 * time.Millisecond):
	}
	w.Advance(5)
	select {
	case <-woke:
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor(5) did not return once 5 was applied")
	}
	w.Advance(3) // never goes back on its own
	if w.Applied() != 5 {
		t.Fatalf("Applied = %d after advancing to 3 past 5", w.Applied())
	}
	w.Reset(2)
	if w.Applied() != 2 {
		t.Fatalf("Applied = %d after Reset(2)", w.Applied())
	}
}
