package projections

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Waiter lets a command wait until the read models show its events (read
// your writes). It learns what this process's projector applied through
// Advance; another replica may apply events to a shared store, so it polls
// the store's checkpoint as well while anyone waits: one goroutine for all
// waiters, since a read per waiter every few milliseconds starved the
// projector they wait for.
type Waiter struct {
	store  Store
	logger *slog.Logger

	mu      sync.Mutex
	applied uint64        // highest position known applied
	changed chan struct{} // closed and replaced whenever applied grows
	waiters int           // WaitFor calls waiting
	polling bool          // a goroutine polls the store's checkpoint for them
}

// NewWaiter returns a waiter on store's checkpoint.
func NewWaiter(store Store, logger *slog.Logger) *Waiter {
	return &Waiter{store: store, logger: logger, changed: make(chan struct{})}
}

// waitLimit bounds how long a command waits for its events to show. It
// outlasts a consumer's failover in a cluster (election, then redelivery
// after the consumer's ack wait), and stays under the HTTP server's write
// timeout.
const waitLimit = 20 * time.Second

// checkpointPoll is how often the checkpoint is read while commands wait.
const checkpointPoll = 2 * time.Millisecond

// Advance records that the store holds every event up to seq.
func (w *Waiter) Advance(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq > w.applied {
		w.applied = seq
		close(w.changed)
		w.changed = make(chan struct{})
	}
}

// Reset lowers what this process believes applied, after the store was
// found to have lost events, so that waiting commands wait for the rebuild.
func (w *Waiter) Reset(checkpoint uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applied = checkpoint
}

// Applied is the highest position this process knows the store holds.
func (w *Waiter) Applied() uint64 {
	applied, _ := w.state()
	return applied
}

func (w *Waiter) state() (uint64, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied, w.changed
}

// WaitFor returns once the store has applied seq, or after waitLimit: the
// events are durable, so the command's answer stays true either way.
func (w *Waiter) WaitFor(ctx context.Context, seq uint64) {
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	w.wait(+1)
	defer w.wait(-1)
	for {
		applied, changed := w.state()
		if applied >= seq {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			w.logger.Warn("read models lag behind a command's events", "sequence", seq, "applied", applied)
			return
		}
	}
}

// wait counts a waiter in or out, and starts the poller for the first.
func (w *Waiter) wait(delta int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiters += delta
	if w.waiters > 0 && !w.polling {
		w.polling = true
		go w.pollCheckpoint()
	}
}

// pollCheckpoint reads the store's checkpoint until no one waits.
func (w *Waiter) pollCheckpoint() {
	tick := time.NewTicker(checkpointPoll)
	defer tick.Stop()
	for range tick.C {
		w.mu.Lock()
		if w.waiters == 0 {
			w.polling = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cp, err := w.store.Checkpoint(ctx)
		cancel()
		if err == nil {
			w.Advance(cp)
		}
	}
}
