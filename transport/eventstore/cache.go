package eventstore

import (
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/nats-io/nats.go"

	"github.com/invitesvc/invitesvc/domain"
)

// The aggregate cache keeps the events and position of the aggregates a
// store loaded or wrote last, so that a command loads them without asking
// the server. It needs no invalidation to be safe for writes: every append
// expects each aggregate it writes at the position its decision read, so
// an entry gone stale (another replica wrote since) makes the append fail
// as a conflict, which drops the entries of that append's aggregates, and
// the command's retry reads them afresh. A decision that writes nothing
// (a refusal, an idempotent repeat) is not checked by an append: commands
// ask Fresh before answering one.
//
// What an entry costs is measured by TestCacheEntryCost; aggregates of more
// than maxCachedEvents events are not kept. An entry is trusted for
// cacheMaxAge after it was read from or written to the stream: what a
// command shows of an aggregate it does not write (an organization's name
// in a create's answer) is at most that old.
type aggregateCache struct {
	mu  sync.Mutex
	lru *simplelru.LRU[domain.StreamID, *cachedAggregate]
	// changes counts, per stripe of aggregates, the appends and drops that
	// touched them: a load that began before one may hold what it changed,
	// and is not kept.
	changes [changeStripes]uint64
	seed    maphash.Seed
	now     func() time.Time
}

type cachedAggregate struct {
	events []domain.Recorded
	pos    domain.Position
	until  time.Time
}

const (
	// DefaultCacheSize is how many aggregates a store keeps unless told
	// otherwise (WithCache).
	DefaultCacheSize = 20_000
	cacheMaxAge      = 10 * time.Second
	maxCachedEvents  = 64
	changeStripes    = 1024
)

// newAggregateCache keeps up to size aggregates; none (nil) for 0 or less.
func newAggregateCache(size int) *aggregateCache {
	if size <= 0 {
		return nil
	}
	lru, err := simplelru.NewLRU[domain.StreamID, *cachedAggregate](size, nil)
	if err != nil {
		panic(err) // size > 0
	}
	return &aggregateCache{lru: lru, seed: maphash.MakeSeed(), now: time.Now}
}

// WithCache has the store keep up to aggregates aggregates in memory (0 or
// less: none, every load reads the stream).
func WithCache(aggregates int) Option {
	return func(s *Store) { s.cache = newAggregateCache(aggregates) }
}

// get returns id's cached events and position. The events are shared:
// callers read them and change nothing.
func (c *aggregateCache) get(id domain.StreamID) ([]domain.Recorded, domain.Position, bool) {
	if c == nil {
		return nil, domain.Position{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(id)
	if !ok || c.now().After(e.until) {
		return nil, domain.Position{}, false
	}
	return slices.Clip(e.events), e.pos, true
}

func (c *aggregateCache) changed(id domain.StreamID) *uint64 {
	return &c.changes[maphash.Comparable(c.seed, id)%changeStripes]
}

// loadBegins marks the start of a load of id from the stream, for put.
func (c *aggregateCache) loadBegins(id domain.StreamID) uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.changed(id)
}

// put keeps what a load of id that began at mark read, unless an append
// or a drop touched id since, or the entry kept is further on.
func (c *aggregateCache) put(id domain.StreamID, events []domain.Recorded, pos domain.Position, mark uint64) {
	if c == nil || len(events) > maxCachedEvents {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if *c.changed(id) != mark {
		return
	}
	if e, ok := c.lru.Peek(id); ok && e.pos.Seq > pos.Seq {
		return
	}
	c.lru.Add(id, &cachedAggregate{events: slices.Clip(events), pos: pos, until: c.now().Add(cacheMaxAge)})
}

// drop forgets the aggregates ids.
func (c *aggregateCache) drop(ids ...domain.StreamID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		c.dropLocked(id)
	}
}

func (c *aggregateCache) dropLocked(id domain.StreamID) {
	c.lru.Remove(id)
	*c.changed(id)++
}

// appended is told how an append of msgs (in order, the last stored at
// last) with expected positions ended. Written, the aggregates cached at
// their expected position, and those expected to have no event, take the
// events as stored; every other outcome drops the append's aggregates: a
// lost race says an entry may be stale, an unanswered append may or may
// not be written, and a repeated event (duplicate) was stored before,
// perhaps not as these bytes.
func (c *aggregateCache) appended(expected map[domain.StreamID]domain.Position, msgs []*nats.Msg, last uint64, duplicate bool, err error) {
	if c == nil {
		return
	}
	var stored []domain.Recorded
	if err == nil && !duplicate {
		stored, err = storedRecords(msgs, last)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || duplicate {
		for id := range expected {
			c.dropLocked(id)
		}
		return
	}
	written := map[domain.StreamID][]domain.Recorded{}
	for _, r := range stored {
		id := domain.StreamOf(r.Data)
		written[id] = append(written[id], r)
	}
	until := c.now().Add(cacheMaxAge)
	for id, events := range written {
		*c.changed(id)++
		want := expected[id]
		var before []domain.Recorded
		if e, ok := c.lru.Peek(id); ok && e.pos == want {
			before = e.events
		} else if ok || want != (domain.Position{}) {
			c.lru.Remove(id)
			continue
		}
		events = append(slices.Clip(before), events...)
		if len(events) > maxCachedEvents {
			c.lru.Remove(id)
			continue
		}
		r := events[len(events)-1]
		c.lru.Add(id, &cachedAggregate{events: events, pos: domain.Position{Seq: r.Sequence, SHA256: r.SHA256}, until: until})
	}
}

// storedRecords are msgs as stored, one after the other up to last.
func storedRecords(msgs []*nats.Msg, last uint64) ([]domain.Recorded, error) {
	if last < uint64(len(msgs)) {
		return nil, errors.New("appended: sequence before its messages")
	}
	out := make([]domain.Recorded, len(msgs))
	for i, m := range msgs {
		e, err := domain.UnmarshalCloudEvent(m.Data)
		if err != nil {
			return nil, err
		}
		out[i] = domain.Recorded{Event: e, Sequence: last - uint64(len(msgs)-1-i), Subject: m.Subject, SHA256: domain.SHA256(string(m.Data))}
	}
	return out, nil
}

// Fresh reports whether every aggregate still stands at the position a
// Load gave, asking the server (one multi_last request, which reads the
// index and each subject's last message); the cached ones that moved are
// dropped, so that the next Load reads them afresh.
func (s *Store) Fresh(ctx context.Context, loaded map[domain.StreamID]domain.Position) (bool, error) {
	if len(loaded) == 0 {
		return true, nil
	}
	filters := make([]string, 0, len(loaded))
	for id := range loaded {
		filters = append(filters, Filter(id))
	}
	last, err := s.lastSequences(ctx, filters)
	if err != nil {
		return false, err
	}
	var moved []domain.StreamID
	for id, pos := range loaded {
		if last[Filter(id)] != pos.Seq {
			moved = append(moved, id)
		}
	}
	if len(moved) > 0 {
		s.cache.drop(moved...)
	}
	return len(moved) == 0, nil
}
