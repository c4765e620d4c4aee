package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/consumer"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
)

// DefaultSchedule is when a failed delivery is tried again, after each
// failure: Standard Webhooks' (Svix's) schedule, 27 h 35 min in all, each
// wait varied by up to a fifth at random. After the last the delivery is
// given up (failed, kept among the attempts, and may be replayed).
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Defaults of the dispatcher's settings.
const (
	DefaultTimeout      = 15 * time.Second
	DefaultDisableAfter = 5 * 24 * time.Hour
	DefaultOverlap      = 24 * time.Hour
)

// Stores are what the dispatcher and the API share in JetStream.
type Stores struct {
	Secrets  *Secrets
	outbox   *outbox
	attempts *attempts
}

// OpenStores makes sure of the secrets bucket, the outbox and the
// deliveries bucket, with the stream's replicas, and binds to them.
func OpenStores(ctx context.Context, js jetstream.JetStream, replicas int, current *keystore.KEK, previous ...*keystore.KEK) (*Stores, error) {
	secrets, err := OpenSecrets(ctx, js, replicas, current, previous...)
	if err != nil {
		return nil, err
	}
	out, err := openOutbox(ctx, js, replicas)
	if err != nil {
		return nil, err
	}
	att, err := openAttempts(ctx, js, replicas)
	if err != nil {
		return nil, err
	}
	if err := placeDurable(ctx, js); err != nil {
		return nil, err
	}
	return &Stores{Secrets: secrets, outbox: out, attempts: att}, nil
}

// placeDurable creates the dispatcher's consumer, if there is none, at the
// end of the stream: before the service takes a request, so that no
// endpoint can be created before the place the fan-out starts from,
// whenever the dispatcher starts. The runner keeps its position and
// settles its other settings (see resume).
func placeDurable(ctx context.Context, js jetstream.JetStream) error {
	stream, err := js.Stream(ctx, eventstore.StreamName)
	if err != nil {
		return unavailable(err)
	}
	if _, err := stream.Consumer(ctx, eventstore.WebhookDurable); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return ignoreLost(err)
	}
	_, err = stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: eventstore.WebhookDurable, Description: "invitesvc: webhooks",
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: stream.CachedInfo().State.LastSeq + 1, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
		return unavailable(fmt.Errorf("place the webhooks consumer: %w", err))
	}
	return nil
}

// EventLog reads an aggregate from the stream, verified: the endpoint a
// delivery is for, as it stands now. eventstore.History is one.
type EventLog interface {
	Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error)
}

// Disabler records that an endpoint is disabled:
// *commands.DisableWebhookHandler.
type Disabler interface {
	Handle(ctx context.Context, cmd commands.DisableWebhook) (domain.Webhook, error)
}

// Config is the dispatcher.
type Config struct {
	JetStream jetstream.JetStream
	Stores    *Stores
	Events    EventLog
	Keyring   *signing.Keyring
	Disabler  Disabler
	Sender    SenderConfig
	// Schedule is the waits before each retry (DefaultSchedule when nil);
	// DisableAfter how long an endpoint may fail, every delivery, before
	// it is disabled (DefaultDisableAfter when 0).
	Schedule     []time.Duration
	DisableAfter time.Duration
	// LeaseTTL is how long the lease lasts unrenewed: a replica that dies
	// holding it is succeeded after at most that (15 s when 0).
	LeaseTTL time.Duration
	Metrics  *Metrics
	Logger   *slog.Logger
}

// Dispatcher delivers while it holds the lease; every replica runs one.
type Dispatcher struct {
	cfg    Config
	sender *sender
	holder string

	modelMu sync.Mutex // the fan-out's model
	model   *model

	mu      sync.Mutex
	running *term // the leader's term, nil while another replica leads
	stop    context.CancelFunc
	done    chan struct{}
}

// term is one stretch of holding the lease: the stream consumer feeding
// the outbox and the workers sending what it holds.
type term struct {
	ctx     context.Context
	cancel  context.CancelFunc
	runner  *consumer.Runner
	workers map[string]*worker
	wg      sync.WaitGroup
}

// worker sends one endpoint's deliveries; kicked says more were queued
// since it last found its queue empty.
type worker struct {
	kicked bool
	oldest pending // its queue's head, for the metrics
}

