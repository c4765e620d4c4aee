package service

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// guardInterval is how often the stream's settings and history are checked:
// how long a stream edit that drops events may go unnoticed.
const (
	guardInterval = 2 * time.Second
	guardTimeout  = time.Second
)

// streamGuard watches INVITATIONS for settings that would lose events and
// for events already lost. While either is found, the commands are refused
// (nothing more is written into a stream that loses history) and readiness
// fails; queries go on answering from the read models.
type streamGuard struct {
	js     jetstream.JetStream
	logger *slog.Logger

	mu   sync.Mutex
	last eventstore.StreamCheck
}

// check reads the stream's settings and state once, and reports a change
// of verdict in the log: once, not at every check.
func (g *streamGuard) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, guardTimeout)
	defer cancel()
	stream, err := g.js.Stream(ctx, eventstore.StreamName)
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	c := eventstore.CheckStream(info)
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.String() != g.last.String() {
		if c.OK() {
			g.logger.Info("stream INVITATIONS is as required again: commands are accepted")
		} else {
			g.logger.Error("stream INVITATIONS can lose events: commands are refused until it is mended", "problems", c.String(),
				"remedy", "restore the settings (invitesvc puts them back at start); for missing events restore the stream from `nats stream backup` and run `invitectl verify`")
		}
	}
	g.last = c
	return nil
}

// watch checks every guardInterval until ctx ends.
func (g *streamGuard) watch(ctx context.Context) {
	every(ctx, guardInterval, func() {
		if err := g.check(ctx); err != nil && ctx.Err() == nil {
			g.logger.Debug("stream guard: cannot read the stream", "error", err)
		}
	})
}

// err says why commands are refused, or nil.
func (g *streamGuard) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last.OK() {
		return nil
	}
	return fmt.Errorf("%w: stream %s can lose events: %s", domain.ErrUnavailable, eventstore.StreamName, g.last)
}

// historyLost reports whether events are gone from the stream.
func (g *streamGuard) historyLost() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last.Missing != ""
}

// tripped is 1 while the guard refuses commands, for the metric.
func (g *streamGuard) tripped() float64 {
	if g.err() != nil {
		return 1
	}
	return 0
}

// guardedEvents is the event store as the commands see it: refused while
// the guard is tripped.
type guardedEvents struct {
	commands.EventStore
	guard *streamGuard
}

func (e guardedEvents) Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error) {
	if err := e.guard.err(); err != nil {
		return nil, domain.Position{}, err
	}
	return e.EventStore.Load(ctx, id)
}

func (e guardedEvents) Append(ctx context.Context, events []domain.Event, expected map[domain.StreamID]domain.Position) (uint64, error) {
	if err := e.guard.err(); err != nil {
		return 0, err
	}
	return e.EventStore.Append(ctx, events, expected)
}
