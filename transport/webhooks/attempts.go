package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// Attempt is one try at a delivery, as the deliveries API lists it.
type Attempt struct {
	DeliveryID     string    `json:"delivery_id"`
	OrganizationID string    `json:"organization_id"`
	WebhookID      string    `json:"webhook_id"`
	EventID        string    `json:"event_id"`
	EventType      string    `json:"event_type"`
	EventSequence  uint64    `json:"event_sequence"`
	Attempt        int       `json:"attempt"` // 1 for the first of this delivery
	AttemptedAt    time.Time `json:"attempted_at"`
	Status         int       `json:"status,omitempty"` // the HTTP status, 0 when none came
	LatencyMS      int64     `json:"latency_ms"`
	Error          string    `json:"error,omitempty"`
	// Outcome is the attempt's (delivered, status, gone, timeout,
	// network, refused); Final says whether it ended the delivery, which
	// is retried at NextAttemptAt otherwise.
	Outcome       string     `json:"outcome"`
	Final         bool       `json:"final"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	// FailingSince is when the endpoint last stopped answering 2xx (zero
	// while it does): the clock of --webhooks-disable-after, kept here so
	// that it survives a restart.
	FailingSince time.Time `json:"failing_since,omitzero"`
}

// attemptsKept is how many of an endpoint's attempts are kept: the
// bucket's history per key.
const attemptsKept = 64

func attemptsKey(webhookID string) string { return "attempts." + webhookID }

// attempts is each endpoint's recent attempts, and the dispatcher's
// lease, in the deliveries bucket.
type attempts struct {
	kv     jetstream.KeyValue
	stream jetstream.Stream
}

func openAttempts(ctx context.Context, js jetstream.JetStream, replicas int) (*attempts, error) {
	cfg := jetstream.KeyValueConfig{
		Bucket:      eventstore.WebhookDeliveriesBucket,
		Description: "Invitations service webhook delivery attempts (the last 64 per endpoint) and the dispatcher's lease",
		History:     attemptsKept,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	}
	// Updated only when it differs, as eventstore.EnsureStreamConfig does.
	kv, err := js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.UpdateKeyValue(ctx, cfg)
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("deliveries bucket: %w", err))
	}
	stream, err := js.Stream(ctx, "KV_"+eventstore.WebhookDeliveriesBucket)
	if err != nil {
		return nil, unavailable(err)
	}
	return &attempts{kv: kv, stream: stream}, nil
}

func (a *attempts) record(ctx context.Context, at Attempt) error {
	v, _ := json.Marshal(at)
	if _, err := a.kv.Put(ctx, attemptsKey(at.WebhookID), v); err != nil {
		return unavailable(err)
	}
	return nil
}

// last is an endpoint's last attempt; ok is false when it has none.
func (a *attempts) last(ctx context.Context, webhookID string) (at Attempt, ok bool, err error) {
	e, err := a.kv.Get(ctx, attemptsKey(webhookID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Attempt{}, false, nil
	}
	if err != nil {
		return Attempt{}, false, unavailable(err)
	}
	return at, true, json.Unmarshal(e.Value(), &at)
}

// list is an endpoint's kept attempts, newest first: the messages of its
// key, read one by one from the oldest kept (at most attemptsKept gets).
func (a *attempts) list(ctx context.Context, webhookID string) ([]Attempt, error) {
	subject := "$KV." + eventstore.WebhookDeliveriesBucket + "." + attemptsKey(webhookID)
	var out []Attempt
	for seq := uint64(1); len(out) <= attemptsKept; {
		m, err := a.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, unavailable(err)
		}
		seq = m.Sequence + 1
		var at Attempt
		if len(m.Data) == 0 || json.Unmarshal(m.Data, &at) != nil {
			continue // a purge marker
		}
		out = append(out, at)
	}
	slices.Reverse(out)
	return out, nil
}

// forget drops an endpoint's attempts.
func (a *attempts) forget(ctx context.Context, webhookID string) error {
	if err := a.kv.Purge(ctx, attemptsKey(webhookID)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return unavailable(err)
	}
	return nil
}

// leaseKey is the dispatcher's lease.
const leaseKey = "lease"

// lease is who dispatches, until when.
type lease struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// hold takes or renews the lease for holder until until, if it is free,
// expired at now, or holder's already; it says whether holder has it.
func (a *attempts) hold(ctx context.Context, holder string, now, until time.Time) (bool, error) {
	v, _ := json.Marshal(lease{Holder: holder, Until: until})
	e, err := a.kv.Get(ctx, leaseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		_, err = a.kv.Create(ctx, leaseKey, v)
		return err == nil, ignoreLost(err)
	}
	if err != nil {
		return false, unavailable(err)
	}
	var l lease
	if json.Unmarshal(e.Value(), &l) == nil && l.Holder != holder && now.Before(l.Until) {
		return false, nil
	}
	_, err = a.kv.Update(ctx, leaseKey, v, e.Revision())
	return err == nil, ignoreLost(err)
}

// release gives the lease up if holder has it.
func (a *attempts) release(ctx context.Context, holder string) {
	e, err := a.kv.Get(ctx, leaseKey)
	var l lease
	if err != nil || json.Unmarshal(e.Value(), &l) != nil || l.Holder != holder {
		return
	}
	v, _ := json.Marshal(lease{Holder: holder})
	_, _ = a.kv.Update(ctx, leaseKey, v, e.Revision())
}

// ignoreLost is nil for a write that lost the race to another replica.
func ignoreLost(err error) error {
	if err == nil || errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return nil
	}
	return unavailable(err)
}
