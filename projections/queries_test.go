package projections_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/projections"
)

// TestQueriesRefuseOnlyAStoreThatWentBack: readers racing a projector that
// moves on are never refused; a store whose checkpoint went back is.
func TestQueriesRefuseOnlyAStoreThatWentBack(t *testing.T) {
	ctx := context.Background()
	store := projections.NewMemoryStore()
	q := projections.NewQueries(store, time.Now)
	var wg sync.WaitGroup
	wg.Go(func() {
		for pos := uint64(1); pos <= 2000; pos++ {
			if err := store.Apply(ctx, projections.Write{Position: pos}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 8 {
		wg.Go(func() {
			for range 500 {
				if _, _, err := q.Organization(ctx, "acme"); err != nil {
					t.Errorf("refused while the store only moved forward: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	// The same queries over a store whose checkpoint goes back.
	lost := &rewound{Store: store}
	q = projections.NewQueries(lost, time.Now)
	lost.cp.Store(2000)
	if _, _, err := q.Organization(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	lost.cp.Store(3)
	if _, _, err := q.Organization(ctx, "acme"); !errors.Is(err, projections.ErrRebuilding) || !errors.Is(err, projections.ErrUnavailable) {
		t.Fatalf("a store that went back answered %v", err)
	}
}

// rewound is a store whose checkpoint the test sets.
type rewound struct {
	projections.Store
	cp atomic.Uint64
}

func (r *rewound) Checkpoint(context.Context) (uint64, error) { return r.cp.Load(), nil }
