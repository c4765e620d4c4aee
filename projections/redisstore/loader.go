package redisstore

import (
	"context"
	"fmt"

	"github.com/invitesvc/invitesvc/projections"
)

// Loader is a projections.Store that fills a generation nothing else writes
// (a rebuild's) at pipeline speed. A copy of the read models in memory
// answers the projector's reads and checks each write as the store would;
// the writes go to Redis through the same Lua function as Apply, many to a
// script call, in pipelines of up to batch writes, one pipeline on its way
// while the next fills. Redis refusing a write means that something else
// wrote to the generation: the loader then fails.
//
// Reads and Checkpoint answer from memory, which is ahead of Redis until
// Flush. After an error the loader must be dropped.
type Loader struct {
	*projections.MemoryStore
	target   *Store
	batch    int
	calls    [][]any // the pending script calls' writes, applyArity arguments each
	pending  int     // writes in calls
	inflight chan error
}

var _ projections.Store = (*Loader)(nil)

// NewLoader returns a loader into target, which must be empty.
func NewLoader(target *Store, batch int) *Loader {
	return &Loader{MemoryStore: projections.NewMemoryStore(), target: target, batch: max(batch, 1)}
}

func (l *Loader) Apply(ctx context.Context, w projections.Write) error {
	if err := l.MemoryStore.Apply(ctx, w); err != nil {
		return err
	}
	args, err := applyArgs(w)
	if err != nil {
		return err
	}
	if n := len(l.calls); n == 0 || len(l.calls[n-1]) == writesPerCall*applyArity {
		l.calls = append(l.calls, make([]any, 0, writesPerCall*applyArity))
	}
	l.calls[len(l.calls)-1] = append(l.calls[len(l.calls)-1], args...)
	if l.pending++; l.pending >= l.batch {
		return l.send(ctx)
	}
	return nil
}

// ApplyBatch applies the writes one by one: the memory copy's own ApplyBatch
// would leave Redis out.
func (l *Loader) ApplyBatch(ctx context.Context, writes []projections.Write) (int, error) {
	for i, w := range writes {
		if err := l.Apply(ctx, w); err != nil {
			return i, err
		}
	}
	return len(writes), nil
}

// Flush sends the pending writes and waits until Redis has applied every
// write so far.
func (l *Loader) Flush(ctx context.Context) error {
	if err := l.send(ctx); err != nil {
		return err
	}
	return l.wait()
}

// send waits for the pipeline on its way, then sends the pending writes.
func (l *Loader) send(ctx context.Context) error {
	if err := l.wait(); err != nil || l.pending == 0 {
		return err
	}
	calls := l.calls
	l.calls, l.pending = nil, 0
	l.inflight = make(chan error, 1)
	go func() { l.inflight <- l.exec(ctx, calls) }()
	return nil
}

func (l *Loader) wait() error {
	if l.inflight == nil {
		return nil
	}
	err := <-l.inflight
	l.inflight = nil
	return err
}

func (l *Loader) exec(ctx context.Context, calls [][]any) error {
	n, err := l.target.applyCalls(ctx, calls)
	if err != nil && n/writesPerCall < len(calls) {
		position := calls[n/writesPerCall][n%writesPerCall*applyArity]
		return fmt.Errorf("redisstore: generation %s refused event %v: %w", l.target.pinned, position, err)
	}
	return err
}
