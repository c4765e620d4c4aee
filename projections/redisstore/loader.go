package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

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

// writesPerCall is how many writes one script call applies: enough to make
// the call's own cost small, few enough to keep Redis answering others.
const writesPerCall = 50

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
	// Loaded each time: a SCRIPT FLUSH meanwhile would fail the pipeline.
	if err := applyManyScript.Load(ctx, l.target.client).Err(); err != nil {
		return fmt.Errorf("redisstore: load the apply script: %w", err)
	}
	pipe := l.target.client.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, args := range calls {
		cmds[i] = applyManyScript.EvalSha(ctx, pipe, []string{l.target.pointerKey()}, l.target.argv(append([]any{len(args) / applyArity}, args...)...)...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: apply a batch: %w", err)
	}
	for i, cmd := range cmds {
		reply, err := cmd.Slice()
		if err != nil || len(reply) != 2 {
			return fmt.Errorf("redisstore: apply a batch: %v, %w", reply, err)
		}
		verdict, _ := reply[1].(string)
		if err := applyVerdict(verdict); err != nil {
			applied, _ := reply[0].(int64)
			return fmt.Errorf("redisstore: generation %s refused event %v: %w", l.target.pinned, calls[i][int(applied)*applyArity], err)
		}
	}
	return nil
}
