package service

import (
	"context"
	"errors"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"

	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/consumer"
)

// ProjectionConfig is one projection pipeline.
type ProjectionConfig struct {
	JetStream jetstream.JetStream
	Store     projections.Store
	// Durable names the consumer that replicas sharing Store share; empty
	// makes one for this process alone (a store of its own, in memory).
	Durable string
	Logger  *slog.Logger
}

// Projections is a running projection pipeline: the stream consumer feeding
// the projector, which writes to the read store, and the waiter commands
// use to see their writes. This is its one construction site: the service
// and invitebench both start it here.
type Projections struct {
	*projections.Waiter
	runner *consumer.Runner
}

// StartProjections starts feeding cfg.Store from its checkpoint on.
func StartProjections(cfg ProjectionConfig) (*Projections, error) {
	projector := projections.NewProjector(cfg.Store, cfg.Logger)
	waiter := projections.NewWaiter(cfg.Store, cfg.Logger)
	runner, err := consumer.Start(consumer.Config{
		JetStream: cfg.JetStream,
		Name:      "read-models",
		Durable:   cfg.Durable,
		Resume: func(ctx context.Context) (uint64, error) {
			cp, err := cfg.Store.Checkpoint(ctx)
			// What the store holds at the start counts as applied, or a
			// store emptied before the next event arrives goes unnoticed.
			waiter.Advance(cp)
			return cp + 1, err
		},
		Handle: func(ctx context.Context, events []domain.Delivered) error {
			applied, err := projector.Project(ctx, events)
			waiter.Advance(applied)
			return err
		},
		// Retrying in place cannot close a gap: only feeding the store
		// again from its checkpoint mends it.
		Retryable: func(err error) bool { return !errors.Is(err, projections.ErrGap) },
		Lost:      func(ctx context.Context) bool { return storeLostEvents(ctx, cfg.Store, waiter, cfg.Logger) },
		Logger:    cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Projections{Waiter: waiter, runner: runner}, nil
}

// storeLostEvents notices a read store that lost events while no new ones
// arrived (Redis flushed or replaced), and lowers what commands wait on to
// what the store still holds.
func storeLostEvents(ctx context.Context, store projections.Store, waiter *projections.Waiter, logger *slog.Logger) bool {
	// Applied first: an event applied between the two reads then raises
	// the checkpoint, not what it is compared with.
	applied := waiter.Applied()
	cp, err := store.Checkpoint(ctx)
	if err != nil || cp >= applied {
		return false
	}
	logger.Warn("read store lost events: rebuilding it from the stream", "checkpoint", cp, "applied", applied)
	waiter.Reset(cp)
	return true
}

// Refeeds counts the times the read store was fed again from its checkpoint
// (none for a pipeline not started: nil).
func (p *Projections) Refeeds() uint64 {
	if p == nil {
		return 0
	}
	return p.runner.Refeeds()
}

// Redeliveries counts the events delivered to this process more than once.
func (p *Projections) Redeliveries() uint64 {
	if p == nil {
		return 0
	}
	return p.runner.Redeliveries()
}

// Close stops the pipeline after the batch in hand is applied.
func (p *Projections) Close() error { return p.runner.Close() }
