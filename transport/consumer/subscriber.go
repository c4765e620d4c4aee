package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// subscriber feeds the stream to watermill in order, in batches, from a pull
// consumer positioned by the handler's checkpoint. A nacked batch makes it
// start over from that checkpoint, which is how a read store that lost data
// (flushed, replaced) is rebuilt.
type subscriber struct {
	js   jetstream.JetStream
	name string
	// durable names a consumer shared by every replica; empty makes an
	// ephemeral one for this process alone (the memory read store).
	durable string
	// resume is the first sequence the handler still needs.
	resume func(context.Context) (uint64, error)
	// keep uses an existing durable consumer as it stands (KeepDurable).
	keep   bool
	logger *slog.Logger

	refeed       chan struct{}
	refeeds      atomic.Uint64 // times the store was fed again from its checkpoint
	redeliveries atomic.Uint64 // events delivered more than once
	closed       chan struct{}
	once         sync.Once
	wg           sync.WaitGroup
}

func newSubscriber(cfg Config) *subscriber {
	return &subscriber{js: cfg.JetStream, name: cfg.Name, durable: cfg.Durable, resume: cfg.Resume, keep: cfg.KeepDurable, logger: cfg.Logger,
		refeed: make(chan struct{}, 1), closed: make(chan struct{})}
}

// ackWait bounds how long an event delivered to a replica that died stays
// unacknowledged before another replica gets it.
const ackWait = 5 * time.Second

// A pull request can be lost without a word: sent before a new consumer has
// a leader, or parked on a server that went down. The iterator notices only
// when two heartbeats are missed, so they are short (nats.go's defaults,
// 30 s expiry and 15 s heartbeats, stalled the read models for 30 s after
// a stream leader was lost).
const (
	pullExpiry    = 5 * time.Second
	pullHeartbeat = time.Second
)

// Subscribe implements message.Subscriber; the topic is ignored, there is one stream.
func (s *subscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	ctx, cancel := context.WithCancel(ctx)
	s.wg.Go(func() {
		defer close(out)
		defer cancel()
		backoff := 50 * time.Millisecond
		fresh := true
		for {
			err := s.consume(ctx, out, fresh)
			select {
			case <-ctx.Done():
				return
			case <-s.closed:
				return
			default:
			}
			fresh = errors.Is(err, errRefeed)
			if fresh {
				s.refeeds.Add(1)
				backoff = 50 * time.Millisecond
			} else {
				s.logger.Warn("event subscription interrupted", "error", err, "retry_in", backoff)
				backoff = min(2*backoff, 2*time.Second)
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			case <-s.closed:
				return
			}
		}
	})
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return out, nil
}

// Refeed makes the subscription start over from the handler's checkpoint.
func (s *subscriber) Refeed() {
	select {
	case s.refeed <- struct{}{}:
	default:
	}
}

// Close stops the subscription after the batch in hand is acknowledged,
// and hands the pin on: another replica need not wait pinnedTTL.
func (s *subscriber) Close() error {
	s.once.Do(func() { close(s.closed) })
	s.wg.Wait()
	if s.durable == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stream, err := s.js.Stream(ctx, eventstore.StreamName)
	if err == nil {
		err = stream.UnpinConsumer(ctx, s.durable, s.name)
	}
	if err != nil {
		s.logger.Info("stream consumer: could not hand the pin on", "consumer", s.durable, "error", err)
	}
	return nil
}

var errRefeed = errors.New("event nacked: feeding again from the checkpoint")

func (s *subscriber) consume(ctx context.Context, out chan<- *message.Message, fresh bool) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-s.refeed:
			cancel(errRefeed)
		case <-ctx.Done():
		}
	}()
	err := s.deliver(ctx, out, fresh)
	if cause := context.Cause(ctx); errors.Is(cause, errRefeed) {
		return errRefeed
	}
	return err
}

// maxBatch bounds the events in flight to this process and in one batch.
const maxBatch = 256

// Replicas sharing a durable consumer pull in one priority group, named
// after the handler and pinned to one of them at a time: the events reach
// the handler in stream order from one replica, many in flight. A pinned
// replica that stops pulling loses the pin after pinnedTTL (it pulls at
// least every pullExpiry).
const pinnedTTL = 2 * pullExpiry

// deliver passes on the events as batches, one watermill message each: all
// that arrived while the last batch was being applied, in order. A batch is
// acknowledged before the next is passed on.
func (s *subscriber) deliver(ctx context.Context, out chan<- *message.Message, fresh bool) error {
	start, err := s.resume(ctx)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	cons, err := s.consumer(ctx, start, fresh)
	if err != nil {
		return err
	}
	opts := []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(maxBatch),
		jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat)}
	if s.durable != "" {
		opts = append(opts, jetstream.PullPriorityGroup(s.name))
	}
	it, err := cons.Messages(opts...)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	incoming, failed := make(chan jetstream.Msg, maxBatch), make(chan error, 1)
	held := &inFlight{msgs: map[jetstream.Msg]struct{}{}}
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				failed <- err
				return
			}
			held.add(m)
			select {
			case incoming <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		var batch []jetstream.Msg
		select {
		case m := <-incoming:
			batch = append(batch, m)
		case err := <-failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	queued:
		for len(batch) < maxBatch {
			select {
			case m := <-incoming:
				batch = append(batch, m)
			default:
				break queued
			}
		}
		msg, err := s.message(ctx, batch)
		if err != nil {
			return err
		}
		select {
		case out <- msg:
		case <-ctx.Done():
			return ctx.Err()
		}
		err = s.await(ctx, msg, batch, held)
		held.remove(batch)
		if err != nil {
			return err
		}
	}
}

