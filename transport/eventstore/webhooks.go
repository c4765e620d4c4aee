package eventstore

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/invitesvc/invitesvc/domain"
)

// The webhook dispatcher's JetStream assets beside the stream
// (transport/webhooks uses them; the roles need their names, hence here).
const (
	// WebhookSecretsBucket holds the endpoints' signing secrets, wrapped.
	WebhookSecretsBucket = "INVITESVC_WEBHOOK_SECRETS"
	// WebhookDeliveriesBucket holds each endpoint's recent delivery
	// attempts and the dispatcher's lease.
	WebhookDeliveriesBucket = "INVITESVC_WEBHOOK_DELIVERIES"
	// WebhookOutboxStream holds the pending deliveries, one subject per
	// endpoint, WebhookOutboxPrefix and its id.
	WebhookOutboxStream = "INVITESVC_WEBHOOK_OUTBOX"
	WebhookOutboxPrefix = "invitesvc.webhooks.outbox."
	// WebhookDurable is the dispatcher's consumer of the stream.
	WebhookDurable = "invitesvc-webhooks"
)

// webhookPermissions are what the service publishes for the dispatcher:
// the buckets' and the outbox's subjects; their streams' creation, update
// and info; reads (direct gets, and gets from the leader of the secrets'
// bucket, which allows no direct get); deletes of messages (the secure
// erase of a secret, a delivery done) and the outbox's purge (an endpoint
// deleted).
func webhookPermissions() []string {
	secrets, deliveries := "KV_"+WebhookSecretsBucket, "KV_"+WebhookDeliveriesBucket
	allow := []string{"$KV." + WebhookSecretsBucket + ".>", "$KV." + WebhookDeliveriesBucket + ".>", WebhookOutboxPrefix + "*",
		jsAPI + "STREAM.MSG.GET." + secrets, jsAPI + "STREAM.MSG.DELETE." + secrets, jsAPI + "STREAM.MSG.DELETE." + WebhookOutboxStream,
		jsAPI + "STREAM.PURGE." + WebhookOutboxStream}
	for _, s := range []string{secrets, deliveries, WebhookOutboxStream} {
		allow = append(allow, jsAPI+"STREAM.CREATE."+s, jsAPI+"STREAM.UPDATE."+s, jsAPI+"STREAM.INFO."+s)
	}
	for _, s := range []string{deliveries, WebhookOutboxStream} {
		allow = append(allow, jsAPI+"DIRECT.GET."+s, jsAPI+"DIRECT.GET."+s+".>")
	}
	return allow
}

// Lasts reads the last event of each subject matching filter, verified,
// by the server's index (multi_last), in stream order. A filter naming one
// event type of every aggregate of a kind in an organization
// (webhooks.acme.*.created) gives one event per aggregate.
func (h History) Lasts(ctx context.Context, filter string) ([]domain.Recorded, error) {
	var events []domain.Recorded
	req := directGetRequest{MultiLast: []string{filter}, Batch: directBatch}
	for {
		var read uint64
		pending, err := h.s.directGet(ctx, req, func(m *nats.Msg) error {
			rec, err := decodeStored(m, h.s.keys.Keyring)
			if err != nil {
				return err
			}
			events = append(events, rec)
			read = rec.Sequence
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("last events of %s: %w", filter, err)
		}
		if pending == 0 || read == 0 {
			return events, nil
		}
		req.Seq = read + 1
	}
}
