package webhooks

import (
	"context"
	"errors"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// storeRetry is how long a worker waits after JetStream failed it.
const storeRetry = time.Second

// progress is where a worker stands with its queue's head: the attempts
// made, when the next is due, and since when the endpoint fails.
type progress struct {
	deliveryID   string
	attempts     int
	next         time.Time
	failingSince time.Time
}

// work sends an endpoint's deliveries one at a time, in their order, until
// its queue is empty or the term ends. Each is tried as the schedule says
// until answered 2xx, answered 410 (the endpoint is disabled), or given up;
// the endpoint is disabled once it has failed for DisableAfter.
func (d *Dispatcher) work(t *term, webhookID string, w *worker) {
	ctx := t.ctx
	var from uint64
	var at progress
	restored := false
	for ctx.Err() == nil {
		p, ok, err := d.cfg.Stores.outbox.head(ctx, webhookID, from)
		if err != nil {
			d.failed(ctx, "read the outbox", webhookID, err)
			continue
		}
		if !ok {
			if d.idle(t, webhookID, w) {
				return
			}
			continue
		}
		d.noteHead(w, p)
		if !restored {
			// After a restart, or another replica's term: the attempts
			// recorded say where the head stood.
			if at, err = d.restore(ctx, webhookID); err != nil {
				d.failed(ctx, "read the attempts", webhookID, err)
				continue
			}
			restored = true
		}
		if at.deliveryID != p.DeliveryID {
			at = progress{deliveryID: p.DeliveryID, failingSince: at.failingSince}
		}
		if wait := time.Until(at.next); wait > 0 {
			sleep(ctx, wait)
			continue // the head may have gone meanwhile
		}
		done, err := d.attempt(ctx, p, &at)
		if err != nil {
			d.failed(ctx, "deliver", webhookID, err)
			continue
		}
		if done {
			from = p.seq + 1
		}
	}
}

// failed logs a failure of the stores and waits before the worker goes on.
func (d *Dispatcher) failed(ctx context.Context, what, webhookID string, err error) {
	if ctx.Err() == nil {
		d.cfg.Logger.Warn("webhooks: cannot "+what+"; will retry", "webhook_id", webhookID, "error", err)
		sleep(ctx, storeRetry)
	}
}

// restore reads where an endpoint's deliveries stood from its last attempt.
func (d *Dispatcher) restore(ctx context.Context, webhookID string) (progress, error) {
	last, ok, err := d.cfg.Stores.attempts.last(ctx, webhookID)
	if err != nil || !ok {
		return progress{}, err
	}
	at := progress{failingSince: last.FailingSince}
	if !last.Final {
		at.deliveryID, at.attempts = last.DeliveryID, last.Attempt
		if last.NextAttemptAt != nil {
			at.next = *last.NextAttemptAt
		}
	}
	return at, nil
}

// attempt makes one try at the head p of its queue, records it and says
// whether the delivery is done (left the queue).
func (d *Dispatcher) attempt(ctx context.Context, p pending, at *progress) (bool, error) {
	hook, err := d.endpoint(ctx, p.OrganizationID, p.WebhookID)
	if err != nil {
		return false, err
	}
	if !hook.Live() || !hook.Enabled {
		// Deleted or disabled: what it had pending is dropped.
		return true, d.cfg.Stores.outbox.drop(ctx, p.WebhookID)
	}
	body, err := d.event(ctx, p.EventSequence)
	if errors.Is(err, errUnverified) {
		// Never sent: the service did not write it as it is stored.
		d.cfg.Logger.Error("webhooks: a delivery's event does not verify; it is dropped", "webhook_id", p.WebhookID, "sequence", p.EventSequence, "error", err)
		return true, d.cfg.Stores.outbox.done(ctx, p.seq)
	}
	if err != nil {
		return false, err
	}
	now := time.Now()
	var keys [][]byte
	for _, id := range hook.SigningSecrets(now) {
		k, err := d.cfg.Stores.Secrets.Get(ctx, p.OrganizationID, p.WebhookID, id)
		if err != nil {
			return false, err
		}
		keys = append(keys, k)
	}
	res := d.sender.send(ctx, hook.URL, p.EventID, body, keys, now)
	if ctx.Err() != nil {
		return false, nil // the term ended mid-request: the next one sends it again
	}
	d.cfg.Metrics.attempts.WithLabelValues(res.outcome).Inc()
	at.attempts++
	rec := Attempt{DeliveryID: p.DeliveryID, OrganizationID: p.OrganizationID, WebhookID: p.WebhookID, EventID: p.EventID,
		EventType: p.EventType, EventSequence: p.EventSequence, Attempt: at.attempts, AttemptedAt: now.UTC(),
		Status: res.status, LatencyMS: res.latency.Milliseconds(), Error: res.err, Outcome: res.outcome}
	switch {
	case res.outcome == outcomeDelivered:
		rec.Final, at.failingSince = true, time.Time{}
	case at.failingSince.IsZero():
		at.failingSince = now.UTC()
	}
	if !rec.Final && res.outcome != outcomeGone && at.attempts <= len(d.cfg.Schedule) {
		at.next = now.Add(jitter(d.cfg.Schedule[at.attempts-1])).UTC()
		rec.NextAttemptAt = &at.next
	} else {
		rec.Final = true
	}
	rec.FailingSince = at.failingSince
	if err := d.cfg.Stores.attempts.record(ctx, rec); err != nil {
		d.cfg.Logger.Warn("webhooks: cannot record an attempt", "webhook_id", p.WebhookID, "delivery_id", p.DeliveryID, "error", err)
	}
	if rec.Final {
		if err := d.cfg.Stores.outbox.done(ctx, p.seq); err != nil {
			return false, err
		}
	}
	switch {
	case res.outcome == outcomeGone:
		return rec.Final, d.disable(ctx, hook, domain.DisabledGone, "it answered 410 Gone")
	case !at.failingSince.IsZero() && now.Sub(at.failingSince) >= d.cfg.DisableAfter:
		return rec.Final, d.disable(ctx, hook, domain.DisabledFailing, "no delivery succeeded since "+at.failingSince.Format(time.RFC3339))
	}
	return rec.Final, nil
}

// disable records that the endpoint is disabled and drops what it has
// pending.
func (d *Dispatcher) disable(ctx context.Context, hook domain.Webhook, reason, detail string) error {
	if _, err := d.cfg.Disabler.Handle(ctx, commands.DisableWebhook{OrganizationID: hook.OrganizationID, WebhookID: hook.ID, Reason: reason, Detail: detail}); err != nil {
		return err
	}
	d.cfg.Metrics.disabled.WithLabelValues(reason).Inc()
	d.cfg.Logger.Warn("webhooks: endpoint disabled", "organization_id", hook.OrganizationID, "webhook_id", hook.ID, "reason", reason, "detail", detail)
	return d.cfg.Stores.outbox.drop(ctx, hook.ID)
}

// endpoint is an endpoint as the stream says it stands now.
func (d *Dispatcher) endpoint(ctx context.Context, org, id string) (domain.Webhook, error) {
	return loadWebhook(ctx, d.cfg.Events, org, id)
}

func loadWebhook(ctx context.Context, events EventLog, org, id string) (domain.Webhook, error) {
	recorded, _, err := events.Load(ctx, domain.StreamID{Kind: domain.KindWebhook, OrganizationID: org, Key: id})
	var w domain.Webhook
	for _, r := range recorded {
		w.Apply(r.Event)
	}
	return w, err
}

// errUnverified is a stored event whose signature does not verify.
var errUnverified = errors.New("the event does not verify")

// event is the stored bytes of the event at seq: what is posted, as the
// service signed it.
func (d *Dispatcher) event(ctx context.Context, seq uint64) ([]byte, error) {
	stream, err := d.cfg.JetStream.Stream(ctx, eventstore.StreamName)
	if err != nil {
		return nil, unavailable(err)
	}
	m, err := stream.GetMsg(ctx, seq)
	if err != nil {
		return nil, unavailable(err)
	}
	if err := d.cfg.Keyring.Verify(m.Subject, m.Data, m.Header.Get(signing.KeyIDHeader), signing.DecodeSignature(m.Header.Get(signing.SignatureHeader))); err != nil {
		return nil, errors.Join(errUnverified, err)
	}
	return m.Data, nil
}
