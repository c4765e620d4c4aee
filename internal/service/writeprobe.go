package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// A write probe tells whether the event store's server can write, not only
// answer: every probeInterval it publishes one small message to a stream of
// its own, on the same server and storage as INVITATIONS, which keeps only
// the last message of each replica. A full disk, exhausted storage limits
// or JetStream shut down fail the probe; INVITATIONS is never written.
const (
	probeInterval = 2 * time.Second
	probeTimeout  = time.Second
)

type writeProbe struct {
	js      jetstream.JetStream
	subject string
	logger  *slog.Logger

	mu   sync.Mutex
	last error // of the latest probe; nil when it wrote
}

// startWriteProbe probes once, then every probeInterval until ctx ends.
func startWriteProbe(ctx context.Context, wg *sync.WaitGroup, js jetstream.JetStream, replicas int, logger *slog.Logger) *writeProbe {
	p := &writeProbe{js: js, subject: "invitesvc.probe." + nuid.Next(), logger: logger}
	p.probe(ctx, replicas)
	wg.Go(func() { every(ctx, probeInterval, func() { p.probe(ctx, replicas) }) })
	return p
}

func (p *writeProbe) probe(ctx context.Context, replicas int) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err := p.js.Publish(ctx, p.subject, nil)
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		// The first probe on this server, or the probe stream was removed.
		if _, err = p.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: eventstore.ProbeStream, Description: "invitesvc write probes: one message per replica, nothing else",
			Subjects: []string{eventstore.ProbeSubjects}, Storage: jetstream.FileStorage, Replicas: replicas,
			MaxMsgsPerSubject: 1, MaxAge: time.Hour, Discard: jetstream.DiscardOld,
		}); err == nil {
			_, err = p.js.Publish(ctx, p.subject, nil)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if (err == nil) != (p.last == nil) {
		if err != nil {
			p.logger.Warn("the event store cannot be written", "error", err)
		} else {
			p.logger.Info("the event store can be written again")
		}
	}
	p.last = err
}

// writable reports why the latest probe could not write, or nil.
func (p *writeProbe) writable() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last != nil {
		return fmt.Errorf("cannot be written: %w", p.last)
	}
	return nil
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		fn()
	}
}
