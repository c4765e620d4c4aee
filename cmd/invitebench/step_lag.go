package main

import (
	"container/heap"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
)

// stepLag measures projection lag: from the acknowledgement of a command's
// append to the read model showing it, under a steady open-loop load.
//
// It runs the service's projection pipeline itself (service.StartProjections:
// the stream consumer passing batches of the events that arrived through
// watermill's router to the projector, into the configured read store), on
// a fresh JetStream server with the run's
// settings, so that nothing else consumes or writes meanwhile. A scheduler
// offers --lag-rate commands a second, each a create of one invitation
// (invitation.created and email.reserved) appended with eventstore.Store.Append
// with the expected-sequence guards. Each acknowledged command goes to one
// tracker, which waits with the pipeline's WaitFor for the lowest sequence
// still pending (WaitFor wakes as soon as the projector applies an event) and
// times every command the projector has passed: the lag is the time from the
// append's acknowledgement to that moment. A read model that cannot keep up
// shows as a lag that grows for the whole step; commands still not applied
// 2 minutes after the load stopped are counted, not timed.
//
// The baseline is the same open-loop load of plain publishes on a stream of
// its own, read by an ordered consumer: the lag of JetStream delivery alone.
func (b *bench) stepLag(ctx context.Context) error {
	if b.cfg.remote() {
		b.logf("  skipped: the lag step runs the projection pipeline in-process")
		return nil
	}
	sc, err := b.newScratchJetStream(ctx, "lag", b.cfg.syncAlways)
	if err != nil {
		return err
	}
	defer sc.close()

	var store projections.Store = projections.NewMemoryStore()
	durable := ""
	if b.cfg.store == "redis" {
		if err := b.ensureRedis(); err != nil {
			return err
		}
		store = redisstore.New(b.rdb, b.prefix+"lag:")
		durable = "invitebench-lag" // a shared Redis store gets a durable consumer in the service
	}
	pipeline, err := service.StartProjections(service.ProjectionConfig{JetStream: sc.js, Store: store, Personal: projections.KeepSealed{}, Durable: durable, Keyring: sc.keys.Keyring, Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer pipeline.Close()

	var emails atomic.Int64
	org := "lag-org"
	appendCommand := func(ctx context.Context) (uint64, error) {
		evs := createEvents(org, "lag-"+strconv.FormatInt(emails.Add(1), 10)+"@invitebench.example", time.Now())
		expected := map[domain.StreamID]domain.Position{domain.StreamOf(evs[0].Data): {}, domain.StreamOf(evs[1].Data): {}}
		if b.cfg.lagBatch {
			return sc.es.Append(ctx, evs, expected)
		}
		if _, err := sc.es.Append(ctx, evs[:1], expected); err != nil {
			return 0, err
		}
		return sc.es.Append(ctx, evs[1:], expected)
	}
	tracker := newLagTracker(pipeline.Waiter)
	go tracker.run(ctx)
	appliedBefore := pipeline.Applied()
	loadStart := time.Now()
	load := openLoopRun(ctx, b.cfg.lagRate, b.cfg.duration, func(ctx context.Context, measured bool) (time.Duration, error) {
		t0 := time.Now()
		seq, err := appendCommand(ctx)
		if err != nil {
			return 0, err
		}
		acked := time.Now()
		tracker.add(seq, t0, acked, measured)
		return acked.Sub(t0), nil
	})
	loadTook := time.Since(loadStart)
	applied := pipeline.Applied() - appliedBefore
	unapplied := tracker.finish(2 * time.Minute)

	base, err := b.deliveryLag(ctx, sc)
	if err != nil {
		return err
	}
	mode := "two plain publishes a command (see --lag-batch)"
	if b.cfg.lagBatch {
		mode = "one atomic batch a command, as the service appends"
	}
	note := fmt.Sprintf("offered %d commands/s (%s), appended %.0f/s, %d due while all workers were busy, %d errors%s; "+
		"the projector applied %.0f events/s while the load ran (%d events in %s); %d commands not in the read model 2 min after the load; store %s",
		b.cfg.lagRate, mode, load.achieved(), load.late, load.errs, firstErrText(load.firstErr),
		float64(applied)/loadTook.Seconds(), applied, loadTook.Round(time.Millisecond), unapplied, b.cfg.store)
	lagM := percentileMeasure("ack → read model", distribution(tracker.lags, load.window))
	baseM := percentileMeasure("JetStream delivery alone: ack → ordered consumer", distribution(base.samples, base.window))
	b.add("lag", fmt.Sprintf("projection lag p99 at %d commands/s", b.cfg.lagRate), lagM, &baseM, note, p99Check(lagM, 10*time.Millisecond))
	b.add("lag", fmt.Sprintf("command write to read model at %d commands/s", b.cfg.lagRate), percentileMeasure("append + lag", distribution(tracker.totals, load.window)),
		ptr(percentileMeasure("append alone", distribution(load.samples, load.window))), "")
	return nil
}

// lagTracker times commands from their append's acknowledgement to the
// projector applying them.
type lagTracker struct {
	waiter    *projections.Waiter
	mu        sync.Mutex
	pending   pendingHeap
	added     chan struct{} // a command was added
	finished  chan struct{} // closed when run returns
	closing   chan time.Time
	lags      []time.Duration
	totals    []time.Duration
	unapplied int
}

type pending struct {
	seq         uint64
	sent, acked time.Time
	measured    bool
}

type pendingHeap []pending

func (h pendingHeap) Len() int           { return len(h) }
func (h pendingHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h pendingHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)        { *h = append(*h, x.(pending)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newLagTracker(w *projections.Waiter) *lagTracker {
	return &lagTracker{waiter: w, added: make(chan struct{}, 1), finished: make(chan struct{}), closing: make(chan time.Time, 1)}
}

func (t *lagTracker) add(seq uint64, sent, acked time.Time, measured bool) {
	t.mu.Lock()
	heap.Push(&t.pending, pending{seq: seq, sent: sent, acked: acked, measured: measured})
	t.mu.Unlock()
	select {
	case t.added <- struct{}{}:
	default:
	}
}

// run times commands until finish is called and the pending ones are
// applied or given up on.
func (t *lagTracker) run(ctx context.Context) {
	defer close(t.finished)
	var giveUp time.Time // set once finish is called
	for {
		if giveUp.IsZero() {
			select {
			case giveUp = <-t.closing:
			default:
			}
		}
		t.mu.Lock()
		n := t.pending.Len()
		var lowest uint64
		if n > 0 {
			lowest = t.pending[0].seq
		}
		t.mu.Unlock()
		if n == 0 {
			if !giveUp.IsZero() {
				return
			}
			select {
			case <-t.added:
			case giveUp = <-t.closing:
			case <-ctx.Done():
				return
			}
			continue
		}
		if !giveUp.IsZero() && time.Now().After(giveUp) {
			t.mu.Lock()
			t.unapplied = t.pending.Len()
			t.pending = nil
			t.mu.Unlock()
			return
		}
		// WaitFor returns as soon as the projector applies lowest, or after
		// its own limit; either way, time what has been applied.
		t.waiter.WaitFor(ctx, lowest)
		if ctx.Err() != nil {
			return
		}
		now, applied := time.Now(), t.waiter.Applied()
		t.mu.Lock()
		for t.pending.Len() > 0 && t.pending[0].seq <= applied {
			p := heap.Pop(&t.pending).(pending)
			if p.measured {
				t.lags = append(t.lags, now.Sub(p.acked))
				t.totals = append(t.totals, now.Sub(p.sent))
			}
		}
		t.mu.Unlock()
	}
}

// finish waits until every command added is applied, at most limit, and
// returns how many were not.
func (t *lagTracker) finish(limit time.Duration) int {
	t.closing <- time.Now().Add(limit)
	<-t.finished
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unapplied + t.pending.Len()
}

func ptr[T any](v T) *T { return &v }

func firstErrText(err error) string {
	if err == nil {
		return ""
	}
	return " (the first: " + err.Error() + ")"
}

// percentileMeasure is a latency distribution as a measure whose value is its p99.
func percentileMeasure(name string, r result) measure {
	m := measure{Name: name, Unit: "ms", Ops: r.ops}
	if len(r.lat) > 0 {
		m.P50Ms, m.P99Ms, m.MaxMs = ms(r.percentile(0.50)), ms(r.percentile(0.99)), ms(r.max())
		m.Value = *m.P99Ms
	}
	return m
}

// openLoopResult is what an open-loop load measured.
type openLoopResult[S any] struct {
	samples  []S
	window   time.Duration
	late     int // commands not sent: every worker busy
	errs     int
	firstErr error
}

func (r openLoopResult[S]) achieved() float64 { return float64(len(r.samples)) / r.window.Seconds() }

// openLoopRun offers rate calls a second for the warm-up and d, whatever
// their latency, from a bounded pool of workers; a call due while every
// worker is busy is counted late and not made. Calls due in the warm-up are
// made but not kept; measured tells the call which it is.
func openLoopRun[S any](ctx context.Context, rate int, d time.Duration, call func(ctx context.Context, measured bool) (S, error)) openLoopResult[S] {
	const workers = 512
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	from := start.Add(warmupOf(d))
	until := from.Add(d)
	due := make(chan time.Time, workers)
	var mu sync.Mutex
	var res openLoopResult[S]
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for at := range due {
				s, err := call(ctx, !at.Before(from))
				mu.Lock()
				switch {
				case at.Before(from):
				case err != nil:
					res.errs++
					if res.firstErr == nil {
						res.firstErr = err
					}
				default:
					res.samples = append(res.samples, s)
				}
				mu.Unlock()
			}
		})
	}
	for i := 0; ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(until) {
			break
		}
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		select {
		case due <- at:
		default:
			if !at.Before(from) {
				res.late++
			}
		}
	}
	close(due)
	wg.Wait()
	res.window = d
	return res
}

