package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/consumer"
)

// ProjectionConfig is one projection pipeline.
type ProjectionConfig struct {
	JetStream jetstream.JetStream
	Store     projections.Store
	// Personal opens the addresses of the events.
	Personal projections.PersonalData
	// Durable names the consumer that replicas sharing Store share; empty
	// makes one for this process alone (a store of its own, in memory).
	Durable string
	// Keyring verifies each event before it is applied.
	Keyring *signing.Keyring
	// AcceptUnverified are the sequences of events that do not verify that
	// an operator decided to step over: they are not applied, but the
	// projection passes them.
	AcceptUnverified []uint64
	Logger           *slog.Logger
}

// Projections is a running projection pipeline: the stream consumer feeding
// the projector, which writes to the read store, and the waiter commands
// use to see their writes. This is its one construction site: the service
// and invitebench both start it here.
type Projections struct {
	*projections.Waiter
	runner *consumer.Runner
	// halted is the first event that did not verify, once one is met.
	halted     atomic.Pointer[unverified]
	unverified atomic.Uint64
	closing    context.Context // ends with Close, to release a halted handler
	close      context.CancelFunc
}

// unverified is an event whose signature does not verify.
type unverified struct {
	sequence uint64
	subject  string
	err      error
}

// errHalted ends a handler halted on an unverified event, once the
// pipeline closes.
var errHalted = errors.New("projection halted on an unverified event")

// StartProjections starts feeding cfg.Store from its checkpoint on.
func StartProjections(cfg ProjectionConfig) (*Projections, error) {
	if cfg.Keyring == nil {
		return nil, errors.New("projections: a keyring is required")
	}
	projector := projections.NewProjector(cfg.Store, cfg.Personal, cfg.Logger)
	waiter := projections.NewWaiter(cfg.Store, cfg.Logger)
	p := &Projections{Waiter: waiter}
	p.closing, p.close = context.WithCancel(context.Background())
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
			verified, bad := verify(cfg.Keyring, cfg.AcceptUnverified, events)
			applied, err := projector.Project(ctx, verified)
			waiter.Advance(applied)
			if err != nil || bad == nil {
				return err
			}
			p.halt(bad, cfg.Logger)
			// Blocking, not failing: a failed batch is fed again at once,
			// and would be refused again, in a loop.
			<-p.closing.Done()
			return errHalted
		},
		// Retrying in place cannot close a gap: only feeding the store
		// again from its checkpoint mends it.
		Retryable: func(err error) bool { return !errors.Is(err, projections.ErrGap) && !errors.Is(err, errHalted) },
		Lost:      func(ctx context.Context) bool { return storeLostEvents(ctx, cfg.Store, waiter, cfg.Logger) },
		Logger:    cfg.Logger,
	})
	if err != nil {
		p.close()
		return nil, err
	}
	p.runner = runner
	return p, nil
}

// verify returns the events up to the first that does not verify, and that
// one. An event the operator accepted is passed on with Err set, so that
// the projector steps over it.
func verify(keyring *signing.Keyring, accepted []uint64, events []domain.Delivered) ([]domain.Delivered, *unverified) {
	for i, e := range events {
		err := keyring.Verify(e.Subject, e.Data, e.KeyID, e.Signature)
		switch {
		case err == nil:
		case slices.Contains(accepted, e.Sequence):
			events[i].Err = fmt.Errorf("accepted unverified by the operator: %w", err)
		default:
			return events[:i], &unverified{sequence: e.Sequence, subject: e.Subject, err: err}
		}
	}
	return events, nil
}

// halt records the event the pipeline stopped at, once.
func (p *Projections) halt(bad *unverified, logger *slog.Logger) {
	if !p.halted.CompareAndSwap(nil, bad) {
		return
	}
	p.unverified.Add(1)
	logger.Error("projection halted: an event does not verify; it is not applied. Restore the stream or accept it with --accept-unverified",
		"sequence", bad.sequence, "subject", bad.subject, "error", bad.err)
}

// Halted names the unverified event the pipeline stopped at, or is nil.
func (p *Projections) Halted() error {
	if p == nil {
		return nil
	}
	bad := p.halted.Load()
	if bad == nil {
		return nil
	}
	return fmt.Errorf("halted at event %d on %s: %w (accept it with --accept-unverified %d)", bad.sequence, bad.subject, bad.err, bad.sequence)
}

// HaltedSequence is the sequence Halted names, 0 when running.
func (p *Projections) HaltedSequence() uint64 {
	if p == nil {
		return 0
	}
	if bad := p.halted.Load(); bad != nil {
		return bad.sequence
	}
	return 0
}

// Unverified counts the events met that do not verify and were not accepted.
func (p *Projections) Unverified() uint64 {
	if p == nil {
		return 0
	}
	return p.unverified.Load()
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
func (p *Projections) Close() error {
	p.close()
	return p.runner.Close()
}
