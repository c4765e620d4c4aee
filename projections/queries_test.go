package projections_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
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
				_, _, err := q.Organization(ctx, "acme")
				if err == nil {
					_, err = q.Invitations(ctx, "acme", projections.StatusAll, projections.PageRequest{Limit: 10})
				}
				if err != nil {
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
	if _, _, err := q.Organization(ctx, "acme"); !errors.Is(err, projections.ErrRebuilding) || !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("a store that went back answered %v", err)
	}
	// Lists check the checkpoint their scans read.
	if _, err := q.Invitations(ctx, "acme", projections.StatusAll, projections.PageRequest{Limit: 10}); !errors.Is(err, projections.ErrRebuilding) {
		t.Fatalf("a list of a store that went back answered %v", err)
	}
	if _, err := q.Members(ctx, "acme", projections.PageRequest{Limit: 10}); !errors.Is(err, projections.ErrRebuilding) {
		t.Fatalf("a list of a store that went back answered %v", err)
	}
	lost.cp.Store(2000)
	if _, err := q.Members(ctx, "acme", projections.PageRequest{Limit: 10}); err != nil {
		t.Fatal(err)
	}
}

// rewound is a store whose checkpoint the test sets.
type rewound struct {
	projections.Store
	cp atomic.Uint64
}

func (r *rewound) Checkpoint(context.Context) (uint64, error) { return r.cp.Load(), nil }

func (r *rewound) Invitations(ctx context.Context, org string, b projections.Bucket, cursor uint64, d projections.Direction, n int) (projections.Scan[projections.Invitation], error) {
	sc, err := r.Store.Invitations(ctx, org, b, cursor, d, n)
	sc.Checkpoint = r.cp.Load()
	return sc, err
}

func (r *rewound) Members(ctx context.Context, org string, cursor uint64, d projections.Direction, n int) (projections.Scan[projections.Member], error) {
	sc, err := r.Store.Members(ctx, org, cursor, d, n)
	sc.Checkpoint = r.cp.Load()
	return sc, err
}