// inFlight are the events this process received and has not acknowledged
// yet: the batch being handled and those waiting for the next.
type inFlight struct {
	mu   sync.Mutex
	msgs map[jetstream.Msg]struct{}
}

func (f *inFlight) add(m jetstream.Msg) {
	f.mu.Lock()
	f.msgs[m] = struct{}{}
	f.mu.Unlock()
}

func (f *inFlight) remove(batch []jetstream.Msg) {
	f.mu.Lock()
	for _, m := range batch {
		delete(f.msgs, m)
	}
	f.mu.Unlock()
}

// inProgress tells JetStream that each is still being worked on.
func (f *inFlight) inProgress() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for m := range f.msgs {
		_ = m.InProgress()
	}
}

// await acknowledges the batch once handled, or has it delivered again.
// While the handler works (a mailer waiting for an SMTP server may take
// minutes), every event held is said to be in progress each half ackWait,
// so that JetStream does not deliver it again meanwhile.
func (s *subscriber) await(ctx context.Context, msg *message.Message, batch []jetstream.Msg, held *inFlight) error {
	tick := time.NewTicker(ackWait / 2)
	defer tick.Stop()
	for {
		select {
		case <-msg.Acked():
			for _, m := range batch {
				if err := m.Ack(); err != nil {
					return err
				}
			}
			return nil
		case <-msg.Nacked():
			for _, m := range batch {
				_ = m.Nak()
			}
			return errRefeed
		case <-tick.C:
			held.inProgress()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// message makes the watermill message of a batch. Its trace continues the
// first event's.
func (s *subscriber) message(ctx context.Context, batch []jetstream.Msg) (*message.Message, error) {
	frames := make([]frame, len(batch))
	for i, m := range batch {
		md, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		if md.NumDelivered > 1 {
			s.redeliveries.Add(1)
		}
		frames[i] = frame{sequence: md.Sequence.Stream, subject: m.Subject(), data: m.Data(),
			keyID: m.Headers().Get(signing.KeyIDHeader), signature: m.Headers().Get(signing.SignatureHeader)}
	}
	msg := message.NewMessage(strconv.FormatUint(frames[0].sequence, 10), encodeFrames(frames))
	msg.SetContext(otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(batch[0].Headers())))
	return msg, nil
}

// consumer returns a consumer that delivers from start on. A durable one is
// shared with the other replicas and kept when it can serve start: when it
// is a fresh start (process start, refeed), only if it is idle exactly at
// start; after an interruption, unless it is past start (the read store
// lost what it had acked). Else it is replaced.
func (s *subscriber) consumer(ctx context.Context, start uint64, fresh bool) (jetstream.Consumer, error) {
	stream, err := s.js.Stream(ctx, eventstore.StreamName)
	if err != nil {
		return nil, err
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       s.durable,
		Description:   "invitesvc: " + s.name,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxBatch,
	}
	if s.durable == "" {
		cfg.InactiveThreshold = time.Minute
		return stream.CreateConsumer(ctx, cfg)
	}
	cfg.PriorityGroups, cfg.PriorityPolicy, cfg.PinnedTTL = []string{s.name}, jetstream.PriorityPolicyPinned, pinnedTTL
	if c, err := stream.Consumer(ctx, s.durable); err == nil {
		info := c.CachedInfo()
		same := info.Config.PriorityPolicy == cfg.PriorityPolicy && slices.Equal(info.Config.PriorityGroups, cfg.PriorityGroups) &&
			info.Config.MaxAckPending == cfg.MaxAckPending
		idleAtStart := info.Delivered.Stream+1 == start && info.NumAckPending == 0
		switch {
		case same && s.keep:
			return c, nil
		case same && fresh && idleAtStart:
			// A replica that died pinned would hold the pin for pinnedTTL.
			if err := stream.UnpinConsumer(ctx, s.durable, s.name); err != nil {
				return nil, err
			}
			return c, nil
		case same && !fresh && info.AckFloor.Stream+1 <= start:
			return c, nil
		}
		s.logger.Info("stream consumer: new consumer", "consumer", s.durable, "from", start, "ack_floor", info.AckFloor.Stream, "delivered", info.Delivered.Stream)
		if err := stream.DeleteConsumer(ctx, s.durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, err
		}
	}
	return stream.CreateConsumer(ctx, cfg)
}
