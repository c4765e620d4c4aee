package eventstore

import (
	"context"

	"github.com/invitesvc/invitesvc/domain"
)

// CachedAggregates is how many aggregates s keeps.
func CachedAggregates(s *Store) int {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.lru.Len()
}

// TestCache is a store's cache alone, to measure what its entries cost.
type TestCache struct{ c *aggregateCache }

func NewCacheForTest(size int) TestCache { return TestCache{newAggregateCache(size)} }

// Put keeps events as id's, as a load that read them would.
func (c TestCache) Put(id domain.StreamID, events []domain.Recorded) {
	last := events[len(events)-1]
	c.c.put(id, events, domain.Position{Seq: last.Sequence, SHA256: last.SHA256}, c.c.loadBegins(id))
}

// ScanAggregate loads id as Load did before issue 12: a scan of its
// wildcard filter from the start of the stream.
func ScanAggregate(ctx context.Context, s *Store, id domain.StreamID) ([]domain.Recorded, domain.Position, error) {
	events, err := s.scanAll(ctx, []string{Filter(id)})
	return events, positionOf(events), err
}
