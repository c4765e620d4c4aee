package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// Handler handles a batch of consecutive events of the stream, in stream
// order. An error has the whole batch delivered again; a handler therefore
// steps over what it already handled. Events this build cannot decode are
// passed on with their Err set: the handler decides.
type Handler func(ctx context.Context, events []domain.Delivered) error

// Config is one stream consumer.
type Config struct {
	JetStream jetstream.JetStream
	// Name names the handler in logs, in watermill and in the consumer's
	// priority group.
	Name string
	// Durable names a consumer shared by every replica, which receive the
	// events one replica at a time; empty makes an ephemeral consumer for
	// this process alone.
	Durable string
	// Resume is the first sequence the handler still needs: where the
	// consumer starts, and starts over after a batch fails for good.
	Resume func(context.Context) (uint64, error)
	// KeepDurable says the durable consumer's acknowledgements are the
	// handler's checkpoint (it keeps none of its own, as the mailer): a
	// consumer that exists is used as it stands, whatever another replica
	// has in flight on it, and Resume only says where a new one starts.
	KeepDurable bool
	Handle      Handler
	// Retryable says whether a failed batch is worth retrying in place
	// before it is fed again from Resume; nil retries every failure.
	Retryable func(error) bool
	// Lost, when set, is asked every second whether the handler's store
	// lost what it had handled (a flushed Redis); if so the handler is fed
	// again from Resume.
	Lost   func(context.Context) bool
	Logger *slog.Logger
}

// Runner is a running stream consumer.
type Runner struct {
	sub    *subscriber
	router *message.Router
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// Retries of a failed batch before it is fed again from the checkpoint.
const (
	maxRetries        = 5
	retryInterval     = 20 * time.Millisecond
	maxRetryInterval  = time.Second
	routerCloseWait   = 10 * time.Second
	lostCheckInterval = time.Second
)

// Start runs the consumer until Close.
func Start(cfg Config) (*Runner, error) {
	if cfg.JetStream == nil || cfg.Name == "" || cfg.Resume == nil || cfg.Handle == nil || cfg.Logger == nil {
		panic("consumer.Start: missing configuration")
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: routerCloseWait}, watermill.NewSlogLogger(cfg.Logger))
	if err != nil {
		return nil, err
	}
	retryable := cfg.Retryable
	if retryable == nil {
		retryable = func(error) bool { return true }
	}
	// Recoverer sits inside Retry, so that a panic is retried as an error.
	// A batch still failing is nacked: the subscriber feeds the handler
	// again from Resume, so no event is ever acknowledged unhandled.
	router.AddMiddleware(
		middleware.Retry{
			MaxRetries:      maxRetries,
			InitialInterval: retryInterval,
			MaxInterval:     maxRetryInterval,
			Multiplier:      2,
			ShouldRetry:     func(params middleware.RetryParams) bool { return retryable(params.Err) },
			Logger:          watermill.NewSlogLogger(cfg.Logger),
		}.Middleware,
		middleware.Recoverer,
	)
	r := &Runner{sub: newSubscriber(cfg), router: router}
	router.AddConsumerHandler(cfg.Name, eventstore.StreamName, r.sub, func(msg *message.Message) error {
		frames, err := decodeFrames(msg.Payload)
		if err != nil {
			return fmt.Errorf("message %s: %w", msg.UUID, err)
		}
		events := make([]domain.Delivered, len(frames))
		for i, f := range frames {
			events[i] = domain.DecodeDelivered(f.sequence, f.subject, f.data)
			events[i].KeyID, events[i].Signature = f.keyID, signing.DecodeSignature(f.signature)
		}
		return cfg.Handle(msg.Context(), events)
	})
	ctx, stop := context.WithCancel(context.Background())
	r.stop = stop
	r.wg.Go(func() {
		if err := router.Run(ctx); err != nil {
			cfg.Logger.Error("stream consumer stopped", "consumer", cfg.Name, "error", err)
		}
	})
	<-router.Running()
	if cfg.Lost != nil {
		r.wg.Go(func() { r.watch(ctx, cfg.Lost) })
	}
	return r, nil
}

// watch feeds the handler again whenever lost says its store lost events
// while none arrived to show it.
func (r *Runner) watch(ctx context.Context, lost func(context.Context) bool) {
	tick := time.NewTicker(lostCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if lost(ctx) {
			r.Refeed()
		}
	}
}

// Refeed has the handler fed again from Resume.
func (r *Runner) Refeed() { r.sub.Refeed() }

// Refeeds counts the times the handler was fed again from Resume.
func (r *Runner) Refeeds() uint64 { return r.sub.refeeds.Load() }

// Redeliveries counts the events delivered more than once.
func (r *Runner) Redeliveries() uint64 { return r.sub.redeliveries.Load() }

// Close stops the consumer after the batch in hand is handled and waits
// for every goroutine it started.
func (r *Runner) Close() error {
	err := r.router.Close()
	r.stop()
	r.wg.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
