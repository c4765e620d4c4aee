package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// replayLimit bounds each replay of the rebuild step.
const replayLimit = 20 * time.Minute

// stepRebuild fills a fresh stream with --rebuild-events events of a busy
// service and replays them: raw through an ordered consumer (the baseline),
// then through the projector into Redis and into memory, and the first
// --rebuild-service-events through the service's own catch-up path.
func (b *bench) stepRebuild(ctx context.Context) error {
	if b.cfg.remote() {
		b.logf("  skipped: the rebuild step fills a JetStream server of its own, in-process")
		return nil
	}
	if err := b.ensureRedis(); err != nil {
		return err
	}
	// Filled without fsync on every write whatever --sync-always says: the
	// fill is not what is measured, and reads do not fsync.
	sc, err := b.newScratchJetStream(ctx, "rebuild", false)
	if err != nil {
		return err
	}
	defer sc.close()
	n := b.cfg.rebuildEvents

	b.logf("  filling a stream with %d events", n)
	fill, err := fillStream(ctx, sc.nc, sc.keys.Signer, n)
	if err != nil {
		return err
	}
	b.add("rebuild", fmt.Sprintf("rebuild: fill %d events (js.PublishAsync)", n), valueMeasure("", fill, "events/s"), nil,
		"the test stream: organizations of 500 invitations, each created with its email slot, every other one accepted with its membership; "+
			"filled on a server without fsync on every write (the fill is not measured; reading does not fsync)")

	raw, err := replay(ctx, sc.js, n, nil, nil)
	if err != nil {
		return fmt.Errorf("raw read: %w", err)
	}
	rawM := valueMeasure("raw ordered consumer read", raw, "events/s")

	b.logf("  replaying into Redis, pipelined")
	pipelinedPrefix := b.prefix + "rebuild-pipelined:"
	target := redisstore.New(b.rdb, pipelinedPrefix)
	loader := redisstore.NewLoader(target, 1000)
	p := projections.NewProjector(loader, projections.KeepSealed{}, quietLogger())
	scripts0, _ := redisScriptMicros(ctx, b.rdb)
	rate, err := replay(ctx, sc.js, n, projectEach(ctx, p), func() error { return loader.Flush(ctx) })
	if err != nil {
		return fmt.Errorf("pipelined replay into Redis: %w", err)
	}
	scripts1, _ := redisScriptMicros(ctx, b.rdb)
	if cp, err := target.Checkpoint(ctx); err != nil || cp != uint64(n) {
		return fmt.Errorf("after the pipelined replay Redis is at %d of %d (%v)", cp, n, err)
	}
	b.add("rebuild", fmt.Sprintf("rebuild %d events into Redis, pipelined", n),
		valueMeasure("ordered consumer → projector → redisstore.Loader", rate, "events/s"), &rawM,
		fmt.Sprintf("what invitectl rebuild does: the projector reads from a copy in memory, the writes go to Redis in pipelines of 1,000 (50 a script call); "+
			"Redis spent %.1f µs of CPU an event running the scripts (INFO commandstats), the rest of the time is this process's", float64(scripts1-scripts0)/float64(n)),
		check{desc: "≥ 50,000 events/s", ok: rate >= 50_000})
	if _, err := deleteKeys(ctx, b.rdb, pipelinedPrefix); err != nil {
		return err
	}

	b.logf("  replaying into Redis, one event at a time")
	redisPrefix := b.prefix + "rebuild:"
	rate, err = replayInto(ctx, sc.js, n, redisstore.New(b.rdb, redisPrefix))
	if err != nil {
		return fmt.Errorf("replay into Redis: %w", err)
	}
	b.add("rebuild", fmt.Sprintf("rebuild %d events into Redis, one at a time", n),
		valueMeasure("ordered consumer → projector → redisstore.Store", rate, "events/s"), &rawM,
		"one Projector.Project per event (a batch of one) into the store the service uses: a checkpoint read, a read of the invitation and one atomic apply script, each a Redis round trip")
	if _, err := deleteKeys(ctx, b.rdb, redisPrefix); err != nil {
		return err
	}

	b.logf("  replaying into memory")
	rate, err = replayInto(ctx, sc.js, n, projections.NewMemoryStore())
	if err != nil {
		return fmt.Errorf("replay into memory: %w", err)
	}
	b.add("rebuild", fmt.Sprintf("rebuild %d events into memory", n), valueMeasure("ordered consumer → projector → memory store", rate, "events/s"), &rawM, "")

	if m := min(b.cfg.rebuildServiceEvents, n); m > 0 {
		for _, kind := range []string{"redis", "memory"} {
			b.logf("  the service's catch-up into %s, %d events", kind, m)
			var store projections.Store = projections.NewMemoryStore()
			durable, prefix := "", b.prefix+"rebuild-svc:"
			if kind == "redis" {
				store, durable = redisstore.New(b.rdb, prefix), "invitebench-rebuild"
			}
			rate, err := catchUp(ctx, sc, store, durable, uint64(m))
			if err != nil {
				return fmt.Errorf("catch-up into %s: %w", kind, err)
			}
			b.add("rebuild", fmt.Sprintf("service catch-up into %s, first %d events", kind, m),
				valueMeasure("durable pull consumer → watermill → projector, in batches", rate, "events/s"), &rawM,
				"what service.Start and a refeed run: the stream consumer passes up to 256 events at once (MaxAckPending 256), the projector applies them in one pipeline of script calls")
			if kind == "redis" {
				if _, err := deleteKeys(ctx, b.rdb, prefix); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// fillStream publishes n events signed by signer asynchronously into an
// empty stream and returns the rate.
func fillStream(ctx context.Context, nc *nats.Conn, signer *signing.Signer, n int) (float64, error) {
	var failed atomic.Int64
	var firstErr atomic.Value
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for subject, data := range historyEvents(n, start) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		for {
			_, err := js.PublishMsgAsync(eventstore.SignedMsg(signer, subject, data))
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				return 0, err
			}
			// The server is behind: wait for the acknowledgements, then retry.
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Second):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		return 0, errors.New("fill: publishes not acknowledged within 5 minutes")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	took := time.Since(start)
	if f := failed.Load(); f > 0 {
		return 0, fmt.Errorf("fill: %d publishes failed, the first: %v", f, firstErr.Load())
	}
	info, err := js.Stream(ctx, eventstore.StreamName)
	if err != nil {
		return 0, err
	}
	if got := info.CachedInfo().State.Msgs; got != uint64(n) {
		return 0, fmt.Errorf("fill: the stream holds %d messages, want %d", got, n)
	}
	return float64(n) / took.Seconds(), nil
}

// replay reads the first n messages of the stream with an ordered consumer,
// handing each to fn (nothing when nil), then calls finish (when not nil),
// and returns the rate.
func replay(ctx context.Context, js jetstream.JetStream, n int, fn func(domain.Delivered) error, finish func() error) (float64, error) {
	cons, err := js.OrderedConsumer(ctx, eventstore.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, err
	}
	done := make(chan struct{})
	var (
		count    int
		once     sync.Once
		firstErr error
	)
	end := func(err error) {
		once.Do(func() {
			firstErr = err
			close(done)
		})
	}
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if count >= n {
			return
		}
		if fn != nil {
			md, err := m.Metadata()
			if err != nil {
				end(err)
				return
			}
			if err := fn(domain.DecodeDelivered(md.Sequence.Stream, m.Subject(), m.Data())); err != nil {
				end(err)
				return
			}
		}
		if count++; count == n {
			end(nil)
		}
	})
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	select {
	case <-done:
	case <-time.After(replayLimit):
		return 0, fmt.Errorf("replay: %d of %d events after %s", count, n, replayLimit)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if firstErr != nil {
		return 0, firstErr
	}
	if finish != nil {
		if err := finish(); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// replayInto replays n events through a projector into store and checks
// that the store's checkpoint reached n.
func replayInto(ctx context.Context, js jetstream.JetStream, n int, store projections.Store) (float64, error) {
	p := projections.NewProjector(store, projections.KeepSealed{}, quietLogger())
	rate, err := replay(ctx, js, n, projectEach(ctx, p), nil)
	if err != nil {
		return 0, err
	}
	if cp, err := store.Checkpoint(ctx); err != nil || cp != uint64(n) {
		return 0, fmt.Errorf("after the replay the store is at %d of %d (%v)", cp, n, err)
	}
	return rate, nil
}

// projectEach projects every event on its own, as a batch of one.
func projectEach(ctx context.Context, p *projections.Projector) func(domain.Delivered) error {
	return func(e domain.Delivered) error {
		_, err := p.Project(ctx, []domain.Delivered{e})
		return err
	}
}

// catchUp runs the service's projection pipeline (service.StartProjections)
// on an empty store until it holds the first m events, and returns the rate.
func catchUp(ctx context.Context, sc *scratchJetStream, store projections.Store, durable string, m uint64) (float64, error) {
	start := time.Now()
	pipeline, err := service.StartProjections(service.ProjectionConfig{JetStream: sc.js, Store: store, Personal: projections.KeepSealed{}, Durable: durable, Keyring: sc.keys.Keyring, Logger: quietLogger()})
	if err != nil {
		return 0, err
	}
	defer pipeline.Close()
	deadline := time.Now().Add(replayLimit)
	for pipeline.Applied() < m {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("catch-up: %d of %d events after %s", pipeline.Applied(), m, replayLimit)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	took := time.Since(start)
	return float64(m) / took.Seconds(), nil
}