// Start runs the dispatcher until Close.
func Start(cfg Config) (*Dispatcher, error) {
	if cfg.JetStream == nil || cfg.Stores == nil || cfg.Events == nil || cfg.Keyring == nil || cfg.Disabler == nil || cfg.Metrics == nil || cfg.Logger == nil {
		return nil, errors.New("webhooks.Start: missing configuration")
	}
	if cfg.Schedule == nil {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.DisableAfter == 0 {
		cfg.DisableAfter = DefaultDisableAfter
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.Sender.Timeout == 0 {
		cfg.Sender.Timeout = DefaultTimeout
	}
	d := &Dispatcher{cfg: cfg, sender: newSender(cfg.Sender), holder: uuid.NewString(), model: newModel(cfg.JetStream, cfg.Keyring), done: make(chan struct{})}
	ctx, stop := context.WithCancel(context.Background())
	d.stop = stop
	cfg.Metrics.watch(d)
	go d.lead(ctx)
	return d, nil
}

// Close stops delivering (a request in flight is abandoned, to be sent
// again by the next leader) and gives the lease up.
func (d *Dispatcher) Close() {
	d.stop()
	<-d.done
	d.cfg.Metrics.watch(nil)
}

// lead holds the lease, renewing it a third of its time before it ends,
// and runs a term while it does.
func (d *Dispatcher) lead(ctx context.Context) {
	defer close(d.done)
	var heldUntil time.Time
	tick := time.NewTicker(d.cfg.LeaseTTL / 3)
	defer tick.Stop()
	for {
		now := time.Now()
		held, err := d.cfg.Stores.attempts.hold(ctx, d.holder, now, now.Add(d.cfg.LeaseTTL))
		switch {
		case err != nil && ctx.Err() == nil:
			d.cfg.Logger.Warn("webhooks: cannot renew the dispatcher's lease", "error", err)
			held = now.Before(heldUntil) // keep on until it would end
		case held:
			heldUntil = now.Add(d.cfg.LeaseTTL)
		}
		if held && ctx.Err() == nil {
			d.begin()
		} else {
			d.end()
		}
		select {
		case <-ctx.Done():
			d.end()
			release, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			d.cfg.Stores.attempts.release(release, d.holder)
			cancel()
			return
		case <-tick.C:
		}
	}
}

// begin starts a term, unless one runs.
func (d *Dispatcher) begin() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running != nil {
		return
	}
	t := &term{workers: map[string]*worker{}}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	runner, err := consumer.Start(consumer.Config{
		JetStream: d.cfg.JetStream,
		Name:      "webhooks",
		Durable:   eventstore.WebhookDurable,
		Resume:    d.resume,
		Handle:    func(ctx context.Context, events []domain.Delivered) error { return d.fanOut(ctx, t, events) },
		Logger:    d.cfg.Logger,
	})
	if err != nil {
		d.cfg.Logger.Error("webhooks: cannot start the dispatcher's consumer", "error", err)
		t.cancel()
		return
	}
	t.runner = runner
	d.running = t
	d.cfg.Metrics.leader.Set(1)
	t.wg.Go(func() { d.poll(t) })
	d.cfg.Logger.Info("webhooks: this replica dispatches")
}

// end stops the term, if one runs, once its workers are done.
func (d *Dispatcher) end() {
	d.mu.Lock()
	t := d.running
	d.running = nil
	d.mu.Unlock()
	if t == nil {
		return
	}
	t.cancel()
	if err := t.runner.Close(); err != nil {
		d.cfg.Logger.Warn("webhooks: the dispatcher's consumer did not stop cleanly", "error", err)
	}
	t.wg.Wait()
	d.cfg.Metrics.leader.Set(0)
}

// resume is where the fan-out goes on: after the last event the consumer
// acknowledged (placeDurable made it at the end of the stream the first
// time: endpoints get the events stored after they are created); without
// the consumer (deleted by an operator), at the end of the stream.
func (d *Dispatcher) resume(ctx context.Context) (uint64, error) {
	stream, err := d.cfg.JetStream.Stream(ctx, eventstore.StreamName)
	if err != nil {
		return 0, err
	}
	c, err := stream.Consumer(ctx, eventstore.WebhookDurable)
	if err == nil {
		return c.CachedInfo().AckFloor.Stream + 1, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, err
	}
	return stream.CachedInfo().State.LastSeq + 1, nil
}

// deliveryNamespace makes a fan-out's delivery id from its endpoint and
// event: fed the same event again, the dispatcher queues the same id.
var deliveryNamespace = uuid.MustParse("5b0b1f4e-7a39-4f3e-9d5c-6b0e6e1f3a10")

func deliveryID(webhookID string, seq uint64) string {
	return uuid.NewSHA1(deliveryNamespace, fmt.Appendf(nil, "%s/%d", webhookID, seq)).String()
}

// fanOut queues, for each event of the batch, a delivery to each endpoint
// of its organization that wanted it at that point of the stream.
func (d *Dispatcher) fanOut(ctx context.Context, t *term, events []domain.Delivered) error {
	d.modelMu.Lock()
	defer d.modelMu.Unlock()
	if err := d.model.at(ctx, events[0].Sequence-1); err != nil {
		return err
	}
	var queued []string
	for _, e := range events {
		if err := d.cfg.Keyring.Verify(e.Subject, e.Data, e.KeyID, e.Signature); err != nil {
			d.cfg.Logger.Error("webhooks: an event that does not verify is delivered nowhere", "sequence", e.Sequence, "subject", e.Subject, "error", err)
		} else if e.Err == nil {
			aggregate := domain.StreamOf(e.Event.Data)
			if aggregate.Kind == domain.KindWebhook {
				d.model.apply(e.Event)
			}
			for _, w := range d.model.wanting(aggregate.OrganizationID, e.Type) {
				p := pending{DeliveryID: deliveryID(w.ID, e.Sequence), OrganizationID: w.OrganizationID, WebhookID: w.ID,
					EventSequence: e.Sequence, EventID: e.ID, EventType: e.Type, EnqueuedAt: time.Now().UTC()}
				if err := d.cfg.Stores.outbox.enqueue(ctx, p); err != nil {
					return err
				}
				queued = append(queued, w.ID)
			}
		}
		d.model.pos = e.Sequence
	}
	for _, id := range queued {
		d.kick(t, id)
	}
	return nil
}

// pollInterval is how often the leader looks at the outbox: for deliveries
// queued by another replica (a replay) or a previous leader.
const pollInterval = time.Second

func (d *Dispatcher) poll(t *term) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		byEndpoint, total, err := d.cfg.Stores.outbox.waiting(t.ctx)
		if err == nil {
			d.cfg.Metrics.pending.Set(float64(total))
			for id := range byEndpoint {
				d.kick(t, id)
			}
		} else if t.ctx.Err() == nil {
			d.cfg.Logger.Warn("webhooks: cannot read the outbox", "error", err)
		}
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// kick has an endpoint's worker look at its queue, starting one if none runs.
func (d *Dispatcher) kick(t *term, webhookID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.ctx.Err() != nil {
		return
	}
	if w, ok := t.workers[webhookID]; ok {
		w.kicked = true
		return
	}
	w := &worker{}
	t.workers[webhookID] = w
	t.wg.Go(func() { d.work(t, webhookID, w) })
}

// idle ends a worker whose queue is empty, unless it was kicked meanwhile.
func (d *Dispatcher) idle(t *term, webhookID string, w *worker) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w.kicked {
		w.kicked = false
		return false
	}
	delete(t.workers, webhookID)
	return true
}

// oldestPending are the heads of the workers' queues, for the metrics.
func (d *Dispatcher) oldestPending() []pending {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running == nil {
		return nil
	}
	var heads []pending
	for _, w := range d.running.workers {
		if w.oldest.DeliveryID != "" {
			heads = append(heads, w.oldest)
		}
	}
	return heads
}

func (d *Dispatcher) noteHead(w *worker, p pending) {
	d.mu.Lock()
	w.oldest = p
	d.mu.Unlock()
}

// jitter varies a wait by up to a fifth either way.
func jitter(wait time.Duration) time.Duration {
	return wait - wait/5 + mathrand.N(2*wait/5+1)
}

// sleep waits for wait, or until ctx ends, and says whether it waited.
func sleep(ctx context.Context, wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