// deliveryLag is the baseline of the lag: the same open-loop load of
// publishes (two a command) on a stream of the same server, each command's
// last message timed from its acknowledgement to its delivery by an ordered
// consumer.
func (b *bench) deliveryLag(ctx context.Context, sc *scratchJetStream) (openLoopResult[time.Duration], error) {
	const stream = "INVITEBENCH_LAG"
	_, err := sc.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{"invitebench.lag.>"},
		Storage: jetstream.FileStorage, Replicas: 1, MaxMsgs: -1, MaxBytes: -1, Duplicates: 5 * time.Minute})
	if err != nil {
		return openLoopResult[time.Duration]{}, err
	}
	cons, err := sc.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return openLoopResult[time.Duration]{}, err
	}
	var mu sync.Mutex
	delivered := map[uint64]time.Time{}
	waiting := map[uint64]chan time.Time{}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		md, err := m.Metadata()
		if err != nil {
			return
		}
		mu.Lock()
		if ch, ok := waiting[md.Sequence.Stream]; ok {
			ch <- now
			delete(waiting, md.Sequence.Stream)
		} else {
			delivered[md.Sequence.Stream] = now
		}
		mu.Unlock()
	})
	if err != nil {
		return openLoopResult[time.Duration]{}, err
	}
	defer cc.Stop()
	created, reserved := sampleBodies()
	var n atomic.Int64
	res := openLoopRun(ctx, b.cfg.lagRate, b.cfg.duration, func(ctx context.Context, _ bool) (time.Duration, error) {
		subject := "invitebench.lag." + strconv.FormatInt(n.Add(1), 10)
		if _, err := sc.js.Publish(ctx, subject+".created", created); err != nil {
			return 0, err
		}
		ack, err := sc.js.Publish(ctx, subject+".reserved", reserved)
		if err != nil {
			return 0, err
		}
		acked := time.Now()
		mu.Lock()
		at, ok := delivered[ack.Sequence]
		var ch chan time.Time
		if ok {
			delete(delivered, ack.Sequence)
		} else {
			ch = make(chan time.Time, 1)
			waiting[ack.Sequence] = ch
		}
		mu.Unlock()
		if !ok {
			select {
			case at = <-ch:
			case <-time.After(5 * time.Second):
				return 0, fmt.Errorf("message %d not delivered within 5s", ack.Sequence)
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return max(at.Sub(acked), 0), nil
	})
	return res, nil
}
