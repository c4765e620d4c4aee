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
	p := projections.NewProjector(store, quiet())
	var wg sync.WaitGroup
	var seen atomic.Int64
	for range 200 {
		wg.Go(func() {
			if p.WaitFor(ctx, 1); p.Applied() >= 1 {
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
